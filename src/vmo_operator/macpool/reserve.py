"""Carrying an admission plan out against the allocator: every new MAC claimed, every missing one
allocated, all of an object's interfaces at once and all or nothing (see `reserve`).
"""

from __future__ import annotations

from collections.abc import Mapping

from vmo_operator.macpool import duplicates, limits
from vmo_operator.macpool import mac as macs
from vmo_operator.macpool.allocator import (
    Claimed,
    ContendedError,
    PoolExhaustedError,
    Taken,
)
from vmo_operator.macpool.deadline import DeadlineExceededError
from vmo_operator.macpool.fanout import Task, in_turn
from vmo_operator.macpool.request import AdmissionRequest, Context, Denied, Plan, Slot
from vmo_operator.macpool.reservation import Holder


def reserve(
    request: AdmissionRequest,
    ctx: Context,
    holder: Holder,
    planned: Plan,
    *,
    allocate: bool,
    covered: Mapping[str, macs.Mac] | None = None,
) -> tuple[list[Slot], list[Claimed], list[str], dict[str, macs.Mac]] | Denied:
    """Claim every new MAC and (when mutating) allocate the missing ones; all or nothing.

    The claims and allocations of one object run together through `ctx.fan_out`, so an object
    with several interfaces costs one round trip to the API server, not one per interface. Only
    once all have finished is the outcome judged, and every write undone if any was refused.
    Returns the slots (with allocated MACs), the claims, warnings, and the interface/MAC pairs
    now confirmed as the holder's (what a grant may cover).
    """
    allocator = ctx.allocator
    covered = covered or {}
    slots = list(planned.slots)
    planned_macs = frozenset(slot.mac for slot in slots if slot.mac is not None)
    work: list[tuple[int, Task]] = []
    wanted: list[macs.Mac | None] = []  # what the namespace quota counts: a MAC, or one to allocate
    spares_ok = [True]  # set by the quota, before any task runs: spares only far from the limit
    for position, slot in enumerate(slots):
        if slot.mac is not None and slot.needs_check and covered.get(slot.name) != slot.mac:
            work.append((position, _claim_task(ctx, slot.mac, holder, slot.name, request.dry_run)))
            wanted.append(slot.mac)
        elif allocate and slot.origin == "allocate":
            task = _allocate_task(ctx, holder, slot.name, request.dry_run, planned_macs, spares_ok)
            work.append((position, task))
            wanted.append(None)
    # A dry run writes nothing, so concurrent allocations could pick the same free MAC. Nor is
    # there anything to overlap when every task is an allocation this replica's spares can serve
    # from memory: handing them to other threads would only add thread hops to the hot path.
    spares = allocator.spares
    from_memory = spares is not None and all(mac is None for mac in wanted) and len(spares) >= len(work)
    fan_out = ctx.fan_out if not (request.dry_run or from_memory) else in_turn
    quota = ctx.settings.max_reservations_per_namespace
    try:
        with limits.hold(ctx.quota, request.namespace, wanted, quota) as far:
            spares_ok[0] = far
            outcomes = fan_out([task for _, task in work], deadline=ctx.deadline, undo=allocator.revert)
    except limits.QuotaError as exc:
        return Denied(str(exc), code=exc.code)

    claims = [outcome for outcome in outcomes if isinstance(outcome, Claimed)]
    failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    if work and ctx.deadline.passed():  # the answer would come too late to be used: undo now
        failures.append(DeadlineExceededError("MAC allocation ran past the admission deadline; retry"))
    if failures:
        allocator.revert(claims)
        for failure in failures:
            if not isinstance(failure, PoolExhaustedError | ContendedError | DeadlineExceededError):
                raise failure
        return Denied(str(failures[0]), code=500)

    warnings: list[str] = []
    confirmed = {s.name: s.mac for s in slots if s.mac is not None and covered.get(s.name) == s.mac}
    refusal: str | None = None
    if any(isinstance(outcome, Taken) for outcome in outcomes):
        # Only now, once a MAC turned out to be taken, may the authorizer be asked (one API call).
        try:
            refusal = duplicates.refusal(
                ctx.settings.duplicate_policy,
                request.obj,
                request.requester,
                request.namespace,
                ctx.may_use_duplicates,
            )
        except BaseException:
            allocator.revert(claims)  # the authorizer did not answer: undo, and let the caller fail
            raise
    for (position, _task), outcome in zip(work, outcomes, strict=True):
        slot = slots[position]
        if isinstance(outcome, Taken):
            assert slot.mac is not None
            grace = ctx.settings.release_grace_period_seconds
            message = duplicates.taken_message(slot.name, slot.mac, outcome, request.namespace, grace)
            if refusal is not None:
                allocator.revert(claims)
                return Denied(f"{message}. {refusal}", code=409)
            warnings.append(f"{message}; admitted because duplicates are allowed")
            continue
        assert isinstance(outcome, Claimed)
        mac = outcome.reservation.mac
        if slot.origin == "allocate":
            slots[position] = Slot(slot.index, slot.name, slot.raw, mac, "allocate")
        confirmed[slot.name] = mac
    return slots, claims, warnings, confirmed


def _claim_task(ctx: Context, mac: macs.Mac, holder: Holder, interface: str, dry_run: bool) -> Task:
    quarantine = ctx.settings.release_grace_period_seconds
    return lambda: ctx.allocator.claim(
        mac, holder, interface, dry_run=dry_run, quarantine_seconds=quarantine, deadline=ctx.deadline
    )


def _allocate_task(
    ctx: Context,
    holder: Holder,
    interface: str,
    dry_run: bool,
    exclude: frozenset[macs.Mac],
    spares_ok: list[bool],
) -> Task:
    return lambda: ctx.allocator.allocate(
        ctx.layout,
        holder,
        interface,
        dry_run=dry_run,
        exclude=exclude,
        deadline=ctx.deadline,
        spares=spares_ok[0],
    )
