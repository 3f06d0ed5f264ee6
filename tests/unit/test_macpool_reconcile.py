"""Planning commits, adoptions, releases and garbage collection of reservations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.unit.macpool_fakes import MemoryReservationStore
from vmo_operator.macpool import mac as macs
from vmo_operator.macpool.reconcile import (
    Adopt,
    Carrier,
    Commit,
    Delete,
    Release,
    carriers_of,
    execute,
    find_collisions,
    plan_for_object,
    plan_reconcile,
)
from vmo_operator.macpool.reservation import Holder, Reservation

T0 = datetime(2026, 1, 1, tzinfo=UTC)
GRACE = 300
VM = "VirtualMachine"
M1, M2, M3 = (macs.parse(f"02:12:34:00:00:0{n}") for n in (1, 2, 3))


def obj(
    name: str,
    uid: str,
    ifaces: dict[str, str],
    *,
    claim: str = "",
    created: str = "2026-01-01T00:00:00Z",
    kind: str = VM,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "ns1", "uid": uid, "creationTimestamp": created}
    if claim:
        meta["annotations"] = {"macpool.vmo.dev/claim": claim}
    interfaces = [{"name": n, "macAddress": m} for n, m in ifaces.items()]
    devices = {"domain": {"devices": {"interfaces": interfaces}}}
    spec = {"template": {"spec": devices}} if kind == VM else devices
    return {"kind": kind, "metadata": meta, "spec": spec}


def carrier(
    name: str, uid: str, mac: macs.Mac, iface: str = "nic0", claim: str = "", created: str = ""
) -> Carrier:
    return Carrier(Holder(VM, "ns1", name, uid, claim), iface, mac, created)


def pending(mac: macs.Mac, name: str = "vm-a", claim: str = "c-a", at: datetime = T0) -> Reservation:
    return Reservation(mac, Holder(VM, "ns1", name, "", claim), "nic0", "Pending", at)


def committed(mac: macs.Mac, name: str = "vm-a", uid: str = "u-a") -> Reservation:
    return Reservation(mac, Holder(VM, "ns1", name, uid, "c-a"), "nic0", "Committed", T0, committed_at=T0)


def released(mac: macs.Mac, at: datetime = T0) -> Reservation:
    return Reservation(mac, Holder(VM, "ns1", "gone", "u-gone"), "nic0", "Released", T0, released_at=at)


def plan(reservations: list[Reservation], carriers: list[Carrier], *, after: int = 0) -> list[Any]:
    return plan_reconcile(reservations, carriers, now=T0 + timedelta(seconds=after), grace_seconds=GRACE)


# ---- carriers -------------------------------------------------------------------------------


def test_carriers_read_valid_macs() -> None:
    vm_obj = obj("vm-a", "u-a", {"a": "02-12-34-00-00-01", "b": "garbage", "c": ""}, claim="c1")
    found = carriers_of(VM, vm_obj)
    assert [(c.interface, c.mac) for c in found] == [("a", M1)]
    assert found[0].holder == Holder(VM, "ns1", "vm-a", "u-a", "c1")


def test_collisions_count_distinct_objects_per_mac() -> None:
    carriers = [
        carrier("vm-a", "u-a", M1),
        carrier("vm-a", "u-a", M2, "nic1"),
        carrier("vm-b", "u-b", M1),
        carrier("vm-c", "u-c", M3),
    ]
    collisions = find_collisions(carriers)
    assert [c.mac for c in collisions] == [M1]
    assert {c.holder.name for c in collisions[0].carriers} == {"vm-a", "vm-b"}


# ---- full reconcile -------------------------------------------------------------------------


def test_pending_reservation_is_committed_when_its_object_carries_the_mac() -> None:
    # generateName: reserved without a name, matched through the claim token.
    reservation = pending(M1, name="", claim="c-a")
    persisted = carrier("vm-a-x1", "u-a", M1, claim="c-a")
    assert plan([reservation], [persisted]) == [Commit(reservation, persisted)]


def test_pending_reservation_waits_out_the_grace_period_then_is_quarantined() -> None:
    reservation = pending(M1)
    assert plan([reservation], [], after=GRACE - 1) == []
    assert plan([reservation], [], after=GRACE) == [Release(reservation)]


def test_a_late_object_adopts_its_quarantined_reservation() -> None:
    """A create slower than the grace period still ends with its MAC reserved for it."""
    tombstone = pending(M1, claim="c-slow").released(T0 + timedelta(seconds=GRACE))
    late = carrier("vm-slow", "u-slow", M1, claim="c-slow")
    assert plan([tombstone], [late], after=GRACE + 1) == [Adopt(late, tombstone)]


def test_expired_pending_reservation_of_a_mac_someone_else_carries_is_adopted_by_them() -> None:
    reservation = pending(M1, claim="c-lost")
    other = carrier("vm-b", "u-b", M1)
    assert plan([reservation], [other], after=GRACE - 1) == []
    assert plan([reservation], [other], after=GRACE) == [Adopt(other, reservation)]


def test_committed_mac_no_longer_carried_is_released() -> None:
    reservation = committed(M1)
    assert plan([reservation], []) == [Release(reservation)]


def test_committed_mac_carried_by_its_holder_needs_nothing() -> None:
    assert plan([committed(M1)], [carrier("vm-a", "u-a", M1)]) == []


def test_mac_carried_without_reservation_is_adopted_by_the_oldest_carrier() -> None:
    young = carrier("vm-y", "u-y", M1, created="2026-02-01T00:00:00Z")
    old = carrier("vm-o", "u-o", M1, created="2026-01-01T00:00:00Z")
    assert plan([], [young, old]) == [Adopt(old, None)]


def test_tombstone_is_kept_through_quarantine_then_deleted() -> None:
    tombstone = released(M1, at=T0)
    assert plan([tombstone], [], after=GRACE - 1) == []
    assert plan([tombstone], [], after=GRACE) == [Delete(tombstone)]


def test_tombstone_of_a_mac_still_carried_elsewhere_is_adopted() -> None:
    tombstone = released(M1)
    survivor = carrier("vm-dup", "u-dup", M1)
    assert plan([tombstone], [survivor]) == [Adopt(survivor, tombstone)]


def test_committed_mac_whose_holder_let_go_passes_to_another_carrier() -> None:
    reservation = committed(M1)
    other = carrier("vm-b", "u-b", M1)
    assert plan([reservation], [other]) == [Adopt(other, reservation)]


def test_execute_applies_the_plan_and_a_second_round_has_nothing_to_do() -> None:
    store = MemoryReservationStore()
    store.put(pending(M1, name="", claim="c-a"))
    store.put(committed(M2, name="vm-gone", uid="u-gone"))
    store.put(pending(M3, claim="never-created", at=T0 - timedelta(seconds=GRACE)))
    extra = macs.parse("02:12:34:00:00:09")
    carriers = [carrier("vm-a", "u-a", M1, claim="c-a"), carrier("vm-legacy", "u-l", extra)]
    report = execute(plan(store.list(), carriers), store, now=T0)
    assert report.applied == {"Commit": 1, "Release": 2, "Adopt": 1}
    assert report.conflicts == 0
    states = {r.mac: (r.state, r.holder.uid) for r in store.list()}
    assert states == {
        M1: ("Committed", "u-a"),
        M2: ("Released", "u-gone"),
        M3: ("Released", ""),
        extra: ("Committed", "u-l"),
    }
    assert plan(store.list(), carriers) == []


def test_execute_counts_stale_writes_as_conflicts_without_clobbering() -> None:
    store = MemoryReservationStore()
    stale = store.put(committed(M1))
    store.replace(stale.released(T0))  # somebody else moved it on
    report = execute([Release(stale)], store, now=T0)
    assert report.conflicts == 1
    assert report.applied == {}


# ---- per-object fast path -------------------------------------------------------------------


def test_object_event_commits_its_pending_reservations_and_adopts_unheld_macs() -> None:
    holder = Holder(VM, "ns1", "vm-a", "u-a", "c-a")
    carriers = [Carrier(holder, "a", M1), Carrier(holder, "b", M2)]
    reservation = pending(M1)
    actions = plan_for_object(carriers, holder, reserved={M1: reservation}, held_by_holder=[], deleted=False)
    assert actions == [Commit(reservation, carriers[0]), Adopt(carriers[1], None)]


def test_object_event_never_touches_another_holders_mac() -> None:
    holder = Holder(VM, "ns1", "vm-a", "u-a", "c-a")
    others = committed(M1, name="vm-b", uid="u-b")
    assert (
        plan_for_object(
            [Carrier(holder, "a", M1)], holder, reserved={M1: others}, held_by_holder=[], deleted=False
        )
        == []
    )


def test_removed_interface_releases_committed_but_not_pending_reservations() -> None:
    holder = Holder(VM, "ns1", "vm-a", "u-a", "c-a")
    kept = committed(M1)
    removed = committed(M2)
    in_flight = Reservation(M3, holder, "hot", "Pending", T0)
    actions = plan_for_object(
        [Carrier(holder, "nic0", M1)],
        holder,
        reserved={M1: kept},
        held_by_holder=[kept, removed, in_flight],
        deleted=False,
    )
    assert actions == [Release(removed)]


@pytest.mark.parametrize("uid", ["u-a", "u-other"])
def test_deleted_object_releases_only_what_it_held(uid: str) -> None:
    holder = Holder(VM, "ns1", "vm-a", uid, "c-a")
    mine = committed(M1)
    actions = plan_for_object(
        [Carrier(holder, "nic0", M1)], holder, reserved={M1: mine}, held_by_holder=[], deleted=True
    )
    assert actions == ([Release(mine)] if uid == "u-a" else [])
