"""Spare reservations: MACs a replica reserved ahead of demand, so admission writes nothing.

A create through the API server (an etcd write) costs more than the rest of an admission together.
So each replica keeps a small pool of `MACReservation` objects in state Spare, labelled with its
identity (`reservation.SPARE_OF_LABEL`). Each was made by create-if-absent like any reservation,
so uniqueness stays the API server's: no other replica can make or allocate the same MAC, and the
only replica that hands a spare out is the one that made it, once (`SparePool.take` removes it
from the pool under a lock). Admission takes a spare from memory and answers at once; everything
else happens after the answer, in the background (`operator/macpool/spares.py`):

- **adopted on commit**: when the watch shows the object persisted with the MAC, the issuing
  replica's bookkeeping commits the spare to it (one write, the same commit a Pending gets);
- **handed over**: a spare whose object is not seen within `HANDOVER_SECONDS` becomes a Pending
  reservation of its holder, and from there the usual rules apply (grace period, tombstone);
- **refilled only when used**: one new spare per one handed out, so an idle cluster writes nothing;
  while admission keeps taking spares, in the first pause of `REFILL_PAUSE_SECONDS` or once the
  pool is down to half, so a burst's creates do not meet the refills in the API server;
- **reclaimed when the replica dies**: every replica renews a Lease of its own, and stops handing
  spares out once its last renewal is older than the lease less the admission deadline. The GC
  leader turns the spares of a replica whose lease it has watched stand still for a whole duration
  into Released tombstones (`reconcile.plan_reclaim`). A tombstone keeps the MAC out of allocation for the
  grace period; one the dead replica had handed out is inherited by the object that carries it,
  whatever its namespace (no tenant ever held it), so a spare is never handed out twice.

The tenant rules hold on the fast path: the namespace quota counts a handed-out spare for its
namespace from the moment it is taken (`ReservationCache.note_issued`) until the cache shows it
committed or handed over, and spares go only to namespaces far from their limit (near it, other
replicas could not count a handout yet, so admission writes first, as without spares); a spare
is taken only before the admission deadline; a spare handed back by a denied request returns to
the pool without a write.

Framework-free and thread-safe: admission threads take and give back, the keeper thread refills.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from vmo_operator.macpool import mac as macs
from vmo_operator.macpool.reservation import VM_KIND, Holder, Reservation, same_holder

if TYPE_CHECKING:
    from vmo_operator.macpool.reconcile import Carrier

# Spares each replica keeps ready unless the profile says otherwise (`spec.macPool.sparesPerReplica`):
# a burst needing this many MACs at once is served without a write. 64: 50 concurrent creates of
# 2-NIC VMs spread over 2 replicas keep some 50 MACs in flight on each.
TARGET = 64
# At least this many, and at most the pool's target beyond it, handed out and not yet committed or
# handed over: past that admission writes synchronously, so a flood of creates that never persist
# cannot grow an unbounded backlog. It also bounds what another replica's quota cannot see yet.
MAX_OUTSTANDING = 64
# How long a handed-out spare waits for its object before it becomes its holder's Pending reservation.
HANDOVER_SECONDS = 2.0
# Refills wait while admission is busy: until no spare was taken for this long, or until the pool
# is down to half. A burst of creates then meets only their commits in the API server, not the
# refills too, and the pool is topped up in the pause after it.
REFILL_PAUSE_SECONDS = 1.0

# Who a spare belongs to until it is handed out: nobody's, in no namespace.
NOBODY = Holder(kind=VM_KIND, namespace="")

Clock = Callable[[], float]


def spare(mac: macs.Mac, replica: str, now: datetime) -> Reservation:
    """The reservation a replica creates to keep `mac` ready."""
    return Reservation(mac=mac, holder=NOBODY, interface="", state="Spare", reserved_at=now, replica=replica)


@dataclass(frozen=True, slots=True)
class Issued:
    """A spare handed out at admission and not yet committed or handed over."""

    spare: Reservation  # as stored: its resourceVersion guards the write that settles it
    holder: Holder
    interface: str
    at: float  # when, on the pool's clock
    term: int = 0  # the lease term the spare was added in

    def as_pending(self, now: datetime) -> Reservation:
        """The holder's Pending reservation this spare becomes (the handover write)."""
        return self.spare.pending_for(self.holder, self.interface, now)


@dataclass(frozen=True)
class Known:
    free: frozenset[int]
    issued: frozenset[int]


class SparePool:
    """One replica's spares: free ones ready to take, and the ones handed out but not settled."""

    def __init__(
        self,
        replica: str,
        *,
        target: int = TARGET,
        max_outstanding: int = MAX_OUTSTANDING,
        may_issue: Callable[[], bool] = lambda: True,
        term: Callable[[], int] = lambda: 0,
        clock: Clock,
        on_issue: Callable[[macs.Mac, str], None] = lambda _mac, _namespace: None,
        on_settle: Callable[[macs.Mac], None] = lambda _mac: None,
        on_take: Callable[[], None] = lambda: None,
    ) -> None:
        self.replica = replica
        self.target = target
        self._outstanding_floor = max_outstanding
        self.max_outstanding = max(max_outstanding, target)
        self.may_issue = may_issue  # the replica's lease is fresh enough to hand spares out
        # The lease's term: a spare added in an earlier term may have been reclaimed while the
        # lease had lapsed (a paused or cut-off replica), so it is never handed out (`take`).
        self.term = term
        self.clock = clock
        self._on_issue, self._on_settle, self._on_take = on_issue, on_settle, on_take
        self._lock = threading.Lock()
        self._free: deque[tuple[int, Reservation]] = deque()  # (term it was added in, spare)
        self._issued: dict[int, Issued] = {}
        self._last_take = float("-inf")
        self._closed = False

    # ---- admission (any thread) ------------------------------------------------------------

    def take(
        self, layout: macs.PoolLayout, holder: Holder, interface: str, exclude: Collection[macs.Mac] = ()
    ) -> Issued | None:
        """A spare for `holder`'s `interface`, or None (admission then allocates with a write)."""
        if not self.may_issue():
            return None
        term = self.term()
        with self._lock:
            if self._closed or len(self._issued) >= self.max_outstanding:
                return None
            for _ in range(len(self._free)):
                added_in, candidate = self._free.popleft()
                if added_in != term:
                    continue  # forgotten: the keeper deletes it unless it was reclaimed meanwhile
                if not layout.contains(candidate.mac) or candidate.mac in exclude:
                    self._free.append((added_in, candidate))  # another layout's, or this request's
                    continue
                issued = Issued(candidate, holder, interface, self.clock(), added_in)
                self._issued[candidate.mac.value] = issued
                self._last_take = issued.at
                break
            else:
                return None
        self._on_issue(candidate.mac, holder.namespace)
        self._on_take()
        return issued

    def give_back(self, mac: macs.Mac) -> None:
        """A request that took this spare was denied or ran out of time: it is free again."""
        with self._lock:
            issued = self._issued.pop(mac.value, None)
            if issued is not None and not self._closed:
                self._free.appendleft((issued.term, issued.spare))
        if issued is not None:
            self._on_settle(mac)

    def issued_to(self, mac: macs.Mac, holder: Holder) -> Issued | None:
        """The handout of `mac` to `holder` (a webhook reinvocation or the commit), if it is one."""
        with self._lock:
            issued = self._issued.get(mac.value)
        return issued if issued is not None and same_holder(issued.holder, holder) else None

    def issued_holders(self) -> Mapping[int, Issued]:
        with self._lock:
            return dict(self._issued)

    # ---- the keeper (one thread) -------------------------------------------------------------

    def shortfall(self) -> int:
        """How many spares to make now: what was used, so an idle replica makes none; and while
        admission is taking spares, nothing until the pool is down to half (`REFILL_PAUSE_SECONDS`)."""
        term = self.term()
        with self._lock:
            if self._closed:
                return 0
            self._free = deque((t, r) for t, r in self._free if t == term)  # forget earlier terms'
            missing = max(0, self.target - len(self._free))
            busy = self.clock() - self._last_take < REFILL_PAUSE_SECONDS
            return 0 if busy and 2 * len(self._free) > self.target else missing

    def resize(self, target: int) -> list[Reservation]:
        """Keep `target` spares from now on; the free ones beyond it, for the keeper to delete."""
        with self._lock:
            self.target = target
            self.max_outstanding = max(self._outstanding_floor, target)
            surplus = []
            while len(self._free) > target:
                surplus.append(self._free.pop()[1])  # the newest: the oldest go out first anyway
            return surplus

    def add(self, reservation: Reservation) -> bool:
        """Put a newly made spare in the pool; False once the pool is closed (delete it then)."""
        if reservation.state != "Spare" or reservation.replica != self.replica:
            raise ValueError(f"reservation {reservation.name} is not a spare of replica {self.replica}")
        with self._lock:
            if self._closed:
                return False
            self._free.append((self.term(), reservation))
            return True

    def due(self, handover_seconds: float = HANDOVER_SECONDS) -> list[Issued]:
        """Handouts whose object has not been seen within `handover_seconds`: to hand over."""
        cutoff = self.clock() - handover_seconds
        with self._lock:
            return [issued for issued in self._issued.values() if issued.at <= cutoff]

    def settle(self, mac: macs.Mac) -> None:
        """A handout is committed or handed over: the spare is the holder's reservation now."""
        with self._lock:
            issued = self._issued.pop(mac.value, None)
        if issued is not None:
            self._on_settle(mac)

    def known(self) -> Known:
        """Every spare this pool holds, free or handed out, read at one instant."""
        with self._lock:
            return Known(frozenset(r.mac.value for _, r in self._free), frozenset(self._issued))

    def drop(self, macs_gone: Iterable[macs.Mac]) -> None:
        """Free spares that are no longer ours to hand out (deleted, or changed by someone else)."""
        gone = {mac.value for mac in macs_gone}
        with self._lock:
            self._free = deque((t, r) for t, r in self._free if r.mac.value not in gone)

    def close(self) -> tuple[list[Reservation], list[Issued]]:
        """Stop handing out (the replica stops); the free spares to delete and handouts to hand over."""
        with self._lock:
            self._closed = True
            free, self._free = [r for _, r in self._free], deque()
            return free, list(self._issued.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._free)

    @property
    def outstanding(self) -> int:
        with self._lock:
            return len(self._issued)


def refreshed(issued: Issued, current: Reservation | None) -> Issued | None:
    """The handout with the spare as now stored, or None when it is not a spare of ours any more."""
    if current is None or current.state != "Spare" or current.replica != issued.spare.replica:
        return None
    return replace(issued, spare=current)


def as_handed_out(
    carriers: Iterable[Carrier],
    reserved: Mapping[macs.Mac, Reservation],
    *,
    issued_to: Callable[[macs.Mac, Holder], Issued | None] | None,
    granted: Mapping[str, macs.Mac],
) -> dict[macs.Mac, Reservation]:
    """`reserved`, with each spare handed out to a carrier shown as the carrier's Pending, so the
    bookkeeping commits it (adopted on commit).

    Handed out by this replica: its pool says so (`issued_to`). By another replica, which may have
    died before it could commit: the object's grant says so (`granted`: the pairs a valid, fresh
    grant covers), signed by the mutating webhook that handed the spare out. Without either, a
    Spare stays its replica's, and only `reconcile.plan_reclaim` ever takes it from it.
    """
    shown = dict(reserved)
    for carrier in carriers:
        current = reserved.get(carrier.mac)
        if current is None or current.state != "Spare":
            continue
        issued = issued_to(carrier.mac, carrier.holder) if issued_to is not None else None
        if issued is not None and current.replica == issued.spare.replica:
            shown[carrier.mac] = current.pending_for(issued.holder, issued.interface, current.reserved_at)
        elif granted.get(carrier.interface) == carrier.mac:
            shown[carrier.mac] = current.pending_for(carrier.holder, carrier.interface, current.reserved_at)
    return shown
