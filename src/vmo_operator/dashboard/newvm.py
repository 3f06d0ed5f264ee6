"""The create-VM form: its fields, their checks, and the one manifest they make (pure).

The preview and the create both call `manifest` on the same submitted fields (the preview page
carries them on as hidden inputs), so what is created is exactly what was shown; the MAC allocator
then fills in each interface's MAC at admission. Every refusal names the field and the reason.
The VM is created with the user's token, so the API server and admission judge it as theirs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
MEMORY = re.compile(r"^[1-9][0-9]{0,5}(Mi|Gi)$")
IMAGE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._/:@-]{0,254}$")
MAX_CPUS = 64
MAX_NETWORKS = 16
SOURCES = ("containerDisk", "pvcClone")
FIELDS = ("name", "namespace", "cpus", "memory", "source", "image", "pvcNamespace", "pvcName", "diskSize")


class FormError(ValueError):
    """One or more fields are wrong; `problems` maps each field to why."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in problems.items()))
        self.problems = dict(problems)


@dataclass(frozen=True)
class VMForm:
    name: str
    namespace: str
    cpus: int
    memory: str
    source: str
    image: str = ""
    pvc_namespace: str = ""
    pvc_name: str = ""
    disk_size: str = ""
    pod_network: bool = True
    networks: tuple[str, ...] = ()

    def hidden_fields(self) -> list[tuple[str, str]]:
        """The form as (name, value) pairs, to carry from the preview to the create unchanged."""
        pairs = [
            ("name", self.name),
            ("namespace", self.namespace),
            ("cpus", str(self.cpus)),
            ("memory", self.memory),
            ("source", self.source),
            ("image", self.image),
            ("pvcNamespace", self.pvc_namespace),
            ("pvcName", self.pvc_name),
            ("diskSize", self.disk_size),
        ]
        if self.pod_network:
            pairs.append(("podNetwork", "on"))
        pairs += [("network", n) for n in self.networks]
        return pairs


def parse(fields: Mapping[str, str], networks: Sequence[str], offered: Sequence[str]) -> VMForm:
    """The form from submitted `fields` and the chosen `networks`; `offered` are the VLAN networks
    the form listed (nothing else may be chosen). Raises FormError naming every bad field."""
    get = {k: str(fields.get(k, "")).strip() for k in FIELDS}
    problems: dict[str, str] = {}
    for key in ("name", "namespace"):
        if not DNS1123_LABEL.match(get[key]):
            problems[key] = "must be a DNS-1123 label: lower-case letters, digits and '-', at most 63"
    cpus = 0
    if not get["cpus"].isdigit() or not 1 <= int(get["cpus"]) <= MAX_CPUS:
        problems["cpus"] = f"must be a whole number from 1 to {MAX_CPUS}"
    else:
        cpus = int(get["cpus"])
    if not MEMORY.match(get["memory"]):
        problems["memory"] = "must be a quantity in Mi or Gi, such as 2Gi"
    if get["source"] not in SOURCES:
        problems["source"] = "choose a container disk or a clone of a PVC"
    elif get["source"] == "containerDisk":
        if not IMAGE.match(get["image"]):
            problems["image"] = "must be an image reference, such as quay.io/containerdisks/fedora:41"
    else:
        for key in ("pvcNamespace", "pvcName"):
            if not DNS1123_LABEL.match(get[key]):
                problems[key] = "must name the PVC to clone (a DNS-1123 label)"
        if not MEMORY.match(get["diskSize"]):
            problems["diskSize"] = "must be a quantity in Mi or Gi, at least the PVC's size"
    chosen = tuple(dict.fromkeys(networks))
    unknown = [n for n in chosen if n not in offered]
    if unknown:
        problems["network"] = f"not a network of the profile: {', '.join(unknown[:3])}"
    elif len(chosen) > MAX_NETWORKS:
        problems["network"] = f"at most {MAX_NETWORKS} networks"
    pod_network = fields.get("podNetwork") == "on"
    if not pod_network and not chosen:
        problems["network"] = "choose the pod network or at least one VLAN network"
    if problems:
        raise FormError(problems)
    return VMForm(
        name=get["name"],
        namespace=get["namespace"],
        cpus=cpus,
        memory=get["memory"],
        source=get["source"],
        image=get["image"] if get["source"] == "containerDisk" else "",
        pvc_namespace=get["pvcNamespace"] if get["source"] == "pvcClone" else "",
        pvc_name=get["pvcName"] if get["source"] == "pvcClone" else "",
        disk_size=get["diskSize"] if get["source"] == "pvcClone" else "",
        pod_network=pod_network,
        networks=chosen,
    )


def manifest(form: VMForm) -> dict[str, Any]:
    """The VirtualMachine the form describes: halted at first, no MACs (the allocator sets them)."""
    interfaces: list[dict[str, Any]] = []
    nets: list[dict[str, Any]] = []
    if form.pod_network:
        interfaces.append({"name": "default", "masquerade": {}})
        nets.append({"name": "default", "pod": {}})
    for network in form.networks:
        interfaces.append({"name": network, "bridge": {}})
        nets.append({"name": network, "multus": {"networkName": network}})
    spec: dict[str, Any] = {"runStrategy": "Halted"}
    if form.source == "containerDisk":
        volume: dict[str, Any] = {"name": "boot", "containerDisk": {"image": form.image}}
    else:
        dv_name = f"{form.name}-boot"[:63]
        volume = {"name": "boot", "dataVolume": {"name": dv_name}}
        spec["dataVolumeTemplates"] = [
            {
                "metadata": {"name": dv_name},
                "spec": {
                    "source": {"pvc": {"namespace": form.pvc_namespace, "name": form.pvc_name}},
                    "storage": {"resources": {"requests": {"storage": form.disk_size}}},
                },
            }
        ]
    spec["template"] = {
        "metadata": {"labels": {"kubevirt.io/vm": form.name}},
        "spec": {
            "domain": {
                "cpu": {"cores": form.cpus},
                "memory": {"guest": form.memory},
                "devices": {"disks": [{"name": "boot", "disk": {"bus": "virtio"}}], "interfaces": interfaces},
            },
            "networks": nets,
            "volumes": [volume],
        },
    }
    return {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachine",
        "metadata": {"name": form.name, "namespace": form.namespace},
        "spec": spec,
    }


def profile_networks(profile: Mapping[str, Any] | None, namespace: str = "") -> list[str]:
    """The profile's VLAN networks (spec.multus.networks), those whose NetworkAttachmentDefinition
    is in `namespace` when given (a VM can attach only to a network of its own namespace). None
    while Multus is off: its networks are then not installed, whatever the list says."""
    multus = ((profile or {}).get("spec") or {}).get("multus") or {}
    if multus.get("enabled") is False:
        return []
    found = []
    for network in multus.get("networks") or []:
        spaces = network.get("namespaces") or ["default"]  # the API's default
        if not namespace or namespace in spaces:
            found.append(str(network.get("name", "")))
    return [n for n in found if n]
