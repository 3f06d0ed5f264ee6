"""Where VirtualMachines and bare VMIs keep their interfaces, and the JSON patches written into them.

The webhook reads interface lists from two shapes (a VM's template, a VMI's own spec) and answers
with RFC 6902 operations; both are facts about KubeVirt's objects, not admission rules, so they
live here and the webhook, the bookkeeping and the audit share them.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, MutableMapping, Sequence
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


def owned_by_vm(obj: Mapping[str, Any]) -> bool:
    """A VMI started from a VM: its MACs come from the VM's template, which we already handled."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("kind") == VM_KIND and str(ref.get("apiVersion", "")).startswith("kubevirt.io/"):
            return True
    return False


def raw_mac(iface: Mapping[str, Any]) -> str | None:
    value = iface.get("macAddress")
    return str(value) if value else None


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
