"""A reservation never moves to another namespace: not from a tombstone, not by adoption.

Namespace A's freed MAC stays quarantined for every other namespace until its grace period is
over; A itself may take it back at once (delete a VM, create it again from its manifest).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest

from tests.unit.macpool_fakes import MemoryReservationStore
from tests.unit.macpool_objects import T0, VM, context, vm
from vmo_operator.macpool import mac as macs
from vmo_operator.macpool.allocator import Allocator, Claimed, Quarantined
from vmo_operator.macpool.reconcile import Adopt, Carrier, Delete, Release, plan_for_object, plan_reconcile
from vmo_operator.macpool.reservation import Holder, Reservation
from vmo_operator.macpool.settings import ALLOW_DUPLICATE_ANNOTATION
from vmo_operator.macpool.webhook import AdmissionRequest, Allowed, Denied, mutate

GRACE = 300
M = macs.parse("02:12:34:00:00:01")


def holder(ns: str, name: str = "vm", uid: str = "") -> Holder:
    return Holder(VM, ns, name, uid or f"u-{ns}-{name}", "c")


def tombstone(ns: str = "tenant-a", at: datetime = T0) -> Reservation:
    return Reservation(M, holder(ns, "victim"), "nic", "Released", at, released_at=at)


def committed(ns: str = "tenant-a") -> Reservation:
    return Reservation(M, holder(ns, "victim"), "nic", "Committed", T0, committed_at=T0)


def carrier(ns: str, name: str = "vm") -> Carrier:
    return Carrier(holder(ns, name), "nic", M)


def claim_after(store: MemoryReservationStore, ns: str, seconds: int, grace: int | None = GRACE) -> object:
    allocator = Allocator(store, clock=lambda: T0 + timedelta(seconds=seconds), rng=random.Random(1))
    return allocator.claim(M, Holder(VM, ns, "new"), "nic", quarantine_seconds=grace)


@pytest.fixture
def store() -> MemoryReservationStore:
    """A store holding tenant-a's tombstone of M, released at T0."""
    found = MemoryReservationStore()
    found.put(tombstone("tenant-a"))
    return found


# ---- claims of a tombstone ------------------------------------------------------------------


def test_another_namespace_cannot_claim_a_tombstone_before_its_quarantine_ends(
    store: MemoryReservationStore,
) -> None:
    result = claim_after(store, "tenant-b", GRACE - 1)
    assert isinstance(result, Quarantined)
    assert store.stored(M).state == "Released"
    assert store.stored(M).holder.namespace == "tenant-a"


def test_another_namespace_may_claim_once_the_quarantine_is_over(store: MemoryReservationStore) -> None:
    assert isinstance(claim_after(store, "tenant-b", GRACE), Claimed)
    assert store.stored(M).holder.namespace == "tenant-b"


def test_without_a_known_grace_period_a_foreign_tombstone_stays_closed(store: MemoryReservationStore) -> None:
    assert isinstance(claim_after(store, "tenant-b", 10 * GRACE, grace=None), Quarantined)


def test_the_same_namespace_takes_its_own_tombstone_back_at_once(store: MemoryReservationStore) -> None:
    result = claim_after(store, "tenant-a", 1)
    assert isinstance(result, Claimed)
    assert store.stored(M).state == "Pending"
    assert store.stored(M).holder.name == "new"


# ---- admission of a quarantined MAC ---------------------------------------------------------


def test_admission_denies_a_foreign_quarantined_mac_without_naming_its_namespace(
    store: MemoryReservationStore,
) -> None:
    request = AdmissionRequest("CREATE", VM, vm("thief", ns="tenant-b", macs_by_iface={"nic": str(M)}))
    decision = mutate(
        request, context(store, now=T0 + timedelta(seconds=5), release_grace_period_seconds=GRACE)
    )
    assert isinstance(decision, Denied)
    assert decision.code == 409
    assert "quarantined" in decision.message
    assert "2026-01-01T00:05:00Z" in decision.message  # released at T0, grace 300 s
    assert "tenant-a" not in decision.message
    assert "victim" not in decision.message
    assert store.stored(M).holder.namespace == "tenant-a"


def test_admission_gives_the_same_namespace_its_released_mac_back(store: MemoryReservationStore) -> None:
    request = AdmissionRequest("CREATE", VM, vm("victim", ns="tenant-a", macs_by_iface={"nic": str(M)}))
    decision = mutate(request, context(store, now=T0 + timedelta(seconds=5)))
    assert isinstance(decision, Allowed)
    assert store.stored(M).state == "Pending"


@pytest.mark.parametrize("policy", ["Warn", "permitted-annotation"])
def test_a_permitted_duplicate_of_a_quarantined_mac_is_admitted_without_taking_the_tombstone(
    policy: str, store: MemoryReservationStore
) -> None:
    annotations = {ALLOW_DUPLICATE_ANNOTATION: "true"} if policy != "Warn" else None
    obj = vm("dup", ns="tenant-b", macs_by_iface={"nic": str(M)}, annotations=annotations)
    ctx = context(
        store,
        now=T0 + timedelta(seconds=5),
        duplicate_policy="Warn" if policy == "Warn" else "Deny",
        may_use_duplicates=lambda *_: True,
    )
    decision = mutate(AdmissionRequest("CREATE", VM, obj), ctx)
    assert isinstance(decision, Allowed)
    assert any("quarantined" in warning for warning in decision.warnings)
    assert store.stored(M).state == "Released"
    assert store.stored(M).holder.namespace == "tenant-a"


# ---- adoption by the reconciler -------------------------------------------------------------


def plan(reservation: Reservation, carriers: list[Carrier], after: int = 0) -> list[object]:
    now = T0 + timedelta(seconds=after)
    return list(plan_reconcile([reservation], carriers, now=now, grace_seconds=GRACE))


def test_a_tombstone_is_not_adopted_by_another_namespaces_carrier_until_it_is_gone() -> None:
    released = tombstone("tenant-a")
    attacker = carrier("tenant-b", "thief")
    assert plan(released, [attacker], after=GRACE - 1) == []
    assert plan(released, [attacker], after=GRACE) == [Delete(released)]
    # The round after the tombstone is gone, the MAC is simply unreserved and its carrier adopts it.
    assert list(plan_reconcile([], [attacker], now=T0, grace_seconds=GRACE)) == [Adopt(attacker, None)]


def test_a_tombstone_goes_to_a_carrier_of_its_own_namespace_even_if_another_is_older() -> None:
    released = tombstone("tenant-a")
    foreign = Carrier(holder("tenant-b", "thief"), "nic", M, created="2025-01-01T00:00:00Z")
    own = Carrier(holder("tenant-a", "victim", uid="u-new"), "nic", M, created="2026-01-01T00:00:00Z")
    assert plan(released, [foreign, own]) == [Adopt(own, released)]


def test_a_committed_mac_its_holder_dropped_is_released_not_handed_to_another_namespace() -> None:
    reservation = committed("tenant-a")
    assert plan(reservation, [carrier("tenant-b", "thief")]) == [Release(reservation)]
    survivor = carrier("tenant-a", "sibling")
    assert plan(reservation, [carrier("tenant-b", "thief"), survivor]) == [Adopt(survivor, reservation)]


def test_an_expired_pending_reservation_is_released_not_handed_to_another_namespace() -> None:
    reservation = Reservation(M, Holder(VM, "tenant-a", "", "", "c-lost"), "nic", "Pending", T0)
    assert plan(reservation, [carrier("tenant-b", "thief")], after=GRACE) == [Release(reservation)]


def test_the_watch_fast_path_adopts_only_tombstones_of_its_own_namespace() -> None:
    released = tombstone("tenant-a")
    for ns, expected in (("tenant-b", []), ("tenant-a", [Adopt(carrier("tenant-a"), released)])):
        found = carrier(ns)
        actions = plan_for_object(
            [found], found.holder, reserved={M: released}, held_by_holder=[], deleted=False
        )
        assert actions == expected, ns
