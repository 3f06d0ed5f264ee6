"""The replica's reservation cache: what the watch feeds it, the namespace quota it enforces, and
what 50,000 reservations cost in memory."""

from __future__ import annotations

import gc
import random
import re
import tracemalloc
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.macpool_fakes import MemoryReservationStore
from tests.unit.macpool_objects import context, vm
from vmo_operator.macpool import audit, limits, spares
from vmo_operator.macpool import mac as macs
from vmo_operator.macpool.allocator import Allocator
from vmo_operator.macpool.cache import SEVERAL, CacheListedStore, ReservationCache
from vmo_operator.macpool.reconcile import ExecutionReport
from vmo_operator.macpool.reservation import Holder, Reservation, State
from vmo_operator.macpool.webhook import AdmissionRequest, Allowed, Denied, mutate

T0 = datetime(2026, 1, 1, tzinfo=UTC)
CHART_VALUES = Path(__file__).resolve().parents[2] / "charts" / "vmo-operator" / "values.yaml"


def reservation(
    n: int, ns: str = "ns1", *, state: State = "Committed", uid: str = "", name: str = "", iface: str = "nic"
) -> dict[str, Any]:
    """A MACReservation object as the watch delivers it."""
    holder = Holder("VirtualMachine", ns, name or f"vm-{n}", uid or f"uid-{n}", claim=f"claim-{n}")
    stored = Reservation(macs.Mac(0x02_12_34_00_00_00 + n), holder, iface, state, T0)
    obj = stored.to_object()
    obj["metadata"] |= {"uid": str(uuid.uuid4()), "resourceVersion": str(1000 + n)}
    return obj


def synced(*objects: dict[str, Any]) -> ReservationCache:
    cache = ReservationCache()
    cache.begin_listing()
    for obj in objects:
        cache.upsert(obj)
    cache.end_listing()
    return cache


def mac(n: int) -> macs.Mac:
    return macs.Mac(0x02_12_34_00_00_00 + n)


# ---- fed by the watch -------------------------------------------------------------------------


def spare_object(n: int, replica: str) -> dict[str, Any]:
    obj = spares.spare(mac(n), replica, T0).to_object()
    obj["metadata"] |= {"uid": str(uuid.uuid4()), "resourceVersion": str(2000 + n)}
    return obj


def test_the_spares_of_a_replica_follow_creates_commits_and_deletes() -> None:
    cache = synced(spare_object(1, "r1"), spare_object(2, "r1"), spare_object(3, "r2"), reservation(4))
    assert {r.mac for r in cache.spares_of("r1")} == {mac(1), mac(2)}
    assert {r.mac for r in cache.spares_of(None)} == {mac(1), mac(2), mac(3)}
    cache.upsert(reservation(1))  # committed to a VM: no longer a spare
    cache.remove(spare_object(3, "r2"))
    cache.upsert(spare_object(5, "r2"))
    assert {r.mac for r in cache.spares_of("r1")} == {mac(2)}
    assert {r.mac for r in cache.spares_of(None)} == {mac(2), mac(5)}
    cache.begin_listing()  # a relist that no longer delivers spare 2
    cache.upsert(spare_object(5, "r2"))
    cache.end_listing()
    assert {r.mac for r in cache.spares_of(None)} == {mac(5)}


def test_counts_follow_adds_takeovers_and_deletes() -> None:
    cache = synced(reservation(1, "a"), reservation(2, "a"), reservation(3, "b"))
    assert (cache.count("a"), cache.count("b")) == (2, 1)
    cache.upsert(reservation(2, "b"))  # another namespace took the MAC over
    assert (cache.count("a"), cache.count("b")) == (1, 2)
    cache.remove(reservation(3, "b"))
    assert (cache.count("a"), cache.count("b"), len(cache)) == (1, 1, 2)
    cache.upsert(reservation(1, "a", state="Released"))  # tombstones count until they are deleted
    assert cache.count("a") == 1


def test_a_relist_drops_what_a_watch_gap_hid() -> None:
    cache = synced(reservation(1), reservation(2), reservation(3))
    cache.begin_listing()
    cache.upsert(reservation(1))
    cache.upsert(reservation(3))
    cache.end_listing()
    assert cache.get(mac(2)) is None
    assert cache.count("ns1") == 2
    assert {r.mac for r in cache.snapshot()} == {mac(1), mac(3)}


def test_holder_index_finds_every_reservation_of_an_object() -> None:
    cache = synced(reservation(1, uid="u1"), reservation(2, uid="u1"), reservation(3, uid="u2"))
    assert {r.mac for r in cache.held_by("u1")} == {mac(1), mac(2)}
    cache.upsert(reservation(2, uid="u2"))
    assert [r.mac for r in cache.held_by("u1")] == [mac(1)]
    cache.remove(reservation(1, uid="u1"))
    assert cache.held_by("u1") == []


def test_an_object_that_is_not_a_reservation_of_ours_leaves_the_cache() -> None:
    cache = synced(reservation(1))
    broken = reservation(1)
    broken["spec"]["state"] = "Lost"
    cache.upsert(broken)
    assert cache.get(mac(1)) is None
    assert cache.count("ns1") == 0


def test_the_next_orphan_due_is_the_oldest_pending_plus_the_grace_period() -> None:
    old = reservation(1, state="Pending")
    old["spec"]["reservedAt"] = "2026-01-01T00:00:05.000Z"
    cache = synced(old, reservation(2, state="Pending"), reservation(3))
    assert cache.next_pending_expiry(60) == T0 + timedelta(seconds=60)
    assert synced(reservation(3)).next_pending_expiry(60) is None


def test_the_audit_lists_from_the_cache_once_it_has_synced() -> None:
    store = MemoryReservationStore()
    store.put(Reservation.from_object(reservation(9)))
    cache = ReservationCache()
    listed = CacheListedStore(store, cache)
    assert [r.mac for r in listed.list()] == [mac(9)]  # not synced yet: from the API server
    cache.begin_listing()
    cache.upsert(reservation(1))
    cache.end_listing()
    calls = store.calls["list"]
    assert [r.mac for r in listed.list()] == [mac(1)]
    assert store.calls["list"] == calls


# ---- the namespace quota ------------------------------------------------------------------------


def test_quota_refuses_what_does_not_fit_and_names_namespace_count_and_limit() -> None:
    cache = synced(*(reservation(n, "full") for n in range(8)))
    with cache.hold("full", [None, None], limit=10):
        pass
    with pytest.raises(limits.QuotaExceededError) as refused, cache.hold("full", [None] * 3, limit=10):
        pass
    message = str(refused.value)
    assert 'namespace "full" holds 8 MAC reservations' in message
    assert "needs 3 more" in message
    assert "limit of 10" in message
    assert limits.PROFILE_FIELD in message
    with cache.hold("other", [None] * 10, limit=10):  # another namespace is not affected
        pass


def test_macs_the_namespace_already_holds_cost_nothing_more() -> None:
    """A webhook reinvocation re-claims the MACs the first call reserved: at the limit, still fine."""
    cache = synced(*(reservation(n, "full") for n in range(10)))
    with cache.hold("full", [mac(0), mac(1)], limit=10):
        pass
    elsewhere = synced(reservation(1, "other"))
    with pytest.raises(limits.QuotaExceededError), elsewhere.hold("mine", [mac(1)], limit=0):
        pass


def test_admissions_in_flight_count_until_they_finish() -> None:
    cache = synced(*(reservation(n, "busy") for n in range(5)))
    with cache.hold("busy", [None] * 3, limit=10):
        with pytest.raises(limits.QuotaExceededError), cache.hold("busy", [None] * 3, limit=10):
            pass
        with cache.hold("busy", [None] * 2, limit=10):
            pass
    with cache.hold("busy", [None] * 5, limit=10):
        pass


class ApiServer:
    """What `KubeReservationStore.macs_in_namespace` would answer; counts the lists it serves."""

    def __init__(self, held: dict[str, set[int]]) -> None:
        self.held = held
        self.lists = 0

    def macs_in(self, namespace: str) -> set[int]:
        self.lists += 1
        return set(self.held.get(namespace, set()))


def lagging(api: ApiServer) -> ReservationCache:
    """A cache that has listed once, before anything was reserved: the watch has not caught up."""
    cache = ReservationCache(namespace_macs=api.macs_in)
    cache.begin_listing()
    cache.end_listing()
    return cache


def test_near_the_limit_the_count_comes_from_the_api_server_not_the_lagging_cache() -> None:
    """Another replica reserved 60 a moment ago: a sequence of requests still stops at the limit."""
    api = ApiServer({"ns1": {mac(n).value for n in range(60)}})
    cache = lagging(api)
    with pytest.raises(limits.QuotaExceededError) as refused, cache.hold("ns1", [None] * 8, limit=64):
        pass
    assert 'namespace "ns1" holds 60' in str(refused.value)
    with cache.hold("ns1", [None] * 4, limit=64):
        pass


def test_near_the_limit_a_reinvocation_is_not_charged_for_what_it_reserved_itself() -> None:
    mine = [mac(n) for n in range(60, 64)]
    api = ApiServer({"ns1": {mac(n).value for n in range(64)}})  # the first call's 4 are in
    with lagging(api).hold("ns1", mine, limit=64):
        pass


def test_far_from_the_limit_the_cache_is_trusted() -> None:
    api = ApiServer({})
    cache = lagging(api)
    with cache.hold("ns1", [None] * 8, limit=limits.MAX_INTERFACES + 8):
        pass
    assert api.lists == 0
    with cache.hold("ns1", [None] * 8, limit=limits.MAX_INTERFACES + 7):
        pass
    assert api.lists == 1


def test_quota_cannot_be_counted_before_the_first_listing() -> None:
    with pytest.raises(limits.QuotaUnavailableError) as refused, ReservationCache().hold("ns", [None], 10):
        pass
    assert refused.value.code == 503


# ---- MACs existing objects carry before the audit adopts them ---------------------------------


def test_a_scanning_cache_is_not_synced_until_the_carried_macs_are_loaded_too() -> None:
    cache = ReservationCache(carried_scan=True)
    cache.begin_listing()
    cache.upsert(reservation(1))
    cache.end_listing()
    assert not cache.synced
    unscanned = pytest.raises(limits.QuotaUnavailableError, match="MACs existing VMs carry")
    with unscanned, cache.hold("ns", [None], 10):
        pass
    cache.note_carried([(mac(2).value, "ns")])
    assert cache.synced
    assert cache.taken(mac(1))
    assert cache.taken(mac(2))
    assert not cache.taken(mac(3))


def test_allocation_passes_over_a_mac_an_unadopted_vm_carries() -> None:
    layout = macs.PoolLayout(macs.DEFAULT_PREFIXES, (0x12, 0x34))
    first_pick = next(macs.candidates(layout, random.Random(7)))
    cache = ReservationCache(carried_scan=True)
    cache.begin_listing()
    cache.end_listing()
    cache.note_carried([(first_pick.value, "ns")])  # no reservation: the audit has not adopted it yet
    holder = Holder("VirtualMachine", "ns", "vm", "", claim="c1")

    store = MemoryReservationStore()
    blind = Allocator(store, rng=random.Random(7)).allocate(layout, holder, "nic")
    assert blind.reservation.mac == first_pick  # what the walk picks when nobody tells it

    store = MemoryReservationStore()
    seeing = Allocator(store, rng=random.Random(7), known_taken=cache.taken).allocate(layout, holder, "nic")
    assert seeing.reservation.mac != first_pick
    spare = Allocator(store, rng=random.Random(7), known_taken=cache.taken).make_spare(layout, "r1")
    assert spare.mac != first_pick


def test_carried_macs_are_forgotten_once_reserved() -> None:
    cache = ReservationCache(carried_scan=True)
    cache.begin_listing()
    cache.end_listing()
    cache.note_carried([(mac(1).value, "ns"), (mac(2).value, "ns")])
    cache.upsert(reservation(1))  # adopted
    cache.prune_carried()
    assert cache.unadopted == 1
    assert cache.taken(mac(1))
    assert cache.taken(mac(2))


def test_another_namespace_cannot_claim_a_mac_an_unadopted_vm_carries() -> None:
    cache = ReservationCache(carried_scan=True)
    cache.begin_listing()
    cache.end_listing()
    # mac(1): a VM of "victim" existed before the allocator; mac(2): VMs of two namespaces carry it.
    cache.note_carried([(mac(1).value, "victim"), (mac(2).value, "victim"), (mac(2).value, "other")])
    assert cache.carried_in(mac(1)) == "victim"
    assert cache.carried_in(mac(2)) == SEVERAL
    store = MemoryReservationStore()
    ctx = replace(context(store), quota=cache)
    ctx.allocator.carrier_namespace = cache.carried_in

    def claim(ns: str, text: str) -> Allowed | Denied:
        obj = vm("thief", ns=ns, macs_by_iface={"nic": text})
        return mutate(AdmissionRequest("CREATE", "VirtualMachine", obj), ctx)

    stolen = claim("tenant", str(mac(1)))
    assert isinstance(stolen, Denied)
    assert stolen.code == 409
    assert f"MAC {mac(1)} is in use by a VM or VMI of another namespace" in stolen.message
    assert "victim" not in stolen.message  # nothing of the other namespace is named
    assert store.calls["create"] == 0  # and nothing was reserved for the thief
    assert isinstance(claim("victim", str(mac(2))), Denied)  # several carry it: nobody may claim it
    # The carrier's own namespace may (a VMI its VM starts, a VM recreated from its manifest) ...
    assert isinstance(claim("victim", str(mac(1))), Allowed)
    # ... and once the audit adopted a MAC, the reservation decides, as for any other.
    cache.upsert(reservation(1, "victim"))
    assert cache.carried_in(mac(1)) is None


def test_admission_over_the_quota_is_denied_before_any_write() -> None:
    store = MemoryReservationStore()
    cache = synced(*(reservation(n, "ns1") for n in range(4)))
    ctx = replace(context(store, max_reservations_per_namespace=5), quota=cache)
    request = AdmissionRequest("CREATE", "VirtualMachine", vm(macs_by_iface={"a": None, "b": None}))
    decision = mutate(request, ctx)
    assert isinstance(decision, Denied)
    assert decision.code == 403
    assert 'namespace "ns1" holds 4' in decision.message
    assert sum(store.calls.values()) == 0
    other = AdmissionRequest("CREATE", "VirtualMachine", vm(ns="ns2", macs_by_iface={"a": None, "b": None}))
    assert isinstance(mutate(other, ctx), Allowed)


# ---- memory: 50,000 reservations inside the chart's limit -----------------------------------------

SCALE = 50_000


def _chart_memory_limit() -> int:
    text = yaml.safe_load(CHART_VALUES.read_text())["resources"]["limits"]["memory"]
    number, unit = re.fullmatch(r"(\d+)(Mi|Gi)", text).groups()  # type: ignore[union-attr]
    return int(number) * {"Mi": 2**20, "Gi": 2**30}[unit]


def _uid(n: int) -> str:
    return f"{n:08x}-0000-4000-8000-000000000000"  # as long as a real UID


def _watch_events(count: int) -> Iterator[dict[str, Any]]:
    """Reservations as the watch delivers them, one dict at a time (none is kept by the feeder):
    two interfaces per VM, 100 namespaces. Built by hand, not through `Reservation.to_object`, so
    the test spends its time in the cache rather than in making data."""
    for n in range(count):
        text = str(mac(n))
        yield {
            "apiVersion": "vmo.dev/v1alpha1",
            "kind": "MACReservation",
            "metadata": {
                "name": "mac-" + text.replace(":", ""),
                "uid": _uid(SCALE + n),
                "resourceVersion": str(100_000 + n),
                "labels": {"macpool.vmo.dev/state": "Committed"},
            },
            "spec": {
                "mac": text,
                "state": "Committed",
                "holder": {
                    "kind": "VirtualMachine",
                    "namespace": f"ns-{n // 2 % 100}",
                    "name": f"vm-{n // 2:06d}",
                    "uid": _uid(n // 2),
                    "claim": f"{n // 2:016x}",
                },
                "interface": ("nic", "nic2")[n % 2],
                "reservedAt": "2026-01-01T00:00:00.000Z",
                "committedAt": "2026-01-01T00:00:01.000Z",
            },
        }


class Carriers:
    """The VMs behind the reservations, streamed as the audit lists them."""

    def list_objects(self, kind: str) -> Iterator[Mapping[str, Any]]:
        if kind != "VirtualMachine":
            return
        for n in range(0, SCALE, 2):
            ifaces = [
                {"name": "nic", "macAddress": str(mac(n))},
                {"name": "nic2", "macAddress": str(mac(n + 1))},
            ]
            meta = {"name": f"vm-{n // 2:06d}", "namespace": f"ns-{n // 2 % 100}", "uid": _uid(n // 2)}
            yield {
                "metadata": meta,
                "spec": {"template": {"spec": {"domain": {"devices": {"interfaces": ifaces}}}}},
            }


def test_fifty_thousand_reservations_and_an_audit_round_fit_the_chart_memory_limit() -> None:
    """What a replica holds per reservation, and the peak of one audit round over all of them.

    The live figure (a replica's RSS with 50,000 reservations) is `make bench`'s; here the replica's
    own structures are measured, and must leave more than half the limit to the interpreter, its
    libraries and the requests in flight.
    """
    gc.collect()
    tracemalloc.start()
    try:
        cache = ReservationCache()
        cache.begin_listing()
        for obj in _watch_events(SCALE):
            cache.upsert(obj)
        cache.end_listing()
        gc.collect()
        retained, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        report = audit.run_audit(
            CacheListedStore(MemoryReservationStore(), cache),
            Carriers(),
            layout=macs.PoolLayout((0x02,), (0x12, 0x34)),
            grace_seconds=300,
            clock=lambda: T0,
        )
        _, audit_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(cache) == SCALE
    assert report.usage.allocated == SCALE
    assert report.execution == ExecutionReport()  # everything in order: the round plans no write
    per_reservation = retained / SCALE
    assert per_reservation < 1024, f"{per_reservation:.0f} bytes per cached reservation"
    # The peak includes the cache itself: everything the replica's MAC pool held at the worst moment.
    assert audit_peak < _chart_memory_limit() / 2, f"{audit_peak / 2**20:.0f} MiB at the audit's peak"
