"""Whether VMs can use hardware virtualization: the `KVMAvailable` condition, from the Nodes.

virt-handler's device plugin advertises `devices.kubevirt.io/kvm` in a node's allocatable
resources when the node has /dev/kvm, and a VM's virt-launcher pod requests one unless KubeVirt
emulates (the resource name is the one kubevirt v1.9.0 pkg/monitoring/rules/recordingrules/nodes.go
counts). So a cluster where no schedulable node advertises it cannot start a VM without
`spec.kubevirt.useEmulation`. The KubeVirt component reads the Nodes before each round (a fact
query) and reports the condition; it is informative and never makes the profile Degraded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import InvalidOperation

from vmo_operator.api.models import KubeVirtSpec
from vmo_operator.api.models.cdiimport import quantity
from vmo_operator.components.base import ConditionSpec, FactQuery
from vmo_operator.kube import kinds
from vmo_operator.kube.objects import Manifest

KVM_DEVICE = "devices.kubevirt.io/kvm"
KVM_AVAILABLE = "KVMAvailable"
NODE_QUERY = FactQuery(kinds.NODE)
NAMED = 5  # nodes named in a message; the rest are counted


@dataclass(frozen=True)
class KVMNodes:
    """What the Nodes say about KVM: the schedulable ones that advertise it, and how many there are."""

    with_kvm: tuple[str, ...] = ()
    schedulable: int = 0
    cordoned_with_kvm: int = 0


def _advertised(node: Manifest) -> int:
    value = str(((node.get("status") or {}).get("allocatable") or {}).get(KVM_DEVICE, "0"))
    try:
        # A quantity: the kubelet writes virt-handler's 1000 KVM devices as "1k".
        return int(quantity(value))
    except (InvalidOperation, ValueError):
        return 0  # not a quantity: nothing usable is advertised


def kvm_nodes(nodes: Sequence[Manifest]) -> KVMNodes:
    """Schedulable means not cordoned (`spec.unschedulable`); taints are the VMs' placement's concern."""
    schedulable = [n for n in nodes if not (n.get("spec") or {}).get("unschedulable")]
    cordoned = [n for n in nodes if (n.get("spec") or {}).get("unschedulable")]
    return KVMNodes(
        with_kvm=tuple(sorted(str(n["metadata"]["name"]) for n in schedulable if _advertised(n) > 0)),
        schedulable=len(schedulable),
        cordoned_with_kvm=sum(1 for n in cordoned if _advertised(n) > 0),
    )


def _named(names: Sequence[str]) -> str:
    shown = ", ".join(names[:NAMED])
    return f"{shown} and {len(names) - NAMED} more" if len(names) > NAMED else shown


def kvm_available(kv: KubeVirtSpec, nodes: KVMNodes | None, kubevirt_ready: bool) -> ConditionSpec:
    """True when a schedulable node advertises the KVM device; Unknown until KubeVirt is ready and
    none does (virt-handler advertises it only once it runs); False after that."""
    if nodes is None:
        return ConditionSpec(KVM_AVAILABLE, "Unknown", "NodesNotObserved", "the Nodes could not be read")
    if nodes.with_kvm:
        count = len(nodes.with_kvm)
        return ConditionSpec(
            KVM_AVAILABLE,
            "True",
            "KVMDeviceAllocatable",
            f"{count} of {nodes.schedulable} schedulable nodes advertise allocatable {KVM_DEVICE}: "
            + _named(nodes.with_kvm),
        )
    cordoned = f" ({nodes.cordoned_with_kvm} cordoned nodes do)" if nodes.cordoned_with_kvm else ""
    none = f"no schedulable node advertises allocatable {KVM_DEVICE}{cordoned}"
    if not kubevirt_ready:
        return ConditionSpec(
            KVM_AVAILABLE,
            "Unknown",
            "KubeVirtNotReady",
            f"{none} yet; virt-handler advertises it on nodes with /dev/kvm once KubeVirt is deployed",
        )
    if kv.use_emulation:
        return ConditionSpec(
            KVM_AVAILABLE,
            "False",
            "NoKVMDeviceEmulating",
            f"{none}; VMs run under software emulation (spec.kubevirt.useEmulation), far slower than KVM",
        )
    return ConditionSpec(
        KVM_AVAILABLE,
        "False",
        "NoKVMDevice",
        f"{none}, so VMs cannot start: enable hardware virtualization (or nested virtualization) on the "
        "nodes, or set spec.kubevirt.useEmulation: true to run VMs under software emulation",
    )
