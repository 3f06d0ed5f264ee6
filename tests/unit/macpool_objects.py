"""VM and VMI bodies, and admission contexts over an in-memory store, shared by the MAC unit tests."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime
from typing import Any

from tests.unit.macpool_fakes import MemoryReservationStore
from vmo_operator.macpool import duplicates, vmshape
from vmo_operator.macpool import grant as grants
from vmo_operator.macpool import mac as macs
from vmo_operator.macpool.allocator import Allocator
from vmo_operator.macpool.fanout import FanOut, in_turn
from vmo_operator.macpool.reservation import Holder, Reservation
from vmo_operator.macpool.settings import MacPoolSettings
from vmo_operator.macpool.vmshape import apply_patch, interfaces_of
from vmo_operator.macpool.webhook import AdmissionRequest, Allowed, Context, mutate

T0 = datetime(2026, 1, 1, tzinfo=UTC)
KEY = grants.derive_key(b"the webhook CA key every replica loads")
VM = "VirtualMachine"
VMI = "VirtualMachineInstance"


def vm(
    name: str = "vm-a",
    *,
    ns: str = "ns1",
    macs_by_iface: dict[str, str | None] | None = None,
    annotations: dict[str, str] | None = None,
    uid: str = "",
) -> dict[str, Any]:
    interfaces = [
        {"name": iface, "masquerade": {}} | ({"macAddress": mac} if mac else {})
        for iface, mac in (macs_by_iface if macs_by_iface is not None else {"default": None}).items()
    ]
    meta: dict[str, Any] = {"name": name, "namespace": ns}
    if not name:  # a generateName create: the API server names it after mutation
        meta["generateName"] = "vm-"
    if annotations:
        meta["annotations"] = dict(annotations)
    if uid:
        meta["uid"] = uid
    return {
        "apiVersion": "kubevirt.io/v1",
        "kind": VM,
        "metadata": meta,
        "spec": {"template": {"spec": {"domain": {"devices": {"interfaces": interfaces}}}}},
    }


def vmi(
    name: str = "vmi-a",
    *,
    ns: str = "ns1",
    owner: str | None = None,
    owner_uid: str = "x",
    controller: bool = True,
    ifaces: dict[str, str | None] | None = None,
    uid: str = "",
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A VMI; `owner` names the VirtualMachine its ownerReference claims (with `owner_uid`)."""
    meta: dict[str, Any] = {"name": name, "namespace": ns}
    if owner:
        meta["ownerReferences"] = [
            {
                "apiVersion": "kubevirt.io/v1",
                "kind": VM,
                "name": owner,
                "uid": owner_uid,
                "controller": controller,
            }
        ]
    if uid:
        meta["uid"] = uid
    if annotations:
        meta["annotations"] = dict(annotations)
    interfaces = [
        {"name": i} | ({"macAddress": m} if m else {}) for i, m in (ifaces or {"default": None}).items()
    ]
    return {
        "apiVersion": "kubevirt.io/v1",
        "kind": VMI,
        "metadata": meta,
        "spec": {"domain": {"devices": {"interfaces": interfaces}}},
    }


def macs_of(obj: dict[str, Any], kind: str = VM) -> dict[str, str]:
    return {str(i["name"]): str(i.get("macAddress", "")) for i in interfaces_of(obj, kind)}


def vms_by_name(*vms: dict[str, Any]) -> vmshape.FindTemplate:
    """A `find_vm` that knows exactly these VMs, as the API server would return them."""
    known = {(v["metadata"]["namespace"], v["metadata"]["name"]): vmshape.VMTemplate.of(v) for v in vms}
    return lambda namespace, name: known.get((namespace, name))


def context(
    store: MemoryReservationStore,
    *,
    keys: tuple[bytes, ...] = (KEY,),
    fan_out: FanOut = in_turn,
    now: datetime = T0,
    find_vm: vmshape.FindTemplate | None = None,
    may_use_duplicates: duplicates.MayUseDuplicates = duplicates.never,
    **settings: Any,
) -> Context:
    counter = itertools.count()
    return Context(
        settings=MacPoolSettings(**settings),
        layout=macs.PoolLayout(macs.DEFAULT_PREFIXES, (0x12, 0x34)),
        allocator=Allocator(store, clock=lambda: now, rng=random.Random(11)),
        new_claim=lambda: f"claim-{next(counter)}",
        grant_keys=keys,
        fan_out=fan_out,
        find_vm=find_vm or vms_by_name(),
        may_use_duplicates=may_use_duplicates,
    )


def holder_of(store: MemoryReservationStore, name: str, ns: str, mac: str) -> None:
    """A committed reservation of `mac` for VM `ns/name` (uid "uid-<name>")."""
    store.put(Reservation(macs.parse(mac), Holder(VM, ns, name, f"uid-{name}", "c"), "nic0", "Committed", T0))


def admit(
    store: MemoryReservationStore,
    obj: dict[str, Any],
    *,
    op: str = "CREATE",
    old: dict[str, Any] | None = None,
    kind: str = VM,
    dry_run: bool = False,
    **settings: Any,
) -> tuple[Allowed, dict[str, Any]]:
    """The mutating webhook's allowance for `obj`, and `obj` with its patch applied."""
    decision = mutate(AdmissionRequest(op, kind, obj, old, dry_run), context(store, **settings))
    assert isinstance(decision, Allowed), decision
    return decision, apply_patch(obj, decision.patch)
