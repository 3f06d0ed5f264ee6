"""Every MACReservation in the cluster, held by each replica as compactly as a watch allows.

A replica needs the reservations for three things: the VM event bookkeeping (which MAC a VM's
interface has, which MACs a deleted VM held), the namespace quota at admission (how many a
namespace holds), and the audit's reconcile round. One list-then-watch (`kube.watches`) feeds this
cache; nothing else keeps a copy. Per reservation it holds one `Reservation` (slots; kind,
namespace, interface and state interned) in a dict keyed by the MAC's integer, plus an entry in
the holder-UID index: about 800 bytes, so 50,000 reservations cost some 40 MiB, where kopf's
indexes and per-object records cost several KiB each (tests/unit/test_macpool_cache.py measures
it, `make bench` measures a live replica).

The cache may lag the API server by the watch latency. That is safe for every reader: the writes
planned from it are guarded by resourceVersion, and the quota trusts it only far from a limit.
Within one maximal request (`limits.MAX_INTERFACES`) of a namespace's limit, the quota counts
that namespace's reservations from the API server itself (`NamespaceMacs`, one label-selected
list), so a sequence of requests stops exactly at the limit whichever replica serves each. Only
requests running at the same moment on different replicas can overshoot it, each by what it
reserves.

A spare handed out at admission (`macpool.spares`) is still a Spare, of no namespace, in the API
server until its object is committed or it is handed over (seconds at most). Meanwhile this replica
counts it for its namespace (`note_issued`), until the watch shows it changed; other replicas
see it only once it is written. So spares go only to namespaces far from their limit (`hold`
says so): within a maximal request of it, admission writes each reservation before it answers,
as without spares. Another replica's handouts not yet written when a namespace comes near its
limit (per replica at most `spares.MAX_OUTSTANDING` or its pool size if larger, for
`spares.HANDOVER_SECONDS` at most) are what the quota may then overshoot by, besides the
concurrent requests above.

The reservations alone do not say which MACs are taken: VMs created before the operator (or while
its webhooks were absent) carry MACs nobody reserved until the audit adopts them, which at
10,000 VMs takes tens of seconds. So a replica that scans for carried MACs (`carried_scan`) counts
as synced only once the MACs every existing VM and bare VMI carries are loaded as well
(`note_carried`, from one list of each at start-up), and `taken` answers for both: automatic
allocation and spares never pick a MAC an existing object carries, even before it is adopted.
Answering earlier is how KubeMacPool hands out duplicates after a restart. Nor may another
namespace claim such a MAC by writing it into its own VM (`carried_in`): until the audit
has adopted it, a claim would win the reservation from the VM that carried the MAC first.

Thread-safe: the watch thread writes, admission threads and kopf's loop read.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from vmo_operator.macpool import limits
from vmo_operator.macpool import mac as macs
from vmo_operator.macpool.allocator import ReservationStore
from vmo_operator.macpool.reservation import Reservation

# Why a replica cannot answer yet: what admission and the quota say until the cache is synced.
LOADING = (
    "the MAC allocator is still loading its reservations and the MACs existing VMs carry; "
    "retry in a few seconds"
)

# An unadopted MAC that objects of more than one namespace carry (`carried_in`): no
# namespace may claim it before the audit has decided whose it is.
SEVERAL = "<several namespaces>"

# The MACs (integers) a namespace holds reservations for, read from the API server.
NamespaceMacs = Callable[[str], set[int]]


def _mac_value_of_name(name: object) -> int | None:
    """The MAC a reservation object is named after (`mac-<12 hex digits>`), or None."""
    if not isinstance(name, str) or not name.startswith("mac-") or len(name) != 16:
        return None
    try:
        return int(name[4:], 16)
    except ValueError:
        return None


class ReservationCache:
    def __init__(self, namespace_macs: NamespaceMacs | None = None, *, carried_scan: bool = False) -> None:
        self._namespace_macs = namespace_macs  # None: trust the cache even near a limit
        self._lock = threading.Lock()
        self._by_mac: dict[int, Reservation] = {}
        self._by_holder: dict[str, tuple[int, ...]] = {}  # holder UID -> MAC values
        # The Spare ones alone: the spare keeper asks for them on every tick, which a scan of every
        # reservation would make cost O(all reservations) per VM create.
        self._spares: dict[int, Reservation] = {}
        self._per_namespace: dict[str, int] = {}  # holder namespace -> reservations, any state
        self._in_flight: dict[str, int] = {}  # holder namespace -> admitted here, not yet finished
        self._issued: dict[int, str] = {}  # spare MAC value -> namespace it was handed out to
        self._issued_count: dict[str, int] = {}  # namespace -> spares handed out, not yet written
        self._listed: set[int] | None = None  # while a (re)list runs: the MACs it delivered
        # MACs existing objects carried at start-up, each with its carrier's namespace (SEVERAL
        # when objects of different namespaces carry it); once reserved they are only `_by_mac`'s.
        self._carried: dict[int, str] = {}
        self._listed_once = threading.Event()
        self._scanned = threading.Event()
        if not carried_scan:
            self._scanned.set()
        self._synced = threading.Event()  # listed once and, when asked for, scanned

    # ---- fed by the watch (one thread) ---------------------------------------------------------

    def begin_listing(self) -> None:
        """A full list starts; `end_listing` drops whatever it did not deliver (deleted meanwhile)."""
        with self._lock:
            self._listed = set()

    def end_listing(self) -> None:
        with self._lock:
            listed, self._listed = self._listed or set(), None
            for value in [v for v in self._by_mac if v not in listed]:
                self._drop(value)
        self._listed_once.set()
        self._sync_when_complete()

    def note_carried(self, carried: Iterable[tuple[int, str]]) -> None:
        """The MACs (integers) every existing VM and bare VMI carries, with the carrier's namespace:
        the start-up scan's result."""
        with self._lock:
            for value, namespace in carried:
                known = self._carried.setdefault(value, sys.intern(namespace))
                if known != namespace:
                    self._carried[value] = SEVERAL
        self._scanned.set()
        self._sync_when_complete()

    def prune_carried(self) -> None:
        """Forget the carried MACs that are reserved by now (the audit adopts them)."""
        with self._lock:
            if self._carried and self._synced.is_set():
                self._carried = {v: ns for v, ns in self._carried.items() if v not in self._by_mac}

    def _sync_when_complete(self) -> None:
        if self._listed_once.is_set() and self._scanned.is_set():
            self._synced.set()

    def upsert(self, obj: Mapping[str, Any]) -> None:
        value = _mac_value_of_name((obj.get("metadata") or {}).get("name"))
        if value is None:
            return  # not a reservation name: the API server's schema refuses it anyway
        try:
            reservation: Reservation | None = Reservation.from_object(obj)
        except ValueError:
            reservation = None  # not ours to interpret (store.list skips it too)
        with self._lock:
            if self._listed is not None:
                self._listed.add(value)
            self._drop(value)
            if reservation is not None:
                self._add(value, reservation)
            if reservation is None or reservation.state != "Spare":
                self._unnote(value)  # committed or handed over: counted under its namespace now

    def remove(self, obj: Mapping[str, Any]) -> None:
        value = _mac_value_of_name((obj.get("metadata") or {}).get("name"))
        if value is not None:
            with self._lock:
                self._drop(value)

    def note_issued(self, mac: macs.Mac, namespace: str) -> None:
        """A spare was handed out to `namespace`: count it there until it is written as its."""
        with self._lock:
            self._unnote(mac.value)
            self._issued[mac.value] = namespace
            self._issued_count[namespace] = self._issued_count.get(namespace, 0) + 1

    def settle_issued(self, mac: macs.Mac) -> None:
        """A handout is given back or settled: stop counting it here."""
        with self._lock:
            self._unnote(mac.value)

    def _unnote(self, value: int) -> None:
        namespace = self._issued.pop(value, None)
        if namespace is not None:
            _decrement(self._issued_count, namespace)

    def _add(self, value: int, reservation: Reservation) -> None:
        self._by_mac[value] = reservation
        if reservation.state == "Spare":
            self._spares[value] = reservation
        namespace = reservation.holder.namespace
        self._per_namespace[namespace] = self._per_namespace.get(namespace, 0) + 1
        if reservation.holder.uid:
            self._by_holder[reservation.holder.uid] = (
                *self._by_holder.get(reservation.holder.uid, ()),
                value,
            )

    def _drop(self, value: int) -> None:
        reservation = self._by_mac.pop(value, None)
        if reservation is None:
            return
        self._spares.pop(value, None)
        _decrement(self._per_namespace, reservation.holder.namespace)
        uid = reservation.holder.uid
        if uid:
            others = tuple(v for v in self._by_holder.get(uid, ()) if v != value)
            if others:
                self._by_holder[uid] = others
            else:
                self._by_holder.pop(uid, None)

    # ---- reading ---------------------------------------------------------------------------

    @property
    def synced(self) -> bool:
        """Whether a full list has been loaded (and the carried MACs, when scanned for): until then
        counts, snapshots and `taken` are incomplete."""
        return self._synced.is_set()

    def wait_synced(self, timeout: float) -> bool:
        return self._synced.wait(timeout)

    def __len__(self) -> int:
        return len(self._by_mac)

    def get(self, mac: macs.Mac) -> Reservation | None:
        return self._by_mac.get(mac.value)

    def taken(self, mac: macs.Mac) -> bool:
        """Whether `mac` is reserved, or carried by an object that existed at start-up (the random
        walks of allocation pass over it; the API server still decides on what they pick)."""
        return mac.value in self._by_mac or mac.value in self._carried

    def carried_in(self, mac: macs.Mac) -> str | None:
        """The namespace of the existing object that carries `mac` while nobody has reserved it
        (`SEVERAL` when objects of several carry it); None once reserved, or when none carries it."""
        if mac.value in self._by_mac:
            return None
        return self._carried.get(mac.value)

    @property
    def unadopted(self) -> int:
        """Carried MACs not reserved yet, as of the last `prune_carried`."""
        return len(self._carried)

    def held_by(self, holder_uid: str) -> list[Reservation]:
        """Every reservation recorded for the object with this UID (any state)."""
        with self._lock:
            return [self._by_mac[v] for v in self._by_holder.get(holder_uid, ()) if v in self._by_mac]

    def snapshot(self) -> list[Reservation]:
        with self._lock:
            return list(self._by_mac.values())

    def spares_of(self, replica: str | None) -> list[Reservation]:
        """The Spare reservations of `replica` (of every replica when None)."""
        with self._lock:
            return [r for r in self._spares.values() if replica is None or r.replica == replica]

    def count(self, namespace: str) -> int:
        with self._lock:
            return self._per_namespace.get(namespace, 0)

    def next_pending_expiry(self, grace_seconds: int) -> datetime | None:
        """When the oldest Pending reservation's grace period ends: the next orphan to collect."""
        with self._lock:
            oldest = min((r.reserved_at for r in self._by_mac.values() if r.state == "Pending"), default=None)
        return oldest + timedelta(seconds=grace_seconds) if oldest is not None else None

    # ---- the namespace quota (`limits.NamespaceQuota`) -------------------------------------------

    @contextmanager
    def hold(self, namespace: str, wanted: Sequence[macs.Mac | None], limit: int) -> Iterator[bool]:
        """Count `wanted` against `namespace` while the block runs (see `limits.NamespaceQuota`);
        the block gets whether the namespace is far from its limit (spares may be handed out).

        A MAC the namespace already has a reservation for costs nothing more (a webhook
        reinvocation, a claim of its own released MAC); a new or another namespace's MAC costs
        one, as does each MAC to allocate. Requests admitted by this replica count while they run.
        """
        with self._lock:
            if not self._synced.is_set():
                raise limits.QuotaUnavailableError(LOADING)
            held = (
                self._per_namespace.get(namespace, 0)
                + self._in_flight.get(namespace, 0)
                + self._issued_count.get(namespace, 0)
            )
            needed = _needed(
                wanted,
                lambda value: (
                    self._issued.get(value) == namespace
                    or ((r := self._by_mac.get(value)) is not None and r.holder.namespace == namespace)
                ),
            )
            near = held + needed > limit - limits.MAX_INTERFACES
            if not near or self._namespace_macs is None:
                self._admit(namespace, held, needed, limit)
        if near and self._namespace_macs is not None:
            # The cache may miss what another replica reserved a moment ago: ask the API server.
            fresh = self._namespace_macs(namespace)
            with self._lock:
                fresh |= {value for value, ns in self._issued.items() if ns == namespace}
            needed = _needed(wanted, fresh.__contains__)
            with self._lock:
                self._admit(namespace, len(fresh) + self._in_flight.get(namespace, 0), needed, limit)
        try:
            yield not near
        finally:
            with self._lock:
                _decrement(self._in_flight, namespace, needed)

    def _admit(self, namespace: str, held: int, needed: int, limit: int) -> None:
        if needed and held + needed > limit:
            raise limits.QuotaExceededError(limits.quota_message(namespace, held, needed, limit))
        self._in_flight[namespace] = self._in_flight.get(namespace, 0) + needed


def _needed(wanted: Sequence[macs.Mac | None], held: Callable[[int], bool]) -> int:
    """How many of `wanted` would be new to the namespace (`held` says which MACs it has)."""
    return sum(1 for mac in wanted if mac is None or not held(mac.value))


def _decrement(counts: dict[str, int], key: str, by: int = 1) -> None:
    left = counts.get(key, 0) - by
    if left > 0:
        counts[key] = left
    else:
        counts.pop(key, None)


class CacheListedStore:
    """A `ReservationStore` whose `list()` is the cache once it has synced; writes go to `store`.

    The audit lists every reservation each round; from the cache that costs no API request and
    no second copy of 50,000 objects in flight. Reads that decide a write (`get`) stay fresh.
    """

    def __init__(self, store: ReservationStore, cache: ReservationCache) -> None:
        self.store = store
        self.cache = cache

    def create(self, reservation: Reservation) -> Reservation | None:
        return self.store.create(reservation)

    def get(self, mac: macs.Mac) -> Reservation | None:
        return self.store.get(mac)

    def replace(self, reservation: Reservation) -> Reservation | None:
        return self.store.replace(reservation)

    def delete(self, reservation: Reservation) -> bool:
        return self.store.delete(reservation)

    def list(self) -> list[Reservation]:
        return self.cache.snapshot() if self.cache.synced else self.store.list()
