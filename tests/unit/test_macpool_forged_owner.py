"""A VMI is its VM's only when that VM exists with the named UID and gave it its MACs.

An ownerReference is a claim any VMI creator can write. One that names no real VM, the wrong UID,
or a VM whose template does not carry the VMI's MACs earns nothing: the VMI is admitted, reserved
and audited like a bare VMI.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from tests.unit.macpool_fakes import MemoryReservationStore
from tests.unit.macpool_objects import T0, VM, VMI, context, holder_of, macs_of, vm, vmi, vms_by_name
from vmo_operator.macpool import mac as macs
from vmo_operator.macpool import vmshape
from vmo_operator.macpool.audit import run_audit
from vmo_operator.macpool.webhook import AdmissionRequest, Allowed, Denied, mutate, validate

MAC = "02:aa:00:00:00:07"
OWNER = vm("owner", uid="uid-owner", macs_by_iface={"nic": MAC, "hot": "02:aa:00:00:00:08"})


def real_vmi(**changes: Any) -> dict[str, Any]:
    """What virt-controller would create for OWNER, with `changes` to vmi()'s arguments."""
    arguments: dict[str, Any] = {"owner": "owner", "owner_uid": "uid-owner", "ifaces": {"nic": MAC}}
    return vmi("owner", **(arguments | changes))


# ---- the rule -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "started"),
    [
        (real_vmi(), True),  # OWNER's template also has "hot": a hot-plugged NIC not there yet
        (real_vmi(ifaces={"nic": "02-AA-00-00-00-07"}), True),  # the same MAC, spelt differently
        (real_vmi(ifaces={"nic": MAC, "hot": None}), True),  # an interface without a MAC takes none
        (real_vmi(ifaces={"default": None}), True),  # KubeVirt's default interface, without a MAC
        (real_vmi(ifaces={"other": MAC}), False),  # an interface the template lacks, with a MAC
        (real_vmi(ifaces={"nic": "02:aa:00:00:00:08"}), False),  # the VM's MAC of another interface
        (real_vmi(ifaces={"nic": "02:bb:00:00:00:01"}), False),  # a MAC the VM does not have
        (real_vmi(owner_uid="uid-forged"), False),
        (real_vmi(owner_uid=""), False),
        (real_vmi(owner="ghost-vm"), False),  # no such VM
        (real_vmi(ns="other-ns"), False),  # a VM of that name, but in another namespace
        (real_vmi(controller=False), False),  # an owner, but not the controller
        (vmi("bare", ifaces={"nic": MAC}), False),
    ],
)
def test_only_a_vmi_its_vm_really_started_counts_as_the_vms(body: Mapping[str, Any], started: bool) -> None:
    assert vmshape.started_by_its_vm(body, vms_by_name(OWNER)) is started


# ---- admission ------------------------------------------------------------------------------


def admit_vmi(store: MemoryReservationStore, body: dict[str, Any]) -> Allowed | Denied:
    ctx = context(store, find_vm=vms_by_name(OWNER))
    decision = mutate(AdmissionRequest("CREATE", VMI, body), ctx)
    if isinstance(decision, Allowed):
        return validate(AdmissionRequest("CREATE", VMI, vmshape.apply_patch(body, decision.patch)), ctx)
    return decision


def test_a_ghost_vmi_with_another_tenants_mac_is_denied() -> None:
    store = MemoryReservationStore()
    holder_of(store, "victim", "tenant-a", "02:cc:00:00:00:01")
    ghost = vmi("ghost", owner="victim", owner_uid="guessed", ifaces={"nic": "02:cc:00:00:00:01"})
    decision = admit_vmi(store, ghost)
    assert isinstance(decision, Denied)
    assert "in use elsewhere in the cluster" in decision.message
    assert store.stored(macs.parse("02:cc:00:00:00:01")).holder.name == "victim"


def test_a_vmi_naming_a_real_vm_but_carrying_a_mac_it_does_not_have_is_checked() -> None:
    store = MemoryReservationStore()
    holder_of(store, "neighbour", "ns1", "02:cc:00:00:00:02")
    decision = admit_vmi(store, real_vmi(ifaces={"nic": "02:cc:00:00:00:02"}))
    assert isinstance(decision, Denied)
    assert 'VirtualMachine "neighbour" in this namespace' in decision.message


def test_a_ghost_vmi_without_macs_gets_them_reserved_like_a_bare_vmi() -> None:
    store = MemoryReservationStore()
    ghost = vmi("ghost", owner="owner", owner_uid="forged", ifaces={"nic": None})
    decision = mutate(AdmissionRequest("CREATE", VMI, ghost), context(store, find_vm=vms_by_name(OWNER)))
    assert isinstance(decision, Allowed)
    assigned = macs_of(vmshape.apply_patch(ghost, decision.patch), VMI)["nic"]
    reservation = store.stored(macs.parse(assigned))
    assert (reservation.holder.kind, reservation.holder.name) == (VMI, "ghost")


def test_the_vmi_its_vm_started_is_left_to_the_vm_whatever_the_vms_reservations() -> None:
    store = MemoryReservationStore()
    holder_of(store, "owner", "ns1", MAC)  # the VM holds the MAC; its VMI is not a second holder
    assert admit_vmi(store, real_vmi()) == Allowed()
    assert store.writes() == 0


# ---- the audit ------------------------------------------------------------------------------


class Objects:
    def __init__(self, vms: list[dict[str, Any]], vmis: list[dict[str, Any]]) -> None:
        self.by_kind = {VM: vms, VMI: vmis}

    def list_objects(self, kind: str) -> list[dict[str, Any]]:
        return list(self.by_kind[kind])


def test_the_audit_counts_a_ghost_vmi_as_a_carrier_but_not_the_vmi_a_vm_started() -> None:
    store = MemoryReservationStore()
    owner = vm("owner", uid="uid-owner", macs_by_iface={"nic": MAC})
    ghost = vmi("ghost", owner="owner", owner_uid="forged", ifaces={"nic": MAC}, uid="uid-ghost")
    started = real_vmi(uid="uid-started")
    layout = macs.PoolLayout(macs.DEFAULT_PREFIXES, (0x12, 0x34))
    report = run_audit(
        store, Objects([owner], [started, ghost]), layout=layout, grace_seconds=300, clock=lambda: T0
    )
    assert report.objects == 3
    [collision] = report.collisions
    assert {(c.holder.kind, c.holder.name) for c in collision.carriers} == {(VM, "owner"), (VMI, "ghost")}
