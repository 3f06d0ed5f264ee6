"""Reservation identity rules and the allocator's decisions, against an in-memory store."""

from __future__ import annotations

import random
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tests.unit.macpool_fakes import MemoryReservationStore
from vmo_operator.macpool import mac as macs
from vmo_operator.macpool.allocator import (
    Allocator,
    Claimed,
    HeldElsewhere,
    PoolExhaustedError,
)
from vmo_operator.macpool.reservation import Holder, Reservation, previous_incarnation, same_holder

T0 = datetime(2026, 1, 1, tzinfo=UTC)
LAYOUT = macs.PoolLayout(macs.DEFAULT_PREFIXES, (0xAB, 0xCD))
VM = "VirtualMachine"


def holder(name: str = "vm-a", *, ns: str = "ns1", uid: str = "", claim: str = "c-a") -> Holder:
    return Holder(VM, ns, name, uid, claim)


def allocator(store: MemoryReservationStore, seed: int = 1) -> Allocator:
    return Allocator(store, clock=lambda: T0, rng=random.Random(seed))


# ---- identity -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reserved", "candidate", "expected"),
    [
        (holder(uid="u1"), holder(uid="u1", claim="other"), True),  # uid decides
        (holder(uid="u1"), holder(uid="u2"), False),
        (holder(uid="u1"), holder(), False),  # a CREATE in flight is a new incarnation
        (holder(), holder(uid="u9"), True),  # pending, matched by claim once persisted
        (holder(name=""), holder(name="vm-a-x7k2p", uid="u9"), True),  # generateName
        (holder(), holder(claim="c-b"), False),
        (holder(), holder(name="vm-b"), False),
        (holder(ns="ns1"), holder(ns="ns2"), False),
        (Holder("VirtualMachineInstance", "ns1", "vm-a", claim="c-a"), holder(), False),
        (holder(claim=""), holder(claim=""), True),  # adopted record without claim: name decides
        (holder(name="", claim=""), holder(name="", claim=""), False),
    ],
)
def test_same_holder(reserved: Holder, candidate: Holder, expected: bool) -> None:
    assert same_holder(reserved, candidate) is expected


def test_previous_incarnation_only_for_a_create_of_the_same_name() -> None:
    assert previous_incarnation(holder(uid="u1"), holder(claim="new"))
    assert not previous_incarnation(holder(uid="u1"), holder(uid="u2"))  # an UPDATE of another object
    assert not previous_incarnation(holder(uid="u1"), holder(name="vm-b"))
    assert not previous_incarnation(holder(name=""), holder(name=""))


def test_reservation_round_trips_through_its_object_form() -> None:
    original = Reservation(
        mac=macs.parse("0a:ab:cd:01:02:03"),
        holder=holder(uid="u1"),
        interface="nic0",
        state="Committed",
        reserved_at=T0,
        committed_at=T0 + timedelta(seconds=1, milliseconds=250),
    )
    obj = original.to_object()
    assert obj["metadata"]["name"] == "mac-0aabcd010203"
    assert obj["spec"]["mac"] == "0a:ab:cd:01:02:03"
    assert obj["metadata"]["labels"]["macpool.vmo.dev/holder-uid"] == "u1"
    obj["metadata"]["resourceVersion"] = "42"
    parsed = Reservation.from_object(obj)
    assert parsed.resource_version == "42"
    assert parsed == replace(original, resource_version="42")


def test_reservation_whose_name_does_not_match_its_mac_is_refused() -> None:
    obj = Reservation(macs.parse("02:00:00:00:00:05"), holder(), "n", "Pending", T0).to_object()
    obj["metadata"]["name"] = "mac-020000000006"
    with pytest.raises(ValueError, match="another name"):
        Reservation.from_object(obj)


def test_grace_and_quarantine_deadlines() -> None:
    pending = Reservation(macs.parse("02:00:00:00:00:05"), holder(), "n", "Pending", T0)
    assert not pending.pending_expired(T0 + timedelta(seconds=299), 300)
    assert pending.pending_expired(T0 + timedelta(seconds=300), 300)
    released = pending.committed_to(holder(uid="u"), "n", T0).released(T0 + timedelta(seconds=10))
    assert not released.held
    assert not released.quarantine_over(T0 + timedelta(seconds=309), 300)
    assert released.quarantine_over(T0 + timedelta(seconds=310), 300)


# ---- allocate -------------------------------------------------------------------------------


def test_allocate_reserves_a_pending_prefixed_mac_for_the_holder() -> None:
    store = MemoryReservationStore()
    claim = allocator(store).allocate(LAYOUT, holder(), "nic0")
    assert claim.wrote
    stored = store.get(claim.reservation.mac)
    assert stored == claim.reservation
    assert stored.state == "Pending"
    assert stored.holder == holder()
    assert LAYOUT.contains(stored.mac)


def test_allocate_skips_held_and_quarantined_macs() -> None:
    store = MemoryReservationStore()
    # The first three candidates of seed 3 are taken: one Pending, one Committed, one Released.
    walk = macs.candidates(LAYOUT, random.Random(3))
    upcoming = [next(walk) for _ in range(4)]
    store.put(Reservation(upcoming[0], holder("x"), "n", "Pending", T0))
    store.put(Reservation(upcoming[1], holder("y", uid="u"), "n", "Committed", T0))
    store.put(Reservation(upcoming[2], holder("z", uid="v"), "n", "Released", T0, released_at=T0))
    claim = allocator(store, seed=3).allocate(LAYOUT, holder(), "nic0")
    assert claim.reservation.mac == upcoming[3]


def test_allocate_dry_run_writes_nothing() -> None:
    store = MemoryReservationStore()
    claim = allocator(store).allocate(LAYOUT, holder(), "nic0", dry_run=True)
    assert not claim.wrote
    assert store.list() == []
    assert store.writes() == 0


def test_allocate_gives_up_with_a_clear_error_when_everything_is_taken() -> None:
    store = MemoryReservationStore()
    alloc = Allocator(
        store, clock=lambda: T0, rng=random.Random(1), max_attempts=5, known_taken=lambda _m: False
    )
    # Pre-take exactly the five MACs the walk will try.
    walk = macs.candidates(LAYOUT, random.Random(1))
    for _ in range(5):
        store.put(Reservation(next(walk), holder("x"), "n", "Pending", T0))
    with pytest.raises(PoolExhaustedError, match="02, 06, 0A, 0E"):
        alloc.allocate(LAYOUT, holder(), "nic0")


def test_concurrent_allocators_never_hand_out_the_same_mac() -> None:
    store = MemoryReservationStore()
    # Same seed on purpose: both "replicas" walk identical candidate sequences, so nearly every
    # allocation races the other replica for the same MAC and one of them must lose on create.
    results: list[macs.Mac] = []
    lock = threading.Lock()

    def work(alloc: Allocator, start: int) -> None:
        for n in range(start, start + 100):
            mac = alloc.allocate(LAYOUT, holder(f"vm-{n}"), "nic0").reservation.mac
            with lock:
                results.append(mac)

    replicas = [Allocator(store, clock=lambda: T0, rng=random.Random(5)) for _ in range(2)]
    threads = [threading.Thread(target=work, args=(replicas[i], i * 100)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 200
    assert len(set(results)) == 200
    assert len(store.list()) == 200
    assert store.calls["create"] > 200  # the race really happened: losers were refused and moved on


# ---- claim ----------------------------------------------------------------------------------

M = macs.parse("52:54:00:12:34:56")


def test_claim_of_a_free_mac_creates_a_pending_reservation() -> None:
    store = MemoryReservationStore()
    result = allocator(store).claim(M, holder(), "nic0")
    assert isinstance(result, Claimed)
    assert result.wrote
    assert store.stored(M).holder == holder()


def test_claim_of_own_mac_writes_nothing() -> None:
    store = MemoryReservationStore()
    store.put(Reservation(M, holder(uid="u1"), "nic0", "Committed", T0))
    before = store.writes()
    result = allocator(store).claim(M, holder(uid="u1"), "nic0")
    assert isinstance(result, Claimed)
    assert not result.wrote
    assert store.writes() == before


def test_claim_of_another_vms_mac_reports_the_holder() -> None:
    store = MemoryReservationStore()
    store.put(Reservation(M, holder("vm-b", uid="u2", claim="c-b"), "nic0", "Committed", T0))
    result = allocator(store).claim(M, holder(), "nic0")
    assert isinstance(result, HeldElsewhere)
    assert result.reservation.holder.name == "vm-b"
    assert store.stored(M).holder.name == "vm-b"


def test_claim_takes_over_a_released_tombstone_despite_quarantine() -> None:
    store = MemoryReservationStore()
    store.put(Reservation(M, holder("old", uid="u0"), "nic0", "Released", T0, released_at=T0))
    result = allocator(store).claim(M, holder(), "nic0")
    assert isinstance(result, Claimed)
    assert result.previous is not None
    assert store.stored(M).state == "Pending"
    assert store.stored(M).holder == holder()


def test_claim_by_a_recreated_vm_of_the_same_name_takes_over() -> None:
    store = MemoryReservationStore()
    store.put(Reservation(M, holder(uid="u-old", claim="c-old"), "nic0", "Committed", T0))
    result = allocator(store).claim(M, holder(claim="c-new"), "nic0")
    assert isinstance(result, Claimed)
    assert store.stored(M).holder.claim == "c-new"
    assert store.stored(M).holder.uid == ""


def test_claim_dry_run_writes_nothing_even_for_a_takeover() -> None:
    store = MemoryReservationStore()
    store.put(Reservation(M, holder("old", uid="u0"), "nic0", "Released", T0, released_at=T0))
    before = store.writes()
    assert isinstance(allocator(store).claim(M, holder(), "nic0", dry_run=True), Claimed)
    assert isinstance(
        allocator(store).claim(macs.parse("02:00:00:00:00:09"), holder(), "n", dry_run=True), Claimed
    )
    assert store.writes() == before
    assert store.stored(M).state == "Released"


def test_revert_deletes_created_and_restores_taken_over_reservations() -> None:
    store = MemoryReservationStore()
    tombstone = store.put(Reservation(M, holder("old", uid="u0"), "nic0", "Released", T0, released_at=T0))
    alloc = allocator(store)
    taken = alloc.claim(M, holder(), "nic0")
    fresh = alloc.allocate(LAYOUT, holder(), "nic1")
    assert isinstance(taken, Claimed)
    alloc.revert([taken, fresh])
    assert store.get(fresh.reservation.mac) is None
    restored = store.stored(M)
    assert restored.state == "Released"
    assert restored.holder == tombstone.holder


# ---- release --------------------------------------------------------------------------------


def test_release_tombstones_only_the_holders_own_reservation() -> None:
    store = MemoryReservationStore()
    store.put(Reservation(M, holder(uid="u1"), "nic0", "Committed", T0))
    alloc = allocator(store)
    assert alloc.release(M, holder(uid="u-other")) is None
    assert store.stored(M).state == "Committed"
    released = alloc.release(M, holder(uid="u1"))
    assert released is not None
    assert released.state == "Released"
    assert released.released_at == T0
    # A second release is a no-op: the tombstone is not held.
    assert alloc.release(M, holder(uid="u1")) is None


def test_allocate_never_picks_an_excluded_mac() -> None:
    """A request's own user-set MACs are excluded while its claims for them run concurrently."""
    first = allocator(MemoryReservationStore(), seed=5).allocate(LAYOUT, holder(), "a").reservation.mac
    store = MemoryReservationStore()
    again = allocator(store, seed=5).allocate(LAYOUT, holder(), "a", exclude={first}).reservation.mac
    assert again != first
    assert store.get(first) is None
