"""The maintenance loop: certificates, webhook configurations, audit, readiness and status.

One loop per process, started by the startup handler. Each tick re-checks the configurations and
this replica's readiness (and rotates certificates on a longer interval). The replica that holds
the GC lease (`runtime.GC_LEASE`) also reclaims the spares of replicas whose lease expired
(`SpareKeeper.reclaim_dead`), audits, and writes `status.macPool` of the active profile
when it changed: on the audit interval, and early when orphaned Pending reservations come due (the
cache knows when the oldest one's grace period ends), so a flood of orphans is collected within
seconds of their grace period instead of up to an audit interval later. A profile change wakes
the loop early. A failed tick is logged and the next one retries everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from datetime import UTC, datetime

import structlog

from vmo_operator.kube import kinds
from vmo_operator.kube.client import KubeError
from vmo_operator.macpool import audit
from vmo_operator.operator import memory
from vmo_operator.operator.macpool import certificates, events, probe, webhook_config
from vmo_operator.operator.macpool.runtime import Certificates, MacPoolRuntime, Serving

log = structlog.get_logger("vmo.macpool")

TICK_SECONDS = 5.0
STARTING_PROBE_SECONDS = 1.0  # the readiness check's interval until it first passes
# The audit's writes in flight at once: a backlog of 20,000 orphans drains in seconds, while the
# API server keeps capacity for admission.
GC_WORKERS = 16
# Early rounds for due orphans come no closer than this: each round lists every VM and VMI.
MIN_AUDIT_GAP_SECONDS = 10.0
# The writes of one round, most urgent first; the rest wait for the next round, DEFERRED_GAP_SECONDS
# later. Short rounds keep a backlog of 20,000 orphans from delaying one that comes due meanwhile.
ROUND_WRITES = 2048
# How long the first audit round waits for the reservation cache to sync before it lists from the
# API server instead (a watch that cannot start must not stop the garbage collection).
AUDIT_SYNC_WAIT_SECONDS = 60.0
# After a round that left writes over: a round of ROUND_WRITES writes takes several times as long
# as its listing of every VM and VMI, so the next one follows at once (10,000 MACs of VMs that
# predate the operator are adopted in a few rounds back to back, not one every MIN_AUDIT_GAP).
DEFERRED_GAP_SECONDS = 1.0


async def run(runtime: MacPoolRuntime, serving: Serving) -> None:
    options = runtime.options
    readiness = probe.Readiness(
        lambda: probe.probe(options, serving.certificates.bundle.ca_bundle),
        lambda: probe.vm_api_served(runtime.kube),
        runtime.reactor.request_restart,
    )
    next_certs = time.monotonic() + options.cert_check_seconds
    next_audit = last_audit = next_probe = 0.0
    started = time.monotonic()
    ever_ready = False
    metrics = runtime.metrics
    while True:
        try:
            now = time.monotonic()
            if now >= next_certs:
                bundle = await runtime.in_thread(certificates.ensure_certificates, runtime.kube, options)
                serving.certificates = Certificates.of(bundle)
                next_certs = now + options.cert_check_seconds
            await ensure_webhook_configurations(runtime, serving)
            leader = runtime.gc_leader
            metrics.gc_leader.set(1 if leader else 0)
            # The first round waits for the cache (or for AUDIT_SYNC_WAIT_SECONDS): before it has
            # synced, a round lists every reservation from the API server besides the cache's own
            # list, two copies of 10,000 in memory at once.
            synced = runtime.reservations.synced or now - started >= AUDIT_SYNC_WAIT_SECONDS
            if leader and synced and now >= next_audit:
                deferred = await _audit_round(runtime, serving)
                last_audit = time.monotonic()
                next_audit = last_audit + (DEFERRED_GAP_SECONDS if deferred else options.audit_seconds)
            runtime.reservations.prune_carried()
            keeper = runtime.spare_keeper
            if leader and keeper is not None and runtime.reservations.synced:
                reclaimed = await runtime.in_thread(keeper.reclaim_dead)
                if reclaimed:
                    metrics.reconcile_writes.labels("ReclaimSpare").inc(reclaimed)
            if leader:
                due = await runtime.in_thread(_orphans_due, runtime, serving)
                next_audit = min(next_audit, max(due, last_audit + MIN_AUDIT_GAP_SECONDS))
            # Once a tick, not on every early wake-up for the audit: each probe is a TLS handshake.
            if now >= next_probe or serving.wake.is_set():
                result = await runtime.in_thread(readiness.check)
                health = runtime.health
                health.ready = serving.settings.enabled and health.configs_ok and result == "ok"
                metrics.webhook_ready.set(1 if health.ready else 0)
                # Until it first passes (the pool loads in seconds after a start), once a second:
                # the metric and the status follow /readyz closely, not a tick later.
                ever_ready = ever_ready or health.ready
                next_probe = now + (TICK_SECONDS if ever_ready else STARTING_PROBE_SECONDS)
            if leader:
                await runtime.in_thread(_write_status, runtime, serving)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # keep the loop alive; the next tick retries everything
            log.warning("macpool maintenance failed", error=str(exc))
        serving.wake.clear()
        until = min(next_audit, next_probe) - time.monotonic()
        pause = min(TICK_SECONDS, options.audit_seconds, max(until, 0.5))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(serving.wake.wait(), timeout=pause)


def _orphans_due(runtime: MacPoolRuntime, serving: Serving) -> float:
    """When (monotonic) the oldest Pending reservation's grace period ends; inf when none is pending."""
    grace = serving.settings.release_grace_period_seconds
    due = runtime.reservations.next_pending_expiry(grace)
    if due is None:
        return math.inf
    return time.monotonic() + (due - datetime.now(UTC)).total_seconds()


async def ensure_webhook_configurations(runtime: MacPoolRuntime, serving: Serving) -> None:
    await runtime.in_thread(
        webhook_config.ensure_webhook_configurations,
        runtime.kube,
        runtime.options,
        serving.certificates,
        serving.settings,
    )
    runtime.health.configs_ok = True


async def _audit_round(runtime: MacPoolRuntime, serving: Serving) -> int:
    """One audit round; how many of its planned writes it left for the next one."""
    view = serving.view
    if view is None:
        return 0
    metrics = runtime.metrics
    started = time.monotonic()
    report = await runtime.in_thread(
        lambda: audit.run_audit(
            runtime.audit_store,
            runtime.source,
            layout=view.layout,
            grace_seconds=view.settings.release_grace_period_seconds,
            clock=lambda: datetime.now(UTC),
            reconcile=view.settings.enabled,
            workers=GC_WORKERS,
            max_writes=ROUND_WRITES,
        )
    )
    runtime.health.last_report = report
    metrics.audits.inc()
    metrics.audit_seconds.set(time.monotonic() - started)
    metrics.collisions.set(len(report.collisions))
    metrics.allocated.set(report.usage.allocated)
    for prefix, free in report.usage.free_per_prefix.items():
        metrics.free.labels(prefix).set(free)
    for action, count in report.execution.applied.items():
        metrics.reconcile_writes.labels(action).inc(count)
    for error in report.execution.errors:
        log.warning("reservation write failed", error=error)
    if report.collisions:
        await runtime.in_thread(
            events.report_collisions, runtime.kube, report.collisions, runtime.reported_collisions
        )
    await runtime.in_thread(memory.trim)  # the round's listing of every VM and VMI is garbage now
    return report.execution.deferred


def _write_status(runtime: MacPoolRuntime, serving: Serving) -> None:
    """`status.macPool` on the active profile, only when it changed."""
    view, health = serving.view, runtime.health
    if view is None or not view.active_profile:
        return
    message = ""
    if not view.settings.enabled:
        message = "MAC allocation is disabled in the profile"
    elif not health.ready:
        message = "the webhook does not answer yet (is the VirtualMachine API installed?)"
    status = audit.status_of(health.last_report, webhook_ready=health.ready, message=message)
    comparable = {k: v for k, v in status.items() if k != "lastAuditTime"}
    if comparable == health.last_status:
        return
    try:
        runtime.kube.patch_status(kinds.PROFILE, view.active_profile, {"macPool": status})
    except KubeError as exc:
        if exc.status == 404:
            return
        raise
    health.last_status = comparable
