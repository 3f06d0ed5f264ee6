"""kopf wiring for VMOProfiles: thin handlers that read, call the engine, write status and record.

One daemon per profile runs the reconcile loop. It wakes on a change to the profile, on any
watch event of an object we own (drift), or when the resync interval passes, so bursts of
events coalesce into one reconcile. Deletion is a kopf on.delete handler behind a finalizer.

`vmo run` builds one `Runtime` and `register` binds every handler to it on the registry it hands
to kopf. Each handler is bound with `functools.partial`, so kopf derives the same handler ids as
for plain functions (its progress annotations on existing profiles keep their names); handlers
call it `shared`, since kopf passes a `runtime` keyword of its own.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Mapping
from typing import Any

import kopf
import structlog

from vmo_operator.api import profiles
from vmo_operator.components import registry
from vmo_operator.engine import reconcile as engine
from vmo_operator.engine.status import interim_status, status_patch
from vmo_operator.kube import kinds, watches
from vmo_operator.kube.client import KubeClient, KubeError
from vmo_operator.kube.events import Recorder
from vmo_operator.kube.kinds import Kind
from vmo_operator.kube.objects import MANAGED_BY_LABEL, MANAGED_BY_VALUE, MANAGED_SELECTOR, PROFILE_LABEL
from vmo_operator.operator import dashboard_tls, removal, reporting
from vmo_operator.operator.config import OperatorConfig
from vmo_operator.operator.metrics import ProfileMetrics

GROUP, VERSION, PLURAL = kinds.PROFILE.group, kinds.PROFILE.version, kinds.PROFILE.plural
FINALIZER = "vmo.dev/teardown"
log = structlog.get_logger("vmo.profile")


class Runtime:
    """Process-wide state shared by the handlers: the client, config, metrics and wake-up signals."""

    def __init__(
        self,
        kube: KubeClient,
        config: OperatorConfig,
        metrics: ProfileMetrics,
        events: Recorder | None = None,
    ) -> None:
        self.kube = kube
        self.config = config
        self.metrics = metrics
        self.events = events or Recorder(kube)
        self._wakeups: dict[str, asyncio.Event] = {}
        self.watchers: list[watches.KindWatcher] = []
        # profile -> namespaces its objects wait for; a namespace appearing wakes the profile
        self.awaited: dict[str, frozenset[str]] = {}
        self.dashboard_tls = dashboard_tls.Published()

    def wakeup(self, name: str) -> asyncio.Event:
        return self._wakeups.setdefault(name, asyncio.Event())

    def wake(self, name: str | None = None) -> None:
        targets = [name] if name else list(self._wakeups)
        for target in targets:
            if target in self._wakeups:
                self._wakeups[target].set()

    def forget(self, name: str) -> None:
        self._wakeups.pop(name, None)
        self.awaited.pop(name, None)


def register(to: kopf.OperatorRegistry, runtime: Runtime) -> None:
    """Every profile handler, bound to `runtime`, on the registry `to`."""
    kopf.on.startup(registry=to)(configure)
    kopf.on.startup(registry=to)(functools.partial(start_custom_kind_watchers, runtime))
    kopf.on.cleanup(registry=to)(functools.partial(stop_custom_kind_watchers, runtime))
    # Every built-in owned kind wakes its profile on any change, through kopf.
    ours = {MANAGED_BY_LABEL: MANAGED_BY_VALUE}
    for kind in _watched_owned_kinds():
        on_event = kopf.on.event(kind.group, kind.version, kind.plural, labels=ours, registry=to)
        on_event(functools.partial(owned_event, runtime))
    kopf.on.event(GROUP, VERSION, PLURAL, registry=to)(functools.partial(profile_event, runtime))
    namespaces = kinds.NAMESPACE
    on_namespace = kopf.on.event(namespaces.group, namespaces.version, namespaces.plural, registry=to)
    on_namespace(functools.partial(namespace_event, runtime))
    # The loop watches its stop flag, so on deletion it is asked to exit (backoff) before kopf
    # cancels it; a cancelled daemon is logged as a warning on every profile deletion.
    on_profile = kopf.daemon(
        GROUP, VERSION, PLURAL, cancellation_backoff=20.0, cancellation_timeout=30.0, registry=to
    )
    on_profile(functools.partial(profile_loop, runtime))
    kopf.on.delete(GROUP, VERSION, PLURAL, registry=to)(functools.partial(removal.profile_deleted, runtime))


async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="vmo.dev")
    # Without the spec: kopf would copy the whole spec into an annotation, and a large but valid
    # spec (e.g. a big pass-through `affinity`) overflows the 256 KiB annotation limit, after which
    # every kopf patch fails, including the finalizer removal. No handler here diffs the spec (the
    # daemon is woken by on.event), so nothing is lost.
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="vmo.dev", ignored_fields=["spec"]
    )
    # Events about the profile are ours (kube.events): kopf's poster files those about a
    # cluster-scoped object under namespace "default", where `kubectl describe` never looks.
    settings.posting.enabled = False
    settings.execution.max_workers = 8
    settings.watching.server_timeout = 300
    # Only our labelled objects are streamed for the kinds we own; foreign ConfigMaps, Deployments
    # and so on never reach this process.
    selector = MANAGED_SELECTOR
    for kind in _watched_owned_kinds():
        settings.watching.label_selectors[(kind.group or "v1", kind.plural)] = selector


def _drift_kinds() -> list[Kind]:
    """Owned kinds whose changes should wake the profile; CRDs and namespaces are left to resyncs."""
    skip = {(kinds.CRD.api_version, kinds.CRD.kind), (kinds.NAMESPACE.api_version, kinds.NAMESPACE.kind)}
    return [kind for kind in registry.owned_kinds() if (kind.api_version, kind.kind) not in skip]


def _watched_owned_kinds() -> list[Kind]:
    """Built-in kinds, watched through kopf (always served, so kopf's watchers are safe)."""
    return [kind for kind in _drift_kinds() if not watches.is_custom(kind)]


async def start_custom_kind_watchers(shared: Runtime, **_: Any) -> None:
    """Custom kinds come and go with their CRDs; our own watchers survive that (see watches.py)."""
    loop = asyncio.get_running_loop()

    def wake(profile: str | None) -> None:
        loop.call_soon_threadsafe(shared.wake, profile)

    for kind in _drift_kinds():
        if watches.is_custom(kind):
            shared.watchers.append(watches.KindWatcher(shared.kube, kind, watches.profile_of(wake)).start())


async def stop_custom_kind_watchers(shared: Runtime, **_: Any) -> None:
    for watcher in shared.watchers:
        watcher.stop()


async def owned_event(shared: Runtime, labels: Mapping[str, str], **_: Any) -> None:
    shared.wake(labels.get(PROFILE_LABEL))


async def profile_event(shared: Runtime, name: str, type: str | None, **_: Any) -> None:
    # A profile appearing or going away can change which profile is the active one.
    shared.wake(None if type in ("ADDED", "DELETED") else name)


async def namespace_event(shared: Runtime, name: str, type: str | None, **_: Any) -> None:
    """A namespace that objects of a profile wait for appeared: reconcile now, not at the resync."""
    if type != "ADDED":
        return
    for profile, awaited in list(shared.awaited.items()):
        if name in awaited:
            shared.metrics.wakeups.labels("namespace").inc()
            shared.wake(profile)


def _active_profile(kube: KubeClient) -> str:
    active = profiles.active_profile(kube.list(kinds.PROFILE))
    return str(active["metadata"]["name"]) if active else ""


def _interim(kube: KubeClient, profile: dict[str, Any]) -> dict[str, Any]:
    """Show a status at once for a generation not reconciled yet (a new profile: Progressing)."""
    previous = profile.get("status") or {}
    generation = int(profile["metadata"].get("generation", 0))
    interim = interim_status(previous, generation, engine.now_rfc3339())
    if interim is None:
        return profile
    fields = status_patch(previous, interim)
    return (
        kube.patch_status(kinds.PROFILE, profile["metadata"]["name"], fields, live=previous)
        if fields
        else profile
    )


def _reconcile_once(shared: Runtime, name: str) -> tuple[engine.Outcome | None, dict[str, Any] | None]:
    """One round: the profile as read before it (None when it is gone or going) and the outcome."""
    kube = shared.kube
    profile = kube.get(kinds.PROFILE, name)
    if profile is None or profile["metadata"].get("deletionTimestamp"):
        return None, None
    profile = _interim(kube, profile)
    active = _active_profile(kube)
    inactive = (
        ""
        if active == name
        else (f"VMOProfile {active!r} is the active profile; only one profile is applied per cluster")
    )
    if not inactive:
        # Before the Deployment that mounts it is applied.
        dashboard_tls.settle_for(kube, shared.config.namespace, profile, shared.dashboard_tls)
    outcome = engine.reconcile(kube, profile, registry.components(), inactive_because=inactive)
    if outcome.status_needs_write:
        kube.patch_status(kinds.PROFILE, name, outcome.status_fields, live=profile.get("status") or {})
    return outcome, profile


def _was_available(profile: Mapping[str, Any] | None) -> bool:
    if not profile:
        return False
    status = profile.get("status") or {}
    generation = profile.get("metadata", {}).get("generation")
    return any(
        c.get("type") == "Available"
        and c.get("status") == "True"
        and c.get("observedGeneration") == generation
        for c in status.get("conditions", [])
    )


def _retry_soon(outcome: engine.Outcome) -> bool:
    """Something a retry may fix, or a rollout to follow; waits for namespaces are left to the watch."""
    if outcome.error:
        return True
    if outcome.available:
        return False
    only_namespaces = outcome.awaited_namespaces and all(
        health.ready or not health.enabled or health.reason == "WaitingForNamespace"
        for health in outcome.healths
    )
    return not only_namespaces


async def profile_loop(shared: Runtime, name: str, stopped: kopf.DaemonStopped, **_: Any) -> None:
    metrics = shared.metrics
    wakeup = shared.wakeup(name)
    try:
        while not stopped:
            wakeup.clear()
            started = time.monotonic()
            delay = shared.config.resync_seconds
            try:
                outcome, before = await asyncio.to_thread(_reconcile_once, shared, name)
                if outcome is None or before is None:
                    return  # gone, or being deleted: the deletion handler takes over
                shared.awaited[name] = outcome.awaited_namespaces
                await asyncio.to_thread(
                    reporting.record_round, shared.events, metrics, before, outcome, _was_available(before)
                )
                result = "available" if outcome.available else ("error" if outcome.error else "progressing")
                metrics.reconciles.labels(result).inc()
                metrics.available.labels(name).set(1 if outcome.available else 0)
                for component, count in outcome.managed.items():
                    metrics.managed_objects.labels(component).set(count)
                for health in outcome.healths:
                    metrics.component_degraded.labels(health.name).set(1 if health.degraded else 0)
                metrics.last_completed.set_to_current_time()
                if _retry_soon(outcome):
                    delay = shared.config.retry_seconds
                reporting.log_round(name, outcome, result)
            except KubeError as exc:
                metrics.reconciles.labels("error").inc()
                metrics.reconcile_errors.labels(exc.reason or str(exc.status)).inc()
                log.warning("reconcile failed", object=f"VMOProfile/{name}", error=str(exc))
                delay = shared.config.retry_seconds
            except Exception:  # never let one bad round kill the loop; the next round retries
                metrics.reconciles.labels("error").inc()
                metrics.reconcile_errors.labels("Unexpected").inc()
                log.exception("reconcile crashed", object=f"VMOProfile/{name}")
                delay = shared.config.retry_seconds
            finally:
                metrics.reconcile_seconds.observe(time.monotonic() - started)
            await wait_for_wakeup(wakeup, stopped, delay)
    finally:
        shared.forget(name)


async def wait_for_wakeup(wakeup: asyncio.Event, stopped: kopf.DaemonStopped, delay: float) -> None:
    stop_task = asyncio.ensure_future(stopped.wait())
    wake_task = asyncio.ensure_future(wakeup.wait())
    try:
        await asyncio.wait({stop_task, wake_task}, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop_task.cancel()
        wake_task.cancel()
