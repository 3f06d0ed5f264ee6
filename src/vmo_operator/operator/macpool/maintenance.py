"""The maintenance loop: certificates, webhook configurations, audit, readiness and status.

One loop per process, started by the startup handler. Each tick re-checks the configurations and
this replica's readiness, audits on its own interval (and rotates certificates on a longer one),
and writes `status.macPool` of the active profile when it changed. A profile change wakes it
early. A failed tick is logged and the next one retries everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime

import structlog

from vmo_operator.kube import kinds
from vmo_operator.kube.client import KubeError
from vmo_operator.macpool import audit
from vmo_operator.operator.macpool import certificates, events, probe, webhook_config
from vmo_operator.operator.macpool.runtime import Certificates, MacPoolRuntime, Serving

log = structlog.get_logger("vmo.macpool")

TICK_SECONDS = 5.0


async def run(runtime: MacPoolRuntime, serving: Serving) -> None:
    options = runtime.options
    readiness = probe.Readiness(
        lambda: probe.probe(options, serving.certificates.bundle.ca_bundle),
        lambda: probe.vm_api_served(runtime.kube),
        runtime.reactor.request_restart,
    )
    next_certs = time.monotonic() + options.cert_check_seconds
    next_audit = 0.0
    while True:
        try:
            now = time.monotonic()
            if now >= next_certs:
                bundle = await runtime.in_thread(certificates.ensure_certificates, runtime.kube, options)
                serving.certificates = Certificates.of(bundle)
                next_certs = now + options.cert_check_seconds
            await ensure_webhook_configurations(runtime, serving)
            if now >= next_audit:
                await _audit_round(runtime, serving)
                next_audit = now + options.audit_seconds
            result = await runtime.in_thread(readiness.check)
            health = runtime.health
            health.ready = serving.settings.enabled and health.configs_ok and result == "ok"
            runtime.metrics.webhook_ready.set(1 if health.ready else 0)
            await runtime.in_thread(_write_status, runtime, serving)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # keep the loop alive; the next tick retries everything
            log.warning("macpool maintenance failed", error=str(exc))
        serving.wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(serving.wake.wait(), timeout=min(TICK_SECONDS, options.audit_seconds))


async def ensure_webhook_configurations(runtime: MacPoolRuntime, serving: Serving) -> None:
    await runtime.in_thread(
        webhook_config.ensure_webhook_configurations,
        runtime.kube,
        runtime.options,
        serving.certificates,
        serving.settings,
    )
    runtime.health.configs_ok = True


async def _audit_round(runtime: MacPoolRuntime, serving: Serving) -> None:
    view = serving.view
    if view is None:
        return
    metrics = runtime.metrics
    report = await runtime.in_thread(
        lambda: audit.run_audit(
            runtime.store,
            runtime.source,
            layout=view.layout,
            grace_seconds=view.settings.release_grace_period_seconds,
            clock=lambda: datetime.now(UTC),
            reconcile=view.settings.enabled,
        )
    )
    runtime.health.last_report = report
    metrics.audits.inc()
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
