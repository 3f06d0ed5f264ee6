"""Allocation and release of MACs against reservations whose truth lives in the API server.

The allocator holds no state worth losing: every decision is a create-if-absent or a
resourceVersion-guarded replace on one reservation object, so any number of replicas may allocate
concurrently and a replica may die at any instruction. The worst a crash leaves behind is a
Pending reservation that the reconciler reclaims after the grace period.

The storage is a Protocol so the same logic runs against the API server (`store.KubeReservationStore`)
and against an in-memory fake in unit tests.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

from vmo_operator.macpool import mac as macs
from vmo_operator.macpool.deadline import NO_DEADLINE, Deadline
from vmo_operator.macpool.reservation import Holder, Reservation, previous_incarnation, same_holder
from vmo_operator.macpool.spares import SparePool, spare

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


class ReservationStore(Protocol):
    """One reservation object per MAC. Methods raise on transport errors; conflicts are values."""

    def create(self, reservation: Reservation) -> Reservation | None:
        """Create if absent; the stored reservation, or None when the MAC's object already exists."""

    def get(self, mac: macs.Mac) -> Reservation | None:
        """The stored reservation, or None when there is none."""

    def replace(self, reservation: Reservation) -> Reservation | None:
        """Overwrite if `reservation.resource_version` is still current; None when it changed or vanished."""

    def delete(self, reservation: Reservation) -> bool:
        """Delete if uid and resourceVersion still match; False when it changed or vanished."""

    def list(self) -> list[Reservation]:
        """Every readable reservation."""


class PoolExhaustedError(Exception):
    """No free MAC was found within the attempt budget."""


class ContendedError(Exception):
    """A reservation kept changing under us; the request should be retried by the client."""


@dataclass(frozen=True)
class Claimed:
    """The MAC is now held for the requester. `previous` is what a write replaced, for revert;
    `spare`: taken from this replica's spares without a write (revert gives it back)."""

    reservation: Reservation
    wrote: bool
    previous: Reservation | None = None
    spare: bool = False


@dataclass(frozen=True)
class HeldElsewhere:
    """Another live object holds the MAC."""

    reservation: Reservation


@dataclass(frozen=True)
class Quarantined:
    """Another namespace released the MAC, and its quarantine is not over."""

    reservation: Reservation


@dataclass(frozen=True)
class Unadopted:
    """An object of another namespace (or of several) carried the MAC before the allocator started,
    and the audit has not adopted it for that object yet."""

    mac: macs.Mac


Taken = HeldElsewhere | Quarantined | Unadopted
ClaimResult = Claimed | Taken


class Allocator:
    def __init__(
        self,
        store: ReservationStore,
        *,
        clock: Clock = utcnow,
        rng: random.Random | None = None,
        max_attempts: int = 64,
        known_taken: Callable[[macs.Mac], bool] = lambda _mac: False,
        carrier_namespace: Callable[[macs.Mac], str | None] = lambda _mac: None,
        spares: SparePool | None = None,
    ) -> None:
        self.store = store
        self.spares = spares  # this replica's spares: allocation without a write (`macpool.spares`)
        self.clock = clock
        # SystemRandom: replicas must not share a seed, or they would walk the pool in lockstep.
        self.rng = rng or random.SystemRandom()
        self.max_attempts = max_attempts
        self.known_taken = known_taken
        self.carrier_namespace = carrier_namespace

    def allocate(
        self,
        layout: macs.PoolLayout,
        holder: Holder,
        interface: str,
        *,
        dry_run: bool = False,
        exclude: Collection[macs.Mac] = (),
        deadline: Deadline = NO_DEADLINE,
        spares: bool = True,
    ) -> Claimed:
        """Reserve a fresh MAC from the pool for `holder`'s `interface`.

        Candidates come from a random walk; a 409 on create means somebody (maybe another replica
        an instant ago) holds it, so we move on. Released tombstones also answer 409, which is how
        a just-freed MAC stays out of automatic allocation. `exclude` holds MACs the same request
        claims for other interfaces concurrently: their reservation may not exist yet, and a
        claim by the same holder would accept one we had just created. Each attempt is one API
        call; none is started once `deadline` has passed (`DeadlineExceededError`). A spare of this
        replica, when one is ready and `spares` allows it (the namespace is far from its quota),
        costs no call at all.
        """
        now = self.clock()
        if spares and not dry_run and self.spares is not None:
            deadline.check()
            issued = self.spares.take(layout, holder, interface, exclude)
            if issued is not None:
                return Claimed(issued.as_pending(now), wrote=False, spare=True)
        known_taken = self.known_taken
        skip = (lambda mac: mac in exclude or known_taken(mac)) if exclude else known_taken
        walk = macs.candidates(layout, self.rng, skip=skip)
        for _attempt, mac in zip(range(self.max_attempts), walk, strict=False):
            deadline.check()
            proposal = Reservation(
                mac=mac, holder=holder, interface=interface, state="Pending", reserved_at=now
            )
            if dry_run:
                if self.store.get(mac) is None:
                    return Claimed(proposal, wrote=False)
                continue
            created = self.store.create(proposal)
            if created is not None:
                return Claimed(created, wrote=True)
        raise PoolExhaustedError(
            f"no free MAC found in {self.max_attempts} tries among prefixes "
            f"{', '.join(macs.format_prefix(p) for p in layout.prefixes)}; the pool is (nearly) full"
        )

    def claim(
        self,
        mac: macs.Mac,
        holder: Holder,
        interface: str,
        *,
        dry_run: bool = False,
        attempts: int = 4,
        quarantine_seconds: int | None = None,
        deadline: Deadline = NO_DEADLINE,
    ) -> ClaimResult:
        """Reserve a specific (user-chosen or kept) MAC for `holder`.

        Succeeds when the MAC is free, already the holder's, held by a previous incarnation of the
        same named object being re-created, or a Released tombstone of the holder's own namespace
        (deleting a VM and creating it again from its manifest keeps its MAC). A MAC that an object
        of another namespace carried before this replica started, and that nobody has reserved
        yet, is `Unadopted`: the audit adopts it for that object. A tombstone of
        another namespace stays `Quarantined` until `quarantine_seconds` after its release (until
        the audit deletes it when None): a MAC just freed by one tenant must not be taken at once
        by another, whose VM would receive the traffic still addressed to the old one. No write is
        started once `deadline` has passed.
        """
        deadline.check()
        existing = self.store.get(mac)
        for _ in range(attempts):
            deadline.check()
            now = self.clock()
            if existing is None:
                carrier = self.carrier_namespace(mac)
                if carrier is not None and carrier != holder.namespace:
                    return Unadopted(mac)
                proposal = Reservation(
                    mac=mac, holder=holder, interface=interface, state="Pending", reserved_at=now
                )
                if dry_run:
                    return Claimed(proposal, wrote=False)
                created = self.store.create(proposal)
                if created is not None:
                    return Claimed(created, wrote=True)
                existing = self.store.get(mac)
                continue
            if existing.held and same_holder(existing.holder, holder):
                return Claimed(existing, wrote=False)
            if existing.state == "Spare" and self.spares is not None:
                issued = self.spares.issued_to(mac, holder)  # a reinvocation of the request it went to
                if issued is not None:
                    return Claimed(issued.as_pending(now), wrote=False, spare=True)
            if existing.held and not previous_incarnation(existing.holder, holder):
                return HeldElsewhere(existing)
            if not existing.held and quarantined_from(existing, holder, now, quarantine_seconds):
                return Quarantined(existing)
            taken_over = existing.pending_for(holder, interface, now)
            if dry_run:
                return Claimed(taken_over, wrote=False)
            replaced = self.store.replace(taken_over)
            if replaced is not None:
                return Claimed(replaced, wrote=True, previous=existing)
            existing = self.store.get(mac)
        raise ContendedError(f"the reservation for MAC {mac} kept changing; retry")

    def make_spare(self, layout: macs.PoolLayout, replica: str) -> Reservation:
        """Create one spare for `replica`: the same random walk and create-if-absent as `allocate`."""
        walk = macs.candidates(layout, self.rng, skip=self.known_taken)
        for _attempt, mac in zip(range(self.max_attempts), walk, strict=False):
            created = self.store.create(spare(mac, replica, self.clock()))
            if created is not None:
                return created
        raise PoolExhaustedError(f"no free MAC found in {self.max_attempts} tries for a spare")

    def revert(self, claims: Iterable[Claimed]) -> None:
        """Undo this admission's writes after a later check denied it.

        Best effort: whatever is not undone here is a Pending reservation the reconciler reclaims
        after the grace period.
        """
        for claim in claims:
            if claim.spare and self.spares is not None:
                self.spares.give_back(claim.reservation.mac)  # nothing was written: free it again
            if not claim.wrote:
                continue
            if claim.previous is None:
                self.store.delete(claim.reservation)
            else:
                self.store.replace(
                    replace(
                        claim.previous,
                        resource_version=claim.reservation.resource_version,
                        uid=claim.reservation.uid,
                    )
                )

    def release(self, mac: macs.Mac, holder: Holder) -> Reservation | None:
        """Turn `holder`'s reservation of `mac` into a quarantined tombstone; None if not theirs."""
        for _ in range(4):
            existing = self.store.get(mac)
            if existing is None or not existing.held or not same_holder(existing.holder, holder):
                return None
            replaced = self.store.replace(existing.released(self.clock()))
            if replaced is not None:
                return replaced
        raise ContendedError(f"the reservation for MAC {mac} kept changing; retry")


def quarantined_from(tombstone: Reservation, holder: Holder, now: datetime, seconds: int | None) -> bool:
    """Whether a Released tombstone still keeps its MAC from `holder` (one of another namespace)."""
    if tombstone.holder.namespace == holder.namespace:
        return False
    return seconds is None or not tombstone.quarantine_over(now, seconds)
