"""Start, follow and stop the MAC wiring: the kopf handlers that bind the parts to one runtime.

`register` puts every MAC handler on the registry `vmo run` hands to kopf; the webhooks are not
among them (`admission.Dispatcher` answers them in kopf's place). The startup handler reads the
cluster identity, the active profile's settings and the shared certificate, points kopf's
admission server at that certificate and at the dispatcher, writes the webhook configurations, and then builds
the `Serving` object admission reads, starts the reservation cache's watch (once per process),
this replica's spare pool, the contention for the GC lease, the maintenance loop and the VM/VMI
watchers. A profile event re-reads the settings and wakes the loop. The cleanup handler stops the
loop and the watchers, hands the spares back (`SpareKeeper.stop`) and the GC lease over, but
leaves the webhook configurations: other replicas keep serving, and failurePolicy Fail must keep
guarding VM creation while this one is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, cast

import kopf
import structlog
from pydantic import ValidationError

from vmo_operator.api.profiles import active_profile, validation_problems
from vmo_operator.kube import kinds
from vmo_operator.kube.client import KubeClient
from vmo_operator.kube.cluster import cluster_uid
from vmo_operator.macpool import mac as macs
from vmo_operator.macpool.settings import from_profile_spec
from vmo_operator.operator.macpool import admission, bookkeeping, certificates, maintenance
from vmo_operator.operator.macpool.runtime import Certificates, MacPoolRuntime, PoolView, Serving
from vmo_operator.operator.macpool.server import AdmissionServer

log = structlog.get_logger("vmo.macpool")

SERVER_FILE_CHECK_SECONDS = 10


def _cluster_identity(kube: KubeClient) -> str:
    uid = cluster_uid(kube)
    if not uid:
        raise RuntimeError("namespace kube-system not found: no cluster identity for the MAC pool")
    return uid


def read_view(kube: KubeClient, cluster_identity: str, previous: PoolView | None) -> PoolView | None:
    """The active profile's spec.macPool (defaults when there is none); `previous` if it is invalid."""
    profile = active_profile(kube.list(kinds.PROFILE))
    spec = (profile.get("spec") or {}).get("macPool") if profile else None
    try:
        settings = from_profile_spec(spec)
    except ValueError as exc:
        problems = validation_problems(exc, prefix="spec.macPool") if isinstance(exc, ValidationError) else []
        log.warning(
            "invalid spec.macPool; keeping the previous settings", error="; ".join(problems) or str(exc)
        )
        return previous
    view = PoolView(
        settings, settings.layout(cluster_identity), profile["metadata"]["name"] if profile else ""
    )
    if previous is None or (settings, view.layout) != (previous.settings, previous.layout):
        log.info(
            "macpool settings",
            enabled=settings.enabled,
            prefixes=[macs.format_prefix(p) for p in settings.prefixes],
            duplicate_policy=settings.duplicate_policy,
            grace_seconds=settings.release_grace_period_seconds,
            spares_per_replica=settings.spares_per_replica,
        )
    return view


async def start(runtime: MacPoolRuntime, settings: kopf.OperatorSettings, indexes: dict[str, Any]) -> None:
    """Prepare certificates, the admission server, the webhook configurations and the loops.

    Raises on API errors, which makes kopf retry the startup handler.
    """
    options, kube = runtime.options, runtime.kube
    # First, in threads of their own: at 10,000 VMs these two lists are most of the start-up, and
    # they need nothing the requests below return.
    runtime.watch_reservations()
    runtime.scan_carried()
    cluster_identity = await runtime.in_thread(_cluster_identity, kube)
    previous = runtime.serving.view if runtime.serving is not None else None
    view = await runtime.in_thread(read_view, kube, cluster_identity, previous)
    bundle = await runtime.in_thread(certificates.ensure_certificates, kube, options)
    serving = Serving(cluster_identity, view, Certificates.of(bundle), indexes[bookkeeping.NAMESPACE_LABELS])

    settings.admission.managed = None  # we write our own configurations; see admission_config
    # Called as kopf's admission function is; its answers are the same JSON (kopf's Response).
    dispatch = cast(kopf.WebhookFn, admission.Dispatcher(runtime))
    settings.admission.server = AdmissionServer(
        options, file_check_interval=SERVER_FILE_CHECK_SECONDS, dispatch=dispatch
    )
    await maintenance.ensure_webhook_configurations(runtime, serving)
    if runtime.maintenance is not None and not runtime.maintenance.done():
        runtime.maintenance.cancel()  # configured again (a retried startup): one loop per process
    runtime.serving = serving
    runtime.keep_spares()
    runtime.stand_for_gc()
    runtime.maintenance = asyncio.create_task(maintenance.run(runtime, serving), name="macpool-maintenance")
    log.info(
        "macpool admission configured",
        mode=options.mode,
        port=options.port,
        namespace=options.namespace,
        cluster_block="{:02x}:{:02x}".format(*view.layout.cluster) if view else "",
    )
    bookkeeping.stop_object_watchers(runtime)
    bookkeeping.start_object_watchers(runtime, serving)


async def stop(runtime: MacPoolRuntime) -> None:
    bookkeeping.stop_object_watchers(runtime)
    if runtime.maintenance is not None:
        runtime.maintenance.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runtime.maintenance
    await runtime.in_thread(runtime.stop_spares)
    await runtime.in_thread(runtime.step_down)
    runtime.metrics.webhook_ready.set(0)


async def follow_profiles(runtime: MacPoolRuntime) -> None:
    """A profile changed: re-read the settings (the active profile may be another one now)."""
    serving = runtime.serving
    if serving is None:
        return
    serving.view = await runtime.in_thread(read_view, runtime.kube, serving.cluster_identity, serving.view)
    serving.wake.set()


def register(registry: kopf.OperatorRegistry, runtime: MacPoolRuntime) -> None:
    """Every MAC handler, bound to `runtime`, on `registry`."""
    bookkeeping.register(registry)
    profile = kinds.PROFILE

    @kopf.on.startup(id="macpool-startup", registry=registry)
    async def macpool_startup(settings: kopf.OperatorSettings, **kwargs: Any) -> None:
        # kopf hands every handler the same live index object; it fills as namespaces are listed.
        await start(runtime, settings, kwargs)

    @kopf.on.cleanup(id="macpool-cleanup", registry=registry)
    async def macpool_cleanup(**_: Any) -> None:
        await stop(runtime)

    @kopf.on.event(
        profile.group, profile.version, profile.plural, id="macpool-profile-event", registry=registry
    )
    async def macpool_profile_event(**_: Any) -> None:
        await follow_profiles(runtime)
