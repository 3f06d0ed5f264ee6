"""The periodic audit: duplicate MACs among existing objects, pool usage, and one reconcile round.

Admission keeps new duplicates out, but objects created while the webhook was absent (or before
the operator was installed, or admitted under the Warn policy) can already share a MAC. The audit
lists every VM and bare VMI, reports MACs carried by more than one object, reconciles the
reservations against what the objects carry, and summarises the pool for the profile's status.

VMs are listed first and remembered by name (UID and template MACs only), so each VMI is checked
against the VM its ownerReference names: only a VMI that VM really started is left out, and one
with a forged owner is counted like any bare VMI.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from vmo_operator.macpool import mac as macs
from vmo_operator.macpool import vmshape
from vmo_operator.macpool.allocator import ReservationStore
from vmo_operator.macpool.reconcile import (
    Carrier,
    Collision,
    ExecutionReport,
    carriers_of,
    execute,
    find_collisions,
    plan_reconcile,
)
from vmo_operator.macpool.reservation import VM_KIND, VMI_KIND, Reservation, format_time


class ObjectSource(Protocol):
    def list_objects(self, kind: str) -> Iterable[Mapping[str, Any]]:
        """Every object of `kind` (VirtualMachine or VirtualMachineInstance) in the cluster."""


@dataclass(frozen=True)
class PoolUsage:
    allocated: int  # Pending + Committed reservations, whatever their MAC
    quarantined: int  # Released tombstones still waiting out the grace period
    free_per_prefix: Mapping[str, int]  # per configured prefix, MACs automatic allocation may still use
    spares: int = 0  # made ahead of demand by the replicas (`macpool.spares`), nobody's yet


def pool_usage(layout: macs.PoolLayout, reservations: Iterable[Reservation]) -> PoolUsage:
    allocated = quarantined = spares = 0
    used: dict[int, int] = dict.fromkeys(layout.prefixes, 0)
    for reservation in reservations:
        if reservation.state == "Spare":
            spares += 1
        elif reservation.held:
            allocated += 1
        else:
            quarantined += 1
        if layout.contains(reservation.mac):
            used[reservation.mac.first_octet] += 1
    free = {macs.format_prefix(p): layout.size_per_prefix(p) - used[p] for p in layout.prefixes}
    return PoolUsage(allocated, quarantined, free, spares)


@dataclass(frozen=True)
class AuditReport:
    at: datetime
    objects: int
    usage: PoolUsage
    collisions: tuple[Collision, ...]
    execution: ExecutionReport = field(default_factory=ExecutionReport)


def run_audit(
    store: ReservationStore,
    source: ObjectSource,
    *,
    layout: macs.PoolLayout,
    grace_seconds: int,
    clock: Callable[[], datetime],
    reconcile: bool = True,
    workers: int = 1,
    max_writes: int | None = None,
) -> AuditReport:
    """One audit round: list, plan, write (the `max_writes` most urgent, `workers` at a time),
    summarise. Blocking: run it in a worker thread."""
    reservations = store.list()  # before the objects: see plan_reconcile
    objects = 0
    carriers: list[Carrier] = []
    templates: dict[tuple[str, str], vmshape.VMTemplate] = {}
    for obj in source.list_objects(VM_KIND):  # streamed page by page; only what is needed is kept
        objects += 1
        carriers.extend(carriers_of(VM_KIND, obj))
        meta = obj.get("metadata") or {}
        templates[(str(meta.get("namespace", "")), str(meta.get("name", "")))] = vmshape.VMTemplate.of(obj)

    def find_template(namespace: str, name: str) -> vmshape.VMTemplate | None:
        return templates.get((namespace, name))

    for obj in source.list_objects(VMI_KIND):
        objects += 1
        if not vmshape.started_by_its_vm(obj, find_template):
            carriers.extend(carriers_of(VMI_KIND, obj))
    execution = ExecutionReport()
    if reconcile:
        actions = plan_reconcile(reservations, carriers, now=clock(), grace_seconds=grace_seconds)
        if actions:
            execution = execute(actions, store, now=clock(), workers=workers, limit=max_writes)
            reservations = store.list()
    return AuditReport(
        at=clock(),
        objects=objects,
        usage=pool_usage(layout, reservations),
        collisions=tuple(find_collisions(carriers)),
        execution=execution,
    )


# `status.macPool.collidingMACs` names at most this many MACs, and this many carriers of each: enough
# to act on, while a cluster-wide mess cannot grow the profile's status without bound (the count
# stays exact in `collisions`).
LISTED_COLLISIONS = 20
LISTED_CARRIERS = 8


def listed_collisions(collisions: Iterable[Collision]) -> list[dict[str, Any]]:
    """Each colliding MAC with who carries it ("Kind namespace/name", oldest first), bounded.

    Only admins read a profile's status (it is cluster-scoped), so it may name every namespace;
    the Events on the VMs themselves name only same-namespace peers (`collision_message`).
    """
    listed = []
    for collision in list(collisions)[:LISTED_COLLISIONS]:
        carriers = [f"{c.holder.kind} {c.holder.namespace}/{c.holder.name}" for c in collision.carriers]
        entry: dict[str, Any] = {
            "mac": str(collision.mac),
            "carriers": list(dict.fromkeys(carriers))[:LISTED_CARRIERS],
            "namespaces": sorted({c.holder.namespace for c in collision.carriers}),
        }
        listed.append(entry)
    return listed


def status_of(report: AuditReport | None, *, webhook_ready: bool, message: str = "") -> dict[str, Any]:
    """The profile's `status.macPool`."""
    status: dict[str, Any] = {"webhookReady": webhook_ready}
    if message:
        status["message"] = message
    if report is not None:
        status.update(
            allocated=report.usage.allocated,
            quarantined=report.usage.quarantined,
            freePerPrefix=dict(report.usage.free_per_prefix),
            collisions=len(report.collisions),
            lastAuditTime=format_time(report.at),
        )
        if report.collisions:
            status["collidingMACs"] = listed_collisions(report.collisions)
    return status


def collision_message(collision: Collision, namespace: str) -> str:
    """Event text for one object involved in a collision, naming only same-namespace peers."""
    local = sorted({c.holder.name for c in collision.carriers if c.holder.namespace == namespace})
    remote = len(
        {(c.holder.namespace, c.holder.name) for c in collision.carriers if c.holder.namespace != namespace}
    )
    parts = []
    if local:
        parts.append(f"{', '.join(local)} in this namespace")
    if remote:
        parts.append(f"{remote} object(s) in other namespaces")
    return f"MAC {collision.mac} is used by {len(collision.carriers)} objects: {'; '.join(parts)}"
