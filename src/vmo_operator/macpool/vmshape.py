"""Where VirtualMachines and bare VMIs keep their interfaces, and the JSON patches written into them.

The webhook reads interface lists from two shapes (a VM's template, a VMI's own spec) and answers
with RFC 6902 operations; both are facts about KubeVirt's objects, not admission rules, so they
live here and the webhook, the bookkeeping and the audit share them.

Which VMIs a VM started is also decided here. Such a VMI holds no MACs of its own (its VM holds
them), so it is left out of admission and bookkeeping. An ownerReference is only a claim anybody
who may create a VMI can write, so a VMI counts as its VM's only when the VM it names exists in
its namespace with that UID, and every MAC the VMI carries is the one that VM's template gives the
interface (`VMTemplate`, `started_by_its_vm`). Anything else is a bare VMI.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

from vmo_operator.macpool import mac as macs
from vmo_operator.macpool.reservation import VM_KIND, VMI_KIND

PatchOp = dict[str, Any]

INTERFACES_PATH: Mapping[str, tuple[str, ...]] = {
    VM_KIND: ("spec", "template", "spec", "domain", "devices", "interfaces"),
    VMI_KIND: ("spec", "domain", "devices", "interfaces"),
}


def interface_items(obj: Mapping[str, Any] | None, kind: str) -> list[Any]:
    node: Any = obj or {}
    for key in INTERFACES_PATH[kind]:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node if isinstance(node, list) else []


def interfaces_of(obj: Mapping[str, Any] | None, kind: str) -> list[Mapping[str, Any]]:
    return [item for item in interface_items(obj, kind) if isinstance(item, Mapping)]


def raw_mac(iface: Mapping[str, Any]) -> str | None:
    value = iface.get("macAddress")
    return str(value) if value else None


def _comparable_mac(raw: str) -> str:
    """A MAC as the template and the VMI are compared: canonical when valid, else as written."""
    checked = macs.check(raw)
    return str(checked) if isinstance(checked, macs.Mac) else raw


@dataclass(frozen=True)
class ControllerRef:
    """The VirtualMachine a VMI's controller ownerReference names (a claim until checked)."""

    name: str
    uid: str


def controller_vm(vmi: Mapping[str, Any]) -> ControllerRef | None:
    """The VM the VMI says controls it: the controller ownerReference of kind VirtualMachine."""
    for ref in (vmi.get("metadata") or {}).get("ownerReferences") or []:
        if not isinstance(ref, Mapping) or ref.get("controller") is not True:
            continue
        if ref.get("kind") == VM_KIND and str(ref.get("apiVersion", "")).startswith("kubevirt.io/"):
            return ControllerRef(str(ref.get("name", "")), str(ref.get("uid", "")))
    return None


@dataclass(frozen=True)
class VMTemplate:
    """What a VMI is checked against: its VM's UID and the MAC per interface of the VM's template."""

    uid: str
    macs: Mapping[str, str]

    @classmethod
    def of(cls, vm: Mapping[str, Any]) -> VMTemplate:
        found = {
            str(iface.get("name", "")): _comparable_mac(raw)
            for iface in interfaces_of(vm, VM_KIND)
            if (raw := raw_mac(iface)) is not None
        }
        return cls(str((vm.get("metadata") or {}).get("uid", "")), found)


FindTemplate = Callable[[str, str], VMTemplate | None]  # (namespace, VM name) -> the VM, if it exists


def started_from(vmi: Mapping[str, Any], ref: ControllerRef, template: VMTemplate | None) -> bool:
    """Whether the VM `ref` names (`template`, None when absent) is really the one that started `vmi`.

    Only the MACs the VMI carries are compared: a NIC hot-plugged into the template reaches the
    running VMI later, and an interface without a MAC takes nobody's. A MAC the template does not
    give that interface is not the VM's to lend, so the VMI is then judged on its own.
    """
    if template is None or not ref.uid or template.uid != ref.uid:
        return False
    for iface in interfaces_of(vmi, VMI_KIND):
        raw = raw_mac(iface)
        if raw is not None and template.macs.get(str(iface.get("name", ""))) != _comparable_mac(raw):
            return False
    return True


def started_by_its_vm(vmi: Mapping[str, Any], find_template: FindTemplate) -> bool:
    """Whether a VMI is its controlling VM's (so the VM holds its MACs); False for any bare VMI."""
    ref = controller_vm(vmi)
    if ref is None or not ref.name:
        return False
    namespace = str((vmi.get("metadata") or {}).get("namespace", ""))
    return started_from(vmi, ref, find_template(namespace, ref.name))


def old_macs(old: Mapping[str, Any] | None, kind: str) -> dict[str, macs.Mac]:
    found: dict[str, macs.Mac] = {}
    for iface in interfaces_of(old, kind):
        raw = raw_mac(iface)
        parsed = macs.check(raw) if raw else None
        if isinstance(parsed, macs.Mac):
            found[str(iface.get("name", ""))] = parsed
    return found


def escape(key: str) -> str:
    """JSON-pointer escaping for a map key (RFC 6901)."""
    return key.replace("~", "~0").replace("/", "~1")


def apply_patch(obj: Mapping[str, Any], patch: Sequence[PatchOp]) -> dict[str, Any]:
    """Our own 'add' operations applied to a deep copy of `obj`."""
    result = copy.deepcopy(dict(obj))
    apply_patch_in_place(result, patch)
    return result


def apply_patch_in_place(doc: MutableMapping[str, Any], patch: Sequence[PatchOp]) -> None:
    """Apply the 'add' and 'remove' operations `mutate()` produces (RFC 6902 semantics)."""
    for op in patch:
        if op["op"] not in ("add", "remove"):
            raise ValueError(f"unsupported op {op['op']!r}")
        keys = [part.replace("~1", "/").replace("~0", "~") for part in op["path"].split("/")[1:]]
        node: Any = doc
        for key in keys[:-1]:
            node = node[int(key)] if isinstance(node, list) else node[key]
        last = keys[-1]
        if op["op"] == "remove":
            del node[int(last) if isinstance(node, list) else last]
        elif isinstance(node, list):
            node.insert(int(last), copy.deepcopy(op["value"]))
        else:
            node[last] = copy.deepcopy(op["value"])
