"""One leader among replicas, by a coordination.k8s.io Lease, for work that is safe but wasteful twice.

Every write the leader makes must stay guarded by its own precondition (resourceVersion, create-
if-absent): leadership here only keeps replicas from doing the same work side by side, it is not
a lock. So the rules are client-go's, simplified: a replica leads while its last renewal is
younger than the lease duration; another replica takes the lease over once it has watched the
record stand unchanged for a whole duration (measured on its own monotonic clock, so clock skew
between nodes does not matter); a replica that stops cleanly empties the holder, so a successor
takes over at its next attempt instead of a duration later.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import structlog

from vmo_operator.kube import kinds
from vmo_operator.kube.client import KubeClient, KubeError
from vmo_operator.kube.objects import Manifest

log = structlog.get_logger("vmo.lease")

Clock = Callable[[], float]


def _micro_time() -> str:
    """A MicroTime as the Lease API writes it."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElection:
    """Acquire or renew one Lease, one attempt per call; blocking (run it in a thread)."""

    def __init__(
        self,
        kube: KubeClient,
        name: str,
        namespace: str,
        identity: str,
        *,
        duration_seconds: int = 15,
        clock: Clock = time.monotonic,
    ) -> None:
        self.kube = kube
        self.name = name
        self.namespace = namespace
        self.identity = identity
        self.duration = duration_seconds
        self.clock = clock
        self._observed: tuple[str, str] | None = None  # (holder, renewTime) last seen
        self._observed_at = 0.0
        self._renewed_at: float | None = None
        # Counts the times this replica took the lease afresh (first, or after it had lapsed):
        # whatever others may have done while it had lapsed, a new term does not inherit.
        self.term = 0

    @property
    def is_leader(self) -> bool:
        """Whether this replica renewed the lease less than a duration ago."""
        renewed = self._renewed_at
        return renewed is not None and self.clock() - renewed < self.duration

    def renewed_within(self, seconds: float) -> bool:
        """Whether this replica's last renewal (timed from before its request) is younger than `seconds`."""
        renewed = self._renewed_at
        return renewed is not None and self.clock() - renewed < seconds

    def attempt(self) -> bool:
        """Acquire or renew the lease; whether this replica now leads."""
        now = self.clock()
        lease = self.kube.get(kinds.LEASE, self.name, self.namespace)
        if lease is None:
            return self._write(self._lease(transitions=0), create=True, now=now)
        spec = lease.get("spec") or {}
        holder = str(spec.get("holderIdentity") or "")
        observed = (holder, str(spec.get("renewTime") or ""))
        if observed != self._observed:
            self._observed, self._observed_at = observed, now
        if holder and holder != self.identity and now - self._observed_at < self.duration:
            self._renewed_at = None
            return False  # somebody else renews it
        transitions = int(spec.get("leaseTransitions") or 0) + (holder != self.identity)
        desired = self._lease(transitions)
        desired["metadata"]["resourceVersion"] = lease["metadata"]["resourceVersion"]
        if holder == self.identity:
            desired["spec"]["acquireTime"] = spec.get("acquireTime") or desired["spec"]["acquireTime"]
        return self._write(desired, create=False, now=now)

    def release(self) -> None:
        """Step down: empty the holder so the next replica takes over without waiting a duration."""
        if self._renewed_at is None:
            return
        self._renewed_at = None
        lease = self.kube.get(kinds.LEASE, self.name, self.namespace)
        if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
            return
        lease["spec"]["holderIdentity"] = ""
        try:
            self.kube.replace(kinds.LEASE, lease)
        except KubeError as exc:
            if exc.status not in (404, 409):
                raise

    def _lease(self, transitions: int) -> Manifest:
        now = _micro_time()
        return {
            "apiVersion": kinds.LEASE.api_version,
            "kind": kinds.LEASE.kind,
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": self.duration,
                "acquireTime": now,
                "renewTime": now,
                "leaseTransitions": transitions,
            },
        }

    def _write(self, lease: Manifest, *, create: bool, now: float) -> bool:
        try:
            if create:
                self.kube.create(kinds.LEASE, lease)
            else:
                self.kube.replace(kinds.LEASE, lease)
        except KubeError as exc:
            if exc.status != 409:
                raise
            self._renewed_at = None  # another replica wrote first: it leads
            return False
        if not self.is_leader:
            self.term += 1
        self._renewed_at = now
        return True


class LeaseObserver:
    """Whether other replicas' leases still live, by client-go's rule: a lease whose record (holder,
    renewTime) this observer has watched stand unchanged for its whole duration, on its own
    monotonic clock, has expired; so has one that is absent or has no holder (stepped down).

    Blocking reads (one GET per lease and call of `observe`); run it in a thread.
    """

    def __init__(self, kube: KubeClient, namespace: str, *, clock: Clock = time.monotonic) -> None:
        self.kube = kube
        self.namespace = namespace
        self.clock = clock
        self._seen: dict[str, tuple[tuple[str, str], float, float]] = {}  # name -> (record, since, duration)

    def observe(self, name: str) -> bool:
        """Read lease `name` now; whether it has expired."""
        lease = self.kube.get(kinds.LEASE, name, self.namespace)
        if lease is None:
            self._seen.pop(name, None)
            return True
        spec = lease.get("spec") or {}
        record = (str(spec.get("holderIdentity") or ""), str(spec.get("renewTime") or ""))
        if not record[0]:
            return True
        now = self.clock()
        duration = float(spec.get("leaseDurationSeconds") or 15)
        seen = self._seen.get(name)
        if seen is None or seen[0] != record:
            self._seen[name] = (record, now, duration)
            return False
        return now - seen[1] >= duration

    def forget(self, keep: set[str]) -> None:
        """Drop what was observed of leases not in `keep` (their spares are gone)."""
        for name in [n for n in self._seen if n not in keep]:
            del self._seen[name]


class LeaseKeeper:
    """A thread that attempts the lease every `period` seconds and releases it when stopped."""

    def __init__(self, election: LeaderElection, *, period_seconds: float = 5.0) -> None:
        self.election = election
        self.period = period_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{election.name}", daemon=True)

    @property
    def is_leader(self) -> bool:
        return self.election.is_leader

    def renewed_within(self, seconds: float) -> bool:
        return self.election.renewed_within(seconds)

    def start(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop attempting and step down (blocking: one or two API requests)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.period + 10)
        try:
            self.election.release()
        except KubeError as exc:
            log.warning("could not release the lease", lease=self.election.name, error=str(exc))

    def _run(self) -> None:
        leading = False
        while not self._stop.is_set():
            try:
                now_leading = self.election.attempt()
            except KubeError as exc:
                log.warning("lease attempt failed", lease=self.election.name, error=str(exc))
                now_leading = self.election.is_leader
            if now_leading != leading:
                log.info("leadership changed", lease=self.election.name, leader=now_leading)
                leading = now_leading
            self._stop.wait(self.period)
