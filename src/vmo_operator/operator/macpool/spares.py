"""The spare keeper: this replica's Lease, and the background work of its spare pool.

`macpool.spares` says what spares are and why; this is the thread that keeps them. Each tick (at
once when admission takes a spare, else every `TICK_SECONDS`) it:

1. settles handouts the watch shows committed (the bookkeeping committed them, `bookkeeping`);
2. hands over handouts whose object has not been seen within `spares.HANDOVER_SECONDS`
   (Spare -> the holder's Pending, one resourceVersion-guarded write);
3. at most once per `TICK_SECONDS`, forgets free spares the cache shows are no longer this
   replica's (reclaimed by the GC leader while this replica could not renew its lease) and deletes
   Spares of this replica that the pool does not know (made before a restart of the keeper); then
4. follows the profile's pool size (`spec.macPool.sparesPerReplica`: free spares beyond it are
   deleted) and refills what was used, a few creates at a time, only while the lease is fresh.

The Lease is `LEASE_PREFIX` + the replica's identity, renewed every `RENEW_SECONDS`. Spares are
handed out only while the last renewal is younger than `ISSUE_WITHIN`: the lease less twice the
webhook timeout, so an object admitted with a spare is persisted (or refused) before any other
replica may consider the lease expired. Each time the lease is taken afresh (after it lapsed: a
paused or cut-off replica, whose spares others may have reclaimed meanwhile) a new term begins,
and the pool never hands out a spare of an earlier term; step 3 deletes those. The GC leader
calls `reclaim_dead` on its maintenance tick: it releases a dead replica's spares and deletes its
Lease. A clean stop hands every handout over, deletes the free spares and the Lease.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import structlog

from vmo_operator.kube import kinds
from vmo_operator.kube.client import KubeClient, KubeError
from vmo_operator.kube.lease import LeaderElection, LeaseKeeper, LeaseObserver
from vmo_operator.macpool import admission_config, reconcile, spares
from vmo_operator.macpool import mac as macs
from vmo_operator.macpool.allocator import Allocator, ReservationStore
from vmo_operator.macpool.cache import ReservationCache
from vmo_operator.macpool.reservation import Reservation

log = structlog.get_logger("vmo.macpool")

LEASE_PREFIX = "vmo-macpool-replica-"
LEASE_SECONDS = 20
RENEW_SECONDS = 4.0
ISSUE_WITHIN = LEASE_SECONDS - admission_config.TIMEOUT_SECONDS
TICK_SECONDS = 1.0
REFILL_WORKERS = 4


def lease_name(replica: str) -> str:
    return LEASE_PREFIX + replica


def _now() -> datetime:
    return datetime.now(UTC)


class SpareKeeper:
    def __init__(
        self,
        kube: KubeClient,
        store: ReservationStore,
        allocator: Allocator,
        cache: ReservationCache,
        *,
        namespace: str,
        replica: str,
        layout: Callable[[], macs.PoolLayout | None],
        target: Callable[[], int] = lambda: spares.TARGET,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kube, self.store, self.allocator, self.cache = kube, store, allocator, cache
        self.namespace = namespace
        self.replica = replica
        self.layout = layout
        self.target = target
        election = LeaderElection(
            kube, lease_name(replica), namespace, replica, duration_seconds=LEASE_SECONDS, clock=clock
        )
        self.lease = LeaseKeeper(election, period_seconds=RENEW_SECONDS)
        self._clock = clock
        self._swept = float("-inf")  # never yet
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.pool = spares.SparePool(
            replica,
            target=target(),
            may_issue=lambda: self.lease.renewed_within(ISSUE_WITHIN),
            term=lambda: election.term,
            clock=election.clock,
            on_issue=cache.note_issued,
            on_settle=cache.settle_issued,
            on_take=self._wake.set,
        )
        self.observer = LeaseObserver(kube, namespace, clock=clock)
        self._thread = threading.Thread(target=self._run, name="macpool-spares", daemon=True)
        self._refill = ThreadPoolExecutor(max_workers=REFILL_WORKERS, thread_name_prefix="macpool-spare")

    def start(self) -> SpareKeeper:
        self.lease.start()
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(TICK_SECONDS)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self.tick()
            except Exception as exc:  # the next tick retries; admission falls back to writing
                log.warning("spare pool upkeep failed", error=str(exc))

    # ---- one tick ----------------------------------------------------------------------------

    def tick(self) -> None:
        for issued in self.pool.issued_holders().values():
            current = self.cache.get(issued.spare.mac)
            if current is not None and current.state != "Spare":
                self.pool.settle(issued.spare.mac)
        for issued in self.pool.due():
            self._hand_over(issued)
        # Once a tick's time at most: a sweep reads the whole pool, and admission wakes the keeper
        # at every spare it takes.
        if self._clock() - self._swept >= TICK_SECONDS:
            self._swept = self._clock()
            self._sweep()
        for surplus in self.pool.resize(self.target()):
            self.store.delete(self.cache.get(surplus.mac) or surplus)  # the profile asked for fewer
        layout = self.layout()
        if layout is not None and self.cache.synced and self.lease.renewed_within(ISSUE_WITHIN):
            wanted = self.pool.shortfall()
            if wanted:
                made = self._refill.map(lambda _i: self._make(layout), range(wanted))
                for spare in made:
                    if spare is not None and not self.pool.add(spare):
                        self.store.delete(spare)  # stopping meanwhile

    def _make(self, layout: macs.PoolLayout) -> Reservation | None:
        try:
            return self.allocator.make_spare(layout, self.replica)
        except Exception as exc:
            log.warning("could not make a spare MAC reservation", error=str(exc))
            return None

    def _hand_over(self, issued: spares.Issued) -> None:
        """Spare -> the holder's Pending; settled when written or when it is no longer a spare."""
        mac = issued.spare.mac
        current = spares.refreshed(issued, self.cache.get(mac) or issued.spare)
        if current is None:
            self.pool.settle(mac)
            return
        if self.store.replace(current.as_pending(_now())) is not None:
            self.pool.settle(mac)
            return
        stored = self.store.get(mac)  # changed under us: committed by the bookkeeping, or reclaimed
        fresh = spares.refreshed(issued, stored)
        if fresh is None or self.store.replace(fresh.as_pending(_now())) is not None:
            self.pool.settle(mac)

    def _sweep(self) -> None:
        if not self.cache.synced:
            return
        known = self.pool.known()
        gone = []
        for value in known.free:
            current = self.cache.get(macs.Mac(value))
            if current is None or current.state != "Spare" or current.replica != self.replica:
                gone.append(macs.Mac(value))
        if gone:
            self.pool.drop(gone)
        for reservation in self.cache.spares_of(self.replica):
            value = reservation.mac.value
            if value not in known.free and value not in known.issued:
                self.store.delete(reservation)  # a spare this pool forgot: nobody may hand it out

    # ---- the GC leader's part ------------------------------------------------------------------

    def reclaim_dead(self) -> int:
        """Release the spares of every replica whose lease has expired; how many were released."""
        found = [r for r in self.cache.spares_of(None) if r.replica != self.replica]
        replicas = {r.replica for r in found}
        dead = {replica for replica in replicas if self.observer.observe(lease_name(replica))}
        self.observer.forget({lease_name(r) for r in replicas})
        actions = reconcile.plan_reclaim(found, dead.__contains__)
        if not actions:
            return 0
        report = reconcile.execute(actions, self.store, now=_now(), workers=REFILL_WORKERS)
        for error in report.errors:
            log.warning("spare reclaim failed", error=error)
        if not report.errors and not report.conflicts:
            for replica in dead:  # nothing of theirs is left to guard: their Leases go too
                try:
                    self.kube.delete(kinds.LEASE, lease_name(replica), self.namespace)
                except KubeError as exc:
                    log.warning("could not delete a dead replica's lease", replica=replica, error=str(exc))
        return report.applied.get("Release", 0)

    # ---- stopping ------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop handing out; hand over what was handed out, delete free spares and the Lease (blocking)."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        free, handed_out = self.pool.close()
        for issued in handed_out:
            try:
                self._hand_over(issued)
            except KubeError as exc:
                log.warning("could not hand a spare over", mac=str(issued.spare.mac), error=str(exc))
        for spare in free:
            current = self.cache.get(spare.mac) or spare
            try:
                self.store.delete(current)
            except KubeError as exc:
                log.warning("could not delete a spare", mac=str(spare.mac), error=str(exc))
        self.lease.stop()
        self._refill.shutdown(wait=False)
        try:
            self.kube.delete(kinds.LEASE, lease_name(self.replica), self.namespace)
        except KubeError as exc:
            log.warning("could not delete the replica lease", error=str(exc))
