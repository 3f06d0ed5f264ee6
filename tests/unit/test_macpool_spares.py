"""Spare reservations (#17): handed out from memory once, given back on denial, counted by the
quota, committed on sight, refilled only when used, reclaimed when their replica's lease expires."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.unit.macpool_fakes import Leases, MemoryReservationStore
from tests.unit.macpool_objects import context, holder_of, macs_of, vm
from vmo_operator.kube import kinds
from vmo_operator.kube.lease import LeaseObserver
from vmo_operator.macpool import limits, reconcile, spares
from vmo_operator.macpool import mac as macs
from vmo_operator.macpool.allocator import Allocator, Claimed
from vmo_operator.macpool.cache import ReservationCache
from vmo_operator.macpool.reservation import VM_KIND, Holder, Reservation
from vmo_operator.macpool.webhook import AdmissionRequest, Allowed, Denied, mutate
from vmo_operator.operator.macpool.spares import ISSUE_WITHIN, LEASE_SECONDS, SpareKeeper, lease_name
from vmo_operator.operator.macpool.spares import RENEW_SECONDS as RENEW

T0 = datetime(2026, 1, 1, tzinfo=UTC)
LAYOUT = macs.PoolLayout(macs.DEFAULT_PREFIXES, (0x12, 0x34))
OTHER_LAYOUT = macs.PoolLayout(macs.DEFAULT_PREFIXES, (0x56, 0x78))
ME = "replica-a"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def holder(name: str = "vm-a", ns: str = "ns1", claim: str = "c-a") -> Holder:
    return Holder(VM_KIND, ns, name, claim=claim)


def filled_pool(store: MemoryReservationStore, count: int, **kwargs: Any) -> spares.SparePool:
    pool = spares.SparePool(ME, clock=kwargs.pop("clock", Clock()), **kwargs)
    allocator = Allocator(store, clock=lambda: T0, rng=random.Random(3))
    for _ in range(count):
        assert pool.add(allocator.make_spare(LAYOUT, ME))
    return pool


# ---- the pool ------------------------------------------------------------------------------


def test_spares_are_made_by_create_if_absent_and_labelled_with_their_replica() -> None:
    store = MemoryReservationStore()
    filled_pool(store, 3)
    made = store.list()
    assert [r.state for r in made] == ["Spare"] * 3
    assert {r.replica for r in made} == {ME}
    assert all(r.to_object()["metadata"]["labels"]["macpool.vmo.dev/spare-of"] == ME for r in made)
    assert all(LAYOUT.contains(r.mac) for r in made)
    assert Reservation.from_object(made[0].to_object()).replica == ME


def test_each_spare_is_handed_out_once_even_to_concurrent_requests() -> None:
    store = MemoryReservationStore()
    pool = filled_pool(store, 40)
    taken: list[macs.Mac] = []
    lock = threading.Lock()

    def take(n: int) -> None:
        issued = pool.take(LAYOUT, holder(f"vm-{n}", claim=f"c-{n}"), "nic0")
        if issued is not None:
            with lock:
                taken.append(issued.spare.mac)

    threads = [threading.Thread(target=take, args=(n,)) for n in range(60)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(taken) == 40 == len(set(taken))  # 20 found the pool empty: they write instead
    assert pool.take(LAYOUT, holder(), "nic0") is None


def test_no_spare_is_handed_out_while_the_lease_is_stale_or_once_closed() -> None:
    fresh = [False]
    pool = filled_pool(MemoryReservationStore(), 2, may_issue=lambda: fresh[0])
    assert pool.take(LAYOUT, holder(), "nic0") is None
    fresh[0] = True
    assert pool.take(LAYOUT, holder(), "nic0") is not None
    free, handed_out = pool.close()
    assert len(free) == 1
    assert len(handed_out) == 1
    assert pool.take(LAYOUT, holder(), "nic0") is None
    assert pool.shortfall() == 0


def test_spares_of_another_layout_or_excluded_are_kept_not_handed_out() -> None:
    store = MemoryReservationStore()
    pool = filled_pool(store, 1)
    (only,) = store.list()
    assert pool.take(OTHER_LAYOUT, holder(), "nic0") is None
    assert pool.take(LAYOUT, holder(), "nic0", exclude={only.mac}) is None
    issued = pool.take(LAYOUT, holder(), "nic0")
    assert issued is not None
    assert issued.spare.mac == only.mac


def test_outstanding_handouts_are_bounded() -> None:
    pool = filled_pool(MemoryReservationStore(), 5, max_outstanding=2, target=2)
    assert pool.take(LAYOUT, holder("a", claim="a"), "nic0") is not None
    assert pool.take(LAYOUT, holder("b", claim="b"), "nic0") is not None
    assert pool.take(LAYOUT, holder("c", claim="c"), "nic0") is None  # admission writes instead


def test_refill_asks_only_for_what_was_used_once_admission_pauses() -> None:
    clock = Clock()
    pool = filled_pool(MemoryReservationStore(), spares.TARGET, clock=clock)
    assert pool.shortfall() == 0  # idle: nothing to write
    for n in range(3):
        assert pool.take(LAYOUT, holder(f"vm-{n}", claim=f"c-{n}"), "nic0") is not None
    assert pool.shortfall() == 0  # a burst is under way: its creates go first
    clock.now += spares.REFILL_PAUSE_SECONDS
    assert pool.shortfall() == 3


def test_a_burst_that_halves_the_pool_is_refilled_without_waiting_for_a_pause() -> None:
    pool = filled_pool(MemoryReservationStore(), 8, clock=Clock(), target=8)
    for n in range(3):
        assert pool.take(LAYOUT, holder(f"vm-{n}", claim=f"c-{n}"), "nic0") is not None
        assert pool.shortfall() == 0
    assert pool.take(LAYOUT, holder("vm-3", claim="c-3"), "nic0") is not None
    assert pool.shortfall() == 4  # down to half: refilled while the burst goes on


def test_a_handout_is_due_for_handover_only_after_its_window() -> None:
    clock = Clock()
    pool = filled_pool(MemoryReservationStore(), 1, clock=clock)
    issued = pool.take(LAYOUT, holder(), "nic0")
    assert issued is not None
    assert pool.due() == []
    clock.now += spares.HANDOVER_SECONDS
    assert pool.due() == [issued]
    pending = issued.as_pending(T0)
    assert (pending.state, pending.holder, pending.replica) == ("Pending", holder(), "")
    assert pending.resource_version == issued.spare.resource_version  # the write is guarded


# ---- admission with spares -----------------------------------------------------------------


def request(obj: Mapping[str, Any]) -> AdmissionRequest:
    return AdmissionRequest("CREATE", VM_KIND, obj)


def test_admission_hands_out_a_spare_without_any_api_call() -> None:
    store = MemoryReservationStore()
    ctx = context(store)
    ctx.allocator.spares = pool = filled_pool(store, 4)
    before = store.calls.copy()
    decision = mutate(request(vm(macs_by_iface={"a": None, "b": None})), ctx)
    assert isinstance(decision, Allowed)
    assert store.calls == before  # not one read or write on the hot path
    assert all(isinstance(c, Claimed) for c in decision.claims)
    assert [(c.spare, c.wrote) for c in decision.claims] == [(True, False)] * 2
    handed = {c.reservation.mac for c in decision.claims}
    assert {r.mac for r in store.list() if r.state == "Spare"} >= handed
    assert len(pool) == 2
    assert pool.outstanding == 2


def test_a_reinvocation_claims_its_own_spare_without_a_write() -> None:
    store = MemoryReservationStore()
    ctx = context(store)
    ctx.allocator.spares = filled_pool(store, 2)
    first = mutate(request(vm()), ctx)
    assert isinstance(first, Allowed)
    (claim,) = first.claims
    annotations = {"macpool.vmo.dev/claim": claim.reservation.holder.claim}
    again = vm(macs_by_iface={"default": str(claim.reservation.mac)}, annotations=annotations)
    writes = store.writes()
    decision = mutate(request(again), ctx)
    assert isinstance(decision, Allowed), decision
    assert store.writes() == writes


def test_another_object_cannot_claim_a_spare_mac() -> None:
    store = MemoryReservationStore()
    ctx = context(store)
    ctx.allocator.spares = filled_pool(store, 1)
    (spare,) = store.list()
    decision = mutate(request(vm("vm-b", macs_by_iface={"default": str(spare.mac)})), ctx)
    assert isinstance(decision, Denied)
    assert decision.code == 409


def test_a_denied_request_gives_its_spare_back_without_a_write() -> None:
    store = MemoryReservationStore()
    holder_of(store, "vm-x", "ns1", "02:12:34:00:00:09")
    ctx = context(store)
    ctx.allocator.spares = pool = filled_pool(store, 1)
    writes = store.writes()
    obj = vm("vm-b", macs_by_iface={"a": None, "b": "02:12:34:00:00:09"})
    assert isinstance(mutate(request(obj), ctx), Denied)
    assert store.writes() == writes
    assert len(pool) == 1
    assert pool.outstanding == 0


def test_without_a_spare_admission_falls_back_to_a_create() -> None:
    store = MemoryReservationStore()
    ctx = context(store)
    ctx.allocator.spares = filled_pool(store, 0)
    decision = mutate(request(vm()), ctx)
    assert isinstance(decision, Allowed)
    (claim,) = decision.claims
    assert claim.wrote
    assert not claim.spare
    assert store.stored(macs.parse(macs_of(vm())["default"] or str(claim.reservation.mac))).state == "Pending"


def test_a_dry_run_takes_no_spare() -> None:
    store = MemoryReservationStore()
    ctx = context(store)
    ctx.allocator.spares = pool = filled_pool(store, 1)
    decision = mutate(AdmissionRequest("CREATE", VM_KIND, vm(), dry_run=True), ctx)
    assert isinstance(decision, Allowed)
    assert len(pool) == 1


# ---- the quota counts handouts ---------------------------------------------------------------


def test_the_namespace_quota_counts_spares_handed_out_until_they_are_written() -> None:
    cache = ReservationCache()
    cache.begin_listing()
    cache.end_listing()
    store = MemoryReservationStore()
    pool = filled_pool(store, 4, on_issue=cache.note_issued, on_settle=cache.settle_issued)
    first = pool.take(LAYOUT, holder("a", claim="a"), "nic0")
    second = pool.take(LAYOUT, holder("b", claim="b"), "nic0")
    assert first is not None
    assert second is not None
    with pytest.raises(limits.QuotaExceededError), cache.hold("ns1", [None], 2):
        pass
    with cache.hold("ns2", [None], 2):  # another namespace is not charged
        pass
    # The watch shows the first one committed: counted under its namespace now, not twice.
    committed = first.spare.committed_to(holder("a", claim="a"), "nic0", T0)
    cache.upsert(committed.to_object())
    assert cache.count("ns1") == 1
    with pytest.raises(limits.QuotaExceededError), cache.hold("ns1", [None], 2):
        pass
    pool.give_back(second.spare.mac)
    with cache.hold("ns1", [None], 2):
        pass


# ---- reclaim and inheritance ---------------------------------------------------------------


def test_reclaim_releases_only_the_spares_of_dead_replicas() -> None:
    spare_a = spares.spare(macs.Mac(0x02_12_34_00_00_01), "a", T0)
    spare_b = spares.spare(macs.Mac(0x02_12_34_00_00_02), "b", T0)
    committed = Reservation(macs.Mac(0x02_12_34_00_00_03), holder(), "nic0", "Committed", T0)
    actions = reconcile.plan_reclaim([spare_a, spare_b, committed], {"b"}.__contains__)
    assert actions == [reconcile.Release(spare_b)]


def test_the_audit_leaves_spares_to_their_replica() -> None:
    spare = spares.spare(macs.Mac(0x02_12_34_00_00_01), "a", T0)
    later = T0 + timedelta(days=1)
    assert reconcile.plan_reconcile([spare], [], now=later, grace_seconds=60) == []


@pytest.mark.parametrize("namespace", ["ns1", "ns2"])
def test_a_reclaimed_spare_is_inherited_by_the_object_that_carries_it_in_any_namespace(
    namespace: str,
) -> None:
    tombstone = spares.spare(macs.Mac(0x02_12_34_00_00_01), "a", T0).released(T0)
    carrier = reconcile.Carrier(holder(ns=namespace, claim="x"), "nic0", tombstone.mac)
    assert reconcile.plan_reconcile([tombstone], [carrier], now=T0, grace_seconds=60) == [
        reconcile.Adopt(carrier, tombstone)
    ]
    # A tenant's tombstone stays its namespace's (no cross-namespace reuse).
    tenant = Reservation(tombstone.mac, holder(ns="ns3"), "nic0", "Released", T0, released_at=T0)
    assert reconcile.plan_reconcile([tenant], [carrier], now=T0, grace_seconds=60) == []


def test_a_lease_expires_once_observed_unchanged_for_its_duration() -> None:
    leases, clock = Leases(), Clock()
    observer = LeaseObserver(leases, "vmo-system", clock=clock)  # type: ignore[arg-type]
    spec: dict[str, Any] = {"holderIdentity": "a", "renewTime": "t1", "leaseDurationSeconds": 30}
    lease = {"metadata": {"name": "l", "namespace": "vmo-system"}, "spec": spec}
    leases.create(kinds.LEASE, lease)
    assert observer.observe("l") is False  # first sight: a whole duration starts now
    clock.now += 29
    assert observer.observe("l") is False
    stored = leases.get(kinds.LEASE, "l", "vmo-system")
    assert stored is not None
    stored["spec"]["renewTime"] = "t2"
    leases.replace(kinds.LEASE, stored)
    clock.now += 29
    assert observer.observe("l") is False  # renewed meanwhile
    clock.now += 1.5
    assert observer.observe("l") is False
    clock.now += 29
    assert observer.observe("l") is True
    assert observer.observe("absent") is True


# ---- the keeper ------------------------------------------------------------------------------


class WatchedStore(MemoryReservationStore):
    """A store whose writes reach the cache at once, as the watch would deliver them."""

    def __init__(self, cache: ReservationCache) -> None:
        super().__init__()
        self.cache = cache

    def create(self, reservation: Reservation) -> Reservation | None:
        stored = super().create(reservation)
        if stored is not None:
            self.cache.upsert(stored.to_object())
        return stored

    def replace(self, reservation: Reservation) -> Reservation | None:
        stored = super().replace(reservation)
        if stored is not None:
            self.cache.upsert(stored.to_object())
        return stored

    def delete(self, reservation: Reservation) -> bool:
        gone = super().delete(reservation)
        if gone:
            self.cache.remove(reservation.to_object())
        return gone


def keeper_of(
    replica: str,
    leases: Leases,
    clock: Clock,
    cache: ReservationCache,
    store: WatchedStore,
    target: Callable[[], int] = lambda: 4,
) -> SpareKeeper:
    allocator = Allocator(store, clock=lambda: T0, rng=random.Random(replica.__hash__() & 0xFFFF))
    keeper = SpareKeeper(
        leases,  # type: ignore[arg-type]
        store,
        allocator,
        cache,
        namespace="vmo-system",
        replica=replica,
        layout=lambda: LAYOUT,
        target=target,
        clock=clock,
    )
    allocator.spares = keeper.pool
    return keeper


@pytest.fixture
def world() -> tuple[Leases, Clock, ReservationCache, WatchedStore]:
    cache = ReservationCache()
    cache.begin_listing()
    cache.end_listing()
    return Leases(), Clock(), cache, WatchedStore(cache)


def test_the_keeper_fills_once_then_writes_only_after_use(world: Any) -> None:
    leases, clock, cache, store = world
    keeper = keeper_of(ME, leases, clock, cache, store)
    keeper.tick()
    assert store.writes() == 0  # no lease renewed yet: no spares made
    assert keeper.lease.election.attempt()
    keeper.tick()
    assert len(keeper.pool) == 4
    assert store.calls["create"] == 4
    writes = store.writes()
    keeper.tick()
    keeper.tick()
    assert store.writes() == writes  # idle: nothing written
    assert keeper.pool.take(LAYOUT, holder(), "nic0") is not None
    keeper.tick()
    assert store.calls["create"] == 4  # not while admission is taking spares
    clock.now += spares.REFILL_PAUSE_SECONDS
    keeper.tick()
    assert store.calls["create"] == 5
    assert len(keeper.pool) == 4


def test_the_keeper_follows_the_profiles_pool_size_deleting_what_it_no_longer_wants(world: Any) -> None:
    leases, clock, cache, store = world
    wanted = [4]
    keeper = keeper_of(ME, leases, clock, cache, store, target=lambda: wanted[0])
    assert keeper.lease.election.attempt()
    keeper.tick()
    assert len(keeper.pool) == 4
    assert len(cache.spares_of(ME)) == 4
    wanted[0] = 10
    keeper.tick()
    assert len(keeper.pool) == 10
    assert keeper.pool.max_outstanding == spares.MAX_OUTSTANDING  # never below the floor
    wanted[0] = 2
    keeper.tick()
    # The surplus is deleted, not just forgotten: a forgotten spare would hold its MAC for nobody.
    assert len(keeper.pool) == 2
    assert len(cache.spares_of(ME)) == 2
    assert store.calls["delete"] == 8
    wanted[0] = 0
    keeper.tick()
    assert len(keeper.pool) == 0
    assert cache.spares_of(ME) == []
    assert keeper.pool.take(LAYOUT, holder(), "nic0") is None  # admission writes, as without spares
    keeper.tick()
    assert store.calls["create"] == 10  # and nothing is made for a pool of none


def test_a_large_pool_may_have_as_many_handouts_outstanding_as_it_holds() -> None:
    pool = spares.SparePool(ME, target=1024, clock=Clock())
    assert pool.max_outstanding == 1024
    assert pool.resize(128) == []
    assert pool.max_outstanding == 128
    assert pool.resize(8) == []
    assert pool.max_outstanding == spares.MAX_OUTSTANDING


def test_a_handout_whose_object_is_not_seen_is_handed_over_to_its_holder(world: Any) -> None:
    leases, clock, cache, store = world
    keeper = keeper_of(ME, leases, clock, cache, store)
    keeper.lease.election.attempt()
    keeper.tick()
    issued = keeper.pool.take(LAYOUT, holder(), "nic0")
    assert issued is not None
    keeper.tick()
    assert store.stored(issued.spare.mac).state == "Spare"  # still within its window
    clock.now += spares.HANDOVER_SECONDS
    keeper.tick()
    handed = store.stored(issued.spare.mac)
    assert (handed.state, handed.holder, handed.replica) == ("Pending", holder(), "")
    assert keeper.pool.outstanding == 0
    assert cache.count("ns1") == 1


def test_a_committed_handout_is_settled_without_a_handover(world: Any) -> None:
    leases, clock, cache, store = world
    keeper = keeper_of(ME, leases, clock, cache, store)
    keeper.lease.election.attempt()
    keeper.tick()
    issued = keeper.pool.take(LAYOUT, holder(), "nic0")
    assert issued is not None
    current = store.stored(issued.spare.mac)
    store.replace(current.committed_to(holder(), "nic0", T0))  # what the bookkeeping writes
    clock.now += spares.HANDOVER_SECONDS
    keeper.tick()
    assert store.stored(issued.spare.mac).state == "Committed"
    assert keeper.pool.outstanding == 0


def test_a_dead_replicas_spares_are_reclaimed_and_never_handed_out_again(world: Any) -> None:
    leases, clock, cache, store = world
    dead = keeper_of("replica-dead", leases, clock, cache, store)
    alive = keeper_of(ME, leases, clock, cache, store)
    for keeper in (dead, alive):
        keeper.lease.election.attempt()
        keeper.tick()
    handed = dead.pool.take(LAYOUT, holder("vm-d", claim="d"), "nic0")
    assert handed is not None
    assert alive.reclaim_dead() == 0  # first sight of the lease: it lives
    clock.now += LEASE_SECONDS / 2
    alive.lease.election.attempt()
    assert alive.reclaim_dead() == 0
    assert not dead.lease.renewed_within(ISSUE_WITHIN)  # the dead one would refuse to hand out now
    assert dead.pool.take(LAYOUT, holder("vm-e", claim="e"), "nic0") is None
    clock.now += LEASE_SECONDS / 2
    alive.lease.election.attempt()
    assert alive.reclaim_dead() == 4
    reclaimed = [r for r in store.list() if r.replica == "replica-dead"]
    assert {r.state for r in reclaimed} == {"Released"}
    assert all(r.state == "Spare" for r in store.list() if r.replica == ME)
    # The MACs stay out of allocation: a fresh allocation never lands on a reclaimed spare.
    taken = {r.mac for r in reclaimed}
    fresh = Allocator(store, clock=lambda: T0, rng=random.Random(5))
    for n in range(50):
        claim = fresh.allocate(LAYOUT, holder(f"n{n}", claim=f"n{n}"), "nic0")
        assert claim.reservation.mac not in taken
    # Nothing of the dead replica is left to guard: its Lease is gone, the survivor's is not.
    assert {name for _ns, name in leases.objects} == {lease_name(ME)}


def test_a_clean_stop_hands_over_handouts_and_deletes_free_spares_and_the_lease(world: Any) -> None:
    leases, clock, cache, store = world
    keeper = keeper_of(ME, leases, clock, cache, store)
    keeper.lease.election.attempt()
    keeper.tick()
    issued = keeper.pool.take(LAYOUT, holder(), "nic0")
    assert issued is not None
    keeper.stop()
    assert [(r.mac, r.state) for r in store.list()] == [(issued.spare.mac, "Pending")]
    assert ("vmo-system", lease_name(ME)) not in leases.objects


@pytest.mark.parametrize(("quota", "from_spare"), [(4096, True), (100, False)])
def test_spares_go_only_to_namespaces_far_from_their_quota(quota: int, from_spare: bool) -> None:
    """Near its limit a namespace's MACs are written before the answer, so every replica counts them."""
    cache = ReservationCache()
    cache.begin_listing()
    cache.end_listing()
    store = MemoryReservationStore()
    ctx = replace(context(store, max_reservations_per_namespace=quota), quota=cache)
    ctx.allocator.spares = filled_pool(store, 2, on_issue=cache.note_issued)
    decision = mutate(request(vm()), ctx)
    assert isinstance(decision, Allowed)
    (claim,) = decision.claims
    assert (claim.spare, claim.wrote) == (from_spare, not from_spare)


def test_a_spare_is_shown_as_its_carriers_pending_only_when_handed_out_to_it() -> None:
    """What the bookkeeping commits: this replica's handout, or another's that a grant proves."""
    mine = spares.spare(macs.Mac(0x02_12_34_00_00_01), ME, T0)
    theirs = spares.spare(macs.Mac(0x02_12_34_00_00_02), "replica-b", T0)
    unproven = spares.spare(macs.Mac(0x02_12_34_00_00_03), "replica-b", T0)
    persisted = Holder(VM_KIND, "ns1", "vm-a", "uid-a", "c-a")
    carriers = [
        reconcile.Carrier(persisted, "nic0", mine.mac),
        reconcile.Carrier(persisted, "nic1", theirs.mac),
        reconcile.Carrier(persisted, "nic2", unproven.mac),
    ]
    pool = spares.SparePool(ME, clock=Clock())
    pool.add(mine)
    assert pool.take(LAYOUT, holder(), "nic0") is not None
    reserved = {r.mac: r for r in (mine, theirs, unproven)}
    shown = spares.as_handed_out(
        carriers, reserved, issued_to=pool.issued_to, granted={"nic1": theirs.mac, "nic2": mine.mac}
    )
    assert shown[mine.mac].state == "Pending"
    assert shown[mine.mac].holder == holder()
    assert shown[theirs.mac].state == "Pending"
    assert shown[theirs.mac].holder == persisted
    assert shown[unproven.mac] == unproven  # the grant covers another MAC on that interface
    plan = reconcile.plan_for_object(carriers, persisted, reserved=shown, held_by_holder=[], deleted=False)
    assert {a.reservation.mac for a in plan if isinstance(a, reconcile.Commit)} == {mine.mac, theirs.mac}
    other = Holder(VM_KIND, "ns1", "vm-b", "uid-b", "c-b")  # the same MAC carried by another object
    copied = [reconcile.Carrier(other, "nic0", mine.mac)]
    assert spares.as_handed_out(copied, reserved, issued_to=pool.issued_to, granted={}) == reserved


def test_spares_of_an_earlier_lease_term_are_never_handed_out() -> None:
    """A replica whose lease lapsed (paused, cut off) may have had its spares reclaimed meanwhile."""
    term = [1]
    pool = filled_pool(MemoryReservationStore(), 2, term=lambda: term[0])
    taken = pool.take(LAYOUT, holder("a", claim="a"), "nic0")
    assert taken is not None
    term[0] = 2  # the lease was taken afresh after lapsing
    assert pool.take(LAYOUT, holder("b", claim="b"), "nic0") is None
    pool.give_back(taken.spare.mac)  # a handout of the earlier term does not come back usable
    assert pool.take(LAYOUT, holder("c", claim="c"), "nic0") is None
    assert pool.shortfall() == spares.TARGET  # the keeper makes new ones (and deletes the old)


def test_a_lease_term_starts_only_when_the_lease_is_taken_afresh() -> None:
    leases, clock = Leases(), Clock()
    keeper = keeper_of(ME, leases, clock, ReservationCache(), WatchedStore(ReservationCache()))
    election = keeper.lease.election
    assert election.attempt()
    assert election.term == 1
    clock.now += RENEW
    assert election.attempt()
    assert election.term == 1  # renewed in time: the same term
    clock.now += LEASE_SECONDS
    assert election.attempt()
    assert election.term == 2  # lapsed, then taken again
