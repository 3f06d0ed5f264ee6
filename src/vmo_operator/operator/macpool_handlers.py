"""kopf wiring for the MAC pool: admission webhooks, reservation bookkeeping, audit and status.

Importing this module registers everything; `vmo run` imports it when a webhook mode is set, and
the startup handler below reads the process's `OperatorConfig` to configure the admission server.

HA model. Every replica serves the webhooks and every replica may write reservations: the API
server arbitrates each MAC (create-if-absent, resourceVersion preconditions), so there is no
leader and nothing to fail over. The replicas share one endpoint: a Service in-cluster, or one
loopback port bound with SO_REUSEPORT in tests (kopf's server sets it), so the kernel spreads
connections and a killed replica's share moves to the survivors. The CA and serving certificate
live in one Secret that the first replica creates and every replica loads, so a caBundle written
by one replica is valid for all. kopf's managed webhook configurations are not used (one URL per
process, removed on exit); `admission_config` explains the settings we write instead.

Work that leaves the event loop: every API call runs in a dedicated thread pool, so a slow API
server cannot stall admission handling of other requests. An admission decision fans its
per-interface reservation calls out to a second pool (never the one it runs in, so a full pool
cannot deadlock on itself).

Admission grants (`grant`) are keyed from the webhook CA's private key, which every replica loads
from the shared Secret; during a CA rotation both CA keys verify, and a grant nobody can verify
only means the validating webhook reads the reservations again.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http.client
import json
import os
import ssl
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

import kopf
import structlog
from prometheus_client import Counter, Gauge, Histogram

from vmo_operator.kube.client import KubeClient, connect
from vmo_operator.kube.kinds import VIRTUAL_MACHINE, VIRTUAL_MACHINE_INSTANCE
from vmo_operator.kube.watches import KindWatcher
from vmo_operator.macpool import admission_config, audit, certs, grant, reconcile, webhook
from vmo_operator.macpool import mac as macs
from vmo_operator.macpool.allocator import Allocator, ClaimResult
from vmo_operator.macpool.reservation import GROUP, PLURAL, VERSION, VM_KIND, VMI_KIND, Holder, Reservation
from vmo_operator.macpool.settings import MacPoolSettings, from_profile_spec
from vmo_operator.macpool.store import KubeObjectSource, KubeReservationStore
from vmo_operator.operator import reactor

log = structlog.get_logger("vmo.macpool")
T = TypeVar("T")

SECRET_NAME = "vmo-macpool-webhook-tls"
PROFILE_GROUP, PROFILE_VERSION, PROFILE_PLURAL = "vmo.dev", "v1alpha1", "vmoprofiles"
KUBEVIRT = ("kubevirt.io", "v1")
PROBE_PATH = admission_config.VALIDATE_VM
TICK_SECONDS = 5.0
OBJECT_EVENT_TIMEOUT = 60.0  # one VM event's bookkeeping; beyond this the audit takes over

ADMISSION_SECONDS = Histogram(
    "vmo_macpool_admission_duration_seconds",
    "Time spent deciding one MAC admission request",
    ["webhook", "result"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RESERVATIONS = Counter("vmo_macpool_reservations_total", "MACs reserved at admission, by how", ["how"])
COLLISIONS = Gauge(
    "vmo_macpool_mac_collisions", "MACs carried by more than one VM or bare VMI at the last audit"
)
ALLOCATED = Gauge("vmo_macpool_allocated", "Pending and Committed MAC reservations at the last audit")
FREE = Gauge("vmo_macpool_free", "MACs automatic allocation may still hand out, per prefix", ["prefix"])
WEBHOOK_READY = Gauge(
    "vmo_macpool_webhook_ready", "1 when this replica's MAC webhook answers and is registered"
)
RECONCILE_WRITES = Counter(
    "vmo_macpool_reconcile_writes_total", "Reservation writes by the reconciler", ["action"]
)


@dataclass(frozen=True)
class AdmissionOptions:
    """How this process serves and registers the MAC webhooks."""

    mode: Literal["url", "service"]
    namespace: str  # the operator's namespace: holds the Secret, never gets allocation
    port: int  # where the webhook server listens
    listen_host: str = "0.0.0.0"  # in-cluster the Service dials the pod IP
    url_host: str = "127.0.0.1"  # url mode: the host the API server dials
    service_name: str = "vmo-operator-webhook"
    service_port: int = 443
    certs_dir: Path | None = None  # where the serving certificate is written for kopf's server
    audit_seconds: float = 60.0
    cert_check_seconds: float = 600.0

    @classmethod
    def from_operator_config(cls, config: Any) -> AdmissionOptions:
        mode: Literal["url", "service"] = "service" if config.webhook_mode == "service" else "url"
        return cls(
            mode=mode,
            namespace=config.namespace,
            port=config.webhook_port,
            listen_host=config.webhook_host if mode == "url" else "0.0.0.0",
            url_host=config.webhook_host,
            service_name=config.webhook_service,
            audit_seconds=max(float(config.resync_seconds), 1.0),
        )

    @property
    def sans(self) -> list[str]:
        if self.mode == "url":
            return [self.url_host] + (["localhost"] if self.url_host != "localhost" else [])
        return admission_config.service_sans(self.service_name, self.namespace)


@dataclass
class _State:
    """Process-wide MAC pool state, built by `configure_admission`."""

    options: AdmissionOptions | None = None
    api_client: Any = None
    executor: ThreadPoolExecutor | None = None
    fan_out_executor: ThreadPoolExecutor | None = None
    store: KubeReservationStore | None = None
    source: KubeObjectSource | None = None
    allocator: Allocator | None = None
    cluster_identity: str = ""
    settings: MacPoolSettings = field(default_factory=MacPoolSettings)
    layout: macs.PoolLayout | None = None
    active_profile: str = ""
    bundle: certs.CertBundle | None = None
    grant_keys: tuple[bytes, ...] = ()
    configs_ok: bool = False
    ready: bool = False
    stale_probes: int = 0
    by_mac: Any = None  # kopf.Index[str, Reservation], set by the startup handler
    by_holder: Any = None
    watchers: list[KindWatcher] = field(default_factory=list)
    last_report: audit.AuditReport | None = None
    last_status: dict[str, Any] = field(default_factory=dict)
    reported_collisions: set[tuple[str, str]] = field(default_factory=set)
    wake: asyncio.Event | None = None
    task: asyncio.Task[None] | None = None

    def context(self) -> webhook.Context:
        assert self.allocator is not None
        assert self.layout is not None
        return webhook.Context(
            self.settings,
            self.layout,
            self.allocator,
            new_claim=lambda: uuid.uuid4().hex[:16],
            grant_keys=self.grant_keys,
            fan_out=_fan_out,
        )


STATE = _State()


def _fan_out(tasks: Sequence[webhook.Task]) -> list[ClaimResult | BaseException]:
    """`webhook.FanOut` on the fan-out pool; the first task runs in the calling thread."""
    if len(tasks) <= 1 or STATE.fan_out_executor is None:
        return webhook.in_turn(tasks)
    futures: list[Future[ClaimResult]] = [STATE.fan_out_executor.submit(task) for task in tasks[1:]]
    results = webhook.in_turn(tasks[:1])
    for future in futures:
        exc = future.exception()
        results.append(exc if exc is not None else future.result())
    return results


def _grant_keys(bundle: certs.CertBundle) -> tuple[bytes, ...]:
    """The signing CA's key first; a successor CA's too, so replicas a rotation step apart agree."""
    pairs = (bundle.ca, *([bundle.next_ca] if bundle.next_ca is not None else []))
    return tuple(grant.derive_key(pair.key_pem) for pair in pairs)


async def _in_thread(fn: Callable[..., T], *args: Any) -> T:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(STATE.executor, fn, *args)


def _api_client() -> Any:
    # One connection per admission and fan-out worker: a webhook must never queue behind a reconcile.
    return connect(pool_size=64)


# ---- startup ----------------------------------------------------------------------------------


async def configure_admission(
    settings: kopf.OperatorSettings, options: AdmissionOptions, *, api_client: Any = None
) -> None:
    """Prepare certificates, the admission server, the webhook configurations and the audit loop.

    Call from a kopf startup handler (this module's own does). Raises on API errors, which makes
    kopf retry the startup handler.
    """
    STATE.options = options
    STATE.api_client = api_client or STATE.api_client or _api_client()
    STATE.executor = STATE.executor or ThreadPoolExecutor(max_workers=32, thread_name_prefix="macpool")
    STATE.fan_out_executor = STATE.fan_out_executor or ThreadPoolExecutor(
        max_workers=32, thread_name_prefix="macpool-fan-out"
    )
    STATE.store = KubeReservationStore(STATE.api_client)
    STATE.source = KubeObjectSource(STATE.api_client)
    STATE.allocator = Allocator(STATE.store)
    STATE.cluster_identity = await _in_thread(_kube_system_uid)
    await _in_thread(_refresh_settings)

    certs_dir = options.certs_dir or Path(tempfile.mkdtemp(prefix="vmo-macpool-"))
    certs_dir.mkdir(parents=True, exist_ok=True)
    STATE.options = options = AdmissionOptions(**{**options.__dict__, "certs_dir": certs_dir})
    await _in_thread(_ensure_certificates)

    settings.admission.managed = None  # we write our own configurations; see admission_config
    settings.admission.server = kopf.WebhookServer(
        addr=options.listen_host,
        port=options.port,
        host=options.url_host,
        certfile=str(certs_dir / certs.TLS_CERT),
        pkeyfile=str(certs_dir / certs.TLS_KEY),
        file_check_interval=10,
    )
    await _in_thread(_ensure_webhook_configurations)
    if STATE.task is not None and not STATE.task.done():
        STATE.task.cancel()  # configured again (a retried startup): one loop per process
    STATE.wake = asyncio.Event()
    STATE.task = asyncio.create_task(_maintenance(), name="macpool-maintenance")
    log.info(
        "macpool admission configured",
        mode=options.mode,
        port=options.port,
        namespace=options.namespace,
        cluster_block="{:02x}:{:02x}".format(*STATE.layout.cluster) if STATE.layout else "",
    )


@kopf.on.startup(id="macpool-startup")
async def macpool_startup(settings: kopf.OperatorSettings, **kwargs: Any) -> None:
    # kopf hands every handler the same live index objects; they fill as reservations are listed.
    STATE.by_mac, STATE.by_holder = kwargs["macpool_by_mac"], kwargs["macpool_by_holder"]
    await configure_admission(settings, AdmissionOptions.from_operator_config(_operator_config()))
    _stop_object_watchers()
    _start_object_watchers(asyncio.get_running_loop())


def _stop_object_watchers() -> None:
    for watcher in STATE.watchers:
        watcher.stop()
    STATE.watchers.clear()


def _operator_config() -> Any:
    """The config `vmo run` prepared, or the environment's when this module runs under plain kopf."""
    import sys

    from vmo_operator.operator.config import OperatorConfig

    profile_handlers = sys.modules.get("vmo_operator.operator.handlers")
    runtime = getattr(profile_handlers, "RUNTIME", None)
    return getattr(runtime, "config", None) or OperatorConfig.from_env()


@kopf.on.cleanup(id="macpool-cleanup")
async def macpool_cleanup(**_: Any) -> None:
    _stop_object_watchers()
    # The webhook configurations stay: other replicas keep serving, and failurePolicy Fail must
    # keep guarding VM creation while this one is gone.
    if STATE.task is not None:
        STATE.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await STATE.task
    WEBHOOK_READY.set(0)


def _kube_system_uid() -> str:
    from kubernetes import client

    namespace: Any = client.CoreV1Api(STATE.api_client).read_namespace(
        "kube-system", _request_timeout=(3, 10)
    )
    return str(namespace.metadata.uid)


def _refresh_settings() -> None:
    """Settings from the active (oldest) VMOProfile's spec.macPool; defaults when there is none."""
    from kubernetes import client

    api = client.CustomObjectsApi(STATE.api_client)
    listed: Any = api.list_cluster_custom_object(
        PROFILE_GROUP, PROFILE_VERSION, PROFILE_PLURAL, _request_timeout=(3, 10)
    )
    profiles = sorted(
        listed.get("items") or [],
        key=lambda p: (p["metadata"].get("creationTimestamp", ""), p["metadata"]["name"]),
    )
    spec = (profiles[0].get("spec") or {}).get("macPool") if profiles else None
    try:
        settings = from_profile_spec(spec)
    except ValueError as exc:
        log.warning("invalid spec.macPool; keeping the previous settings", error=str(exc))
        return
    layout = settings.layout(STATE.cluster_identity)
    if settings != STATE.settings or layout != STATE.layout:
        log.info(
            "macpool settings",
            enabled=settings.enabled,
            prefixes=[macs.format_prefix(p) for p in settings.prefixes],
            duplicate_policy=settings.duplicate_policy,
            grace_seconds=settings.release_grace_period_seconds,
        )
    # One assignment each, so a request in another thread sees old or new, never half of each.
    STATE.layout = layout
    STATE.settings = settings
    STATE.active_profile = profiles[0]["metadata"]["name"] if profiles else ""


# ---- certificates and webhook configurations ----------------------------------------------


def _secret_data(secret: Any) -> dict[str, bytes]:
    return {key: base64.b64decode(value) for key, value in (secret.data or {}).items()}


def _ensure_certificates() -> None:
    """Load, create or rotate the shared CA + serving certificate, then write the files kopf serves."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    assert STATE.options is not None
    options = STATE.options
    certs_dir = options.certs_dir
    assert certs_dir is not None
    core = client.CoreV1Api(STATE.api_client)
    secret: Any
    for _attempt in range(5):
        try:
            secret = core.read_namespaced_secret(SECRET_NAME, options.namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise
            secret = None
        current = certs.CertBundle.from_secret_data(_secret_data(secret)) if secret is not None else None
        desired = certs.plan_certificates(current, options.sans, now=datetime.now(UTC))
        if desired is not current:
            body: Any = {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {
                    "name": SECRET_NAME,
                    "namespace": options.namespace,
                    "labels": admission_config.MANAGED_LABELS,
                },
                "type": "Opaque",
                "data": {k: base64.b64encode(v).decode("ascii") for k, v in desired.to_secret_data().items()},
            }
            try:
                if secret is None:
                    core.create_namespaced_secret(options.namespace, body)
                else:
                    body["metadata"]["resourceVersion"] = secret.metadata.resource_version
                    core.replace_namespaced_secret(SECRET_NAME, options.namespace, body)
            except ApiException as exc:
                if exc.status == 404 and secret is None:
                    _create_namespace(options.namespace)
                    continue
                if exc.status == 409:
                    continue  # another replica wrote first: use theirs
                raise
            log.info("webhook certificate written", created=secret is None)
        STATE.bundle = desired
        STATE.grant_keys = _grant_keys(desired)
        _write_files(certs_dir, desired)
        return
    raise RuntimeError(f"could not settle Secret {options.namespace}/{SECRET_NAME}")


def _create_namespace(name: str) -> None:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    try:
        body: Any = {"metadata": {"name": name}}
        client.CoreV1Api(STATE.api_client).create_namespace(body)
    except ApiException as exc:
        if exc.status != 409:
            raise


def _write_files(directory: Path, bundle: certs.CertBundle) -> None:
    """Replace the files only when they change: kopf restarts its server on a new mtime."""
    for name, content in ((certs.TLS_KEY, bundle.serving.key_pem), (certs.TLS_CERT, bundle.serving.cert_pem)):
        path = directory / name
        if path.exists() and path.read_bytes() == content:
            continue
        partial = directory / f".{name}.tmp"
        partial.write_bytes(content)
        os.chmod(partial, 0o600)
        partial.replace(path)


def _endpoint() -> admission_config.Endpoint:
    assert STATE.options is not None
    assert STATE.bundle is not None
    options = STATE.options
    if options.mode == "url":
        return admission_config.Endpoint(
            STATE.bundle.ca_bundle, url=f"https://{options.url_host}:{options.port}"
        )
    return admission_config.Endpoint(
        STATE.bundle.ca_bundle,
        service_namespace=options.namespace,
        service_name=options.service_name,
        service_port=options.service_port,
    )


def _ensure_webhook_configurations() -> None:
    """Make the two configurations match the settings (or remove them when the pool is disabled)."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    assert STATE.options is not None
    api = client.AdmissionregistrationV1Api(STATE.api_client)
    mutating, validating = admission_config.webhook_configurations(
        _endpoint(),
        profile_selector=STATE.settings.namespace_selector,
        excluded_namespaces=[STATE.options.namespace],
    )
    kinds = (
        (
            mutating,
            api.read_mutating_webhook_configuration,
            api.create_mutating_webhook_configuration,
            api.replace_mutating_webhook_configuration,
            api.delete_mutating_webhook_configuration,
        ),
        (
            validating,
            api.read_validating_webhook_configuration,
            api.create_validating_webhook_configuration,
            api.replace_validating_webhook_configuration,
            api.delete_validating_webhook_configuration,
        ),
    )
    desired: Any
    for desired, read, create, replace_, delete in kinds:
        name = desired["metadata"]["name"]
        try:
            live = api.api_client.sanitize_for_serialization(read(name))
        except ApiException as exc:
            if exc.status != 404:
                raise
            live = None
        if not STATE.settings.enabled:
            if live is not None:
                with contextlib.suppress(ApiException):
                    delete(name)
            continue
        if live is None:
            with contextlib.suppress(ApiException):  # 409: another replica created it first
                create(desired)
        elif not _contains(live.get("webhooks"), desired["webhooks"]):
            desired["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
            try:
                replace_(name, desired)
            except ApiException as exc:
                if exc.status != 409:
                    raise
    STATE.configs_ok = True


def _contains(live: Any, desired: Any) -> bool:
    """Whether `live` holds everything `desired` says (the server adds defaults we do not set)."""
    if isinstance(desired, Mapping):
        return isinstance(live, Mapping) and all(_contains(live.get(k), v) for k, v in desired.items())
    if isinstance(desired, list):
        return isinstance(live, list) and len(live) == len(desired) and all(map(_contains, live, desired))
    return bool(live == desired)


# ---- admission ----------------------------------------------------------------------------


async def _admit(
    decide: Callable[[webhook.AdmissionRequest, webhook.Context], webhook.Decision],
    name: str,
    kind: str,
    body: Mapping[str, Any],
    old: Mapping[str, Any] | None,
    operation: str | None,
    dryrun: bool,
    patch: kopf.Patch,
    warnings: list[str],
) -> None:
    if STATE.allocator is None or STATE.layout is None:
        raise kopf.AdmissionError("the MAC allocator is still starting; retry", code=503)
    request = webhook.AdmissionRequest(
        str(operation or ""), kind, dict(body), dict(old) if old else None, bool(dryrun)
    )
    started = time.perf_counter()
    try:
        decision = await _in_thread(decide, request, STATE.context())
    except Exception as exc:
        ADMISSION_SECONDS.labels(name, "error").observe(time.perf_counter() - started)
        log.warning("MAC admission failed", webhook=name, namespace=request.namespace, error=str(exc))
        raise kopf.AdmissionError(f"MAC allocation is unavailable: {exc}", code=500) from exc
    if isinstance(decision, webhook.Denied):
        ADMISSION_SECONDS.labels(name, "denied").observe(time.perf_counter() - started)
        raise kopf.AdmissionError(decision.message, code=decision.code)
    ADMISSION_SECONDS.labels(name, "allowed").observe(time.perf_counter() - started)
    warnings.extend(decision.warnings)
    for claim in decision.claims:
        if claim.wrote:
            RESERVATIONS.labels("takeover" if claim.previous else "new").inc()
    if decision.patch:
        operations = list(decision.patch)
        patch.fns.append(lambda raw: webhook.apply_patch_in_place(cast(dict[str, Any], raw), operations))


def _admission_handler(decide: Any, label: str, kind: str) -> Any:
    async def handler(
        *,
        body: kopf.Body,
        dryrun: bool,
        patch: kopf.Patch,
        warnings: list[str],
        old: Any = None,
        operation: str | None = None,
        **_: Any,
    ) -> None:
        await _admit(decide, label, kind, body, old, operation, dryrun, patch, warnings)

    return handler


# The four webhooks differ only in what they decide and on which kind; each gets its own id (and
# so its own URL path), matching the configurations in admission_config.
for _register, _plural, _id, _operations, _decide, _label, _kind in (
    (
        kopf.on.mutate,
        "virtualmachines",
        admission_config.MUTATE_VM,
        ["CREATE", "UPDATE"],
        webhook.mutate,
        "mutate-vm",
        VM_KIND,
    ),
    (
        kopf.on.mutate,
        "virtualmachineinstances",
        admission_config.MUTATE_VMI,
        ["CREATE"],
        webhook.mutate,
        "mutate-vmi",
        VMI_KIND,
    ),
    (
        kopf.on.validate,
        "virtualmachines",
        admission_config.VALIDATE_VM,
        ["CREATE", "UPDATE"],
        webhook.validate,
        "validate-vm",
        VM_KIND,
    ),
    (
        kopf.on.validate,
        "virtualmachineinstances",
        admission_config.VALIDATE_VMI,
        ["CREATE"],
        webhook.validate,
        "validate-vmi",
        VMI_KIND,
    ),
):
    _register(*KUBEVIRT, _plural, id=_id, operations=cast(Any, _operations), side_effects=True)(
        _admission_handler(_decide, _label, _kind)
    )


# ---- reservation bookkeeping from watch events --------------------------------------------


_last_parsed: tuple[tuple[str, str], Reservation | None] = (("", ""), None)


def _parse_reservation(body: Mapping[str, Any]) -> Reservation | None:
    """One parse per watch event, shared by both indexes so each MAC is cached as one object.

    kopf calls the indexers of an event one after the other; remembering the last result (keyed
    by uid and resourceVersion, which identify the content) halves the cache's memory.
    """
    global _last_parsed
    meta = body.get("metadata") or {}
    key = (str(meta.get("uid", "")), str(meta.get("resourceVersion", "")))
    last_key, last = _last_parsed
    if key == last_key and all(key):
        return last
    try:
        reservation: Reservation | None = Reservation.from_object(body)
    except ValueError:
        reservation = None
    _last_parsed = (key, reservation)
    return reservation


# Coroutines, not functions: kopf runs sync indexers in its small thread pool, one hop per object
# and index, which dominates a start-up that lists every reservation.
@kopf.index(GROUP, VERSION, PLURAL, id="macpool_by_mac")
async def macpool_by_mac(body: kopf.Body, **_: Any) -> dict[str, Reservation] | None:
    """Reservations by MAC: a cache for the watch handlers; every write they make is guarded."""
    reservation = _parse_reservation(body)
    return {str(reservation.mac): reservation} if reservation is not None else None


@kopf.index(GROUP, VERSION, PLURAL, id="macpool_by_holder")
async def macpool_by_holder(body: kopf.Body, **_: Any) -> dict[str, Reservation] | None:
    reservation = _parse_reservation(body)
    if reservation is None or not reservation.holder.uid:
        return None
    return {reservation.holder.uid: reservation}


def _first(values: Iterable[Reservation] | None) -> Reservation | None:
    return next(iter(values), None) if values is not None else None


async def _object_event(
    kind: str, event: str | None, body: Mapping[str, Any], by_mac: Any, by_holder: Any
) -> None:
    if STATE.store is None or STATE.allocator is None or not STATE.settings.enabled:
        return
    if kind == VMI_KIND and webhook.owned_by_vm(body):
        return
    carriers = reconcile.carriers_of(kind, body)
    holder = Holder.of(body, kind=kind)
    held = list(by_holder.get(holder.uid, [])) if holder.uid else []
    if event == "DELETED":
        # Fresh reads, not the cache: a release must not lose to a cached resourceVersion.
        allocator = STATE.allocator
        for mac in {c.mac for c in carriers} | {r.mac for r in held}:
            released = await _in_thread(allocator.release, mac, holder)
            if released is not None:
                RECONCILE_WRITES.labels("Release").inc()
        return
    reserved = {c.mac: r for c in carriers if (r := _first(by_mac.get(str(c.mac)))) is not None}
    actions = reconcile.plan_for_object(
        carriers, holder, reserved=reserved, held_by_holder=held, deleted=False
    )
    if actions:
        report = await _in_thread(lambda: reconcile.execute(actions, STATE.store, now=datetime.now(UTC)))  # type: ignore[arg-type]
        for action, count in report.applied.items():
            RECONCILE_WRITES.labels(action).inc(count)


def _start_object_watchers(loop: asyncio.AbstractEventLoop) -> None:
    """VM and VMI events through our own 404-tolerant watchers, not kopf's.

    KubeVirt's CRDs vanish when KubeVirt is removed, and a kopf watcher that gets 404 takes the
    whole operator down (see watches.py). Events are handled one at a time per kind, in order, on
    kopf's loop, where the reservation indexes live; existing objects and anything a watch gap
    missed are the audit's work.
    """
    kube = KubeClient(STATE.api_client)
    for kind, api_kind in ((VM_KIND, VIRTUAL_MACHINE), (VMI_KIND, VIRTUAL_MACHINE_INSTANCE)):

        def handle(event: str, obj: dict[str, Any], kind: str = kind) -> None:
            try:
                asyncio.run_coroutine_threadsafe(
                    _object_event(kind, event, obj, STATE.by_mac, STATE.by_holder), loop
                ).result(timeout=OBJECT_EVENT_TIMEOUT)
            except Exception as exc:  # the next audit round repairs whatever this missed
                log.warning("VM event bookkeeping failed", kind=kind, event=event, error=str(exc))

        STATE.watchers.append(KindWatcher(kube, api_kind, handle, label_selector="").start())


@kopf.on.event(PROFILE_GROUP, PROFILE_VERSION, PROFILE_PLURAL, id="macpool-profile-event")
async def macpool_profile_event(**_: Any) -> None:
    if STATE.executor is None:
        return
    await _in_thread(_refresh_settings)
    if STATE.wake is not None:
        STATE.wake.set()


# ---- the maintenance loop: certificates, configurations, audit, readiness, status --------


async def _maintenance() -> None:
    assert STATE.options is not None
    assert STATE.wake is not None
    options = STATE.options
    next_certs = time.monotonic() + options.cert_check_seconds
    next_audit = 0.0
    while True:
        try:
            now = time.monotonic()
            if now >= next_certs:
                await _in_thread(_ensure_certificates)
                next_certs = now + options.cert_check_seconds
            await _in_thread(_ensure_webhook_configurations)
            if now >= next_audit:
                await _audit_round()
                next_audit = now + options.audit_seconds
            await _check_readiness()
            WEBHOOK_READY.set(1 if STATE.ready else 0)
            await _in_thread(_write_status)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # keep the loop alive; the next tick retries everything
            log.warning("macpool maintenance failed", error=str(exc))
        STATE.wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(STATE.wake.wait(), timeout=min(TICK_SECONDS, options.audit_seconds))


async def _audit_round() -> None:
    if STATE.store is None or STATE.source is None or STATE.layout is None:
        return
    store, source, layout = STATE.store, STATE.source, STATE.layout
    report = await _in_thread(
        lambda: audit.run_audit(
            store,
            source,
            layout=layout,
            grace_seconds=STATE.settings.release_grace_period_seconds,
            clock=lambda: datetime.now(UTC),
            reconcile=STATE.settings.enabled,
        )
    )
    STATE.last_report = report
    COLLISIONS.set(len(report.collisions))
    ALLOCATED.set(report.usage.allocated)
    for prefix, free in report.usage.free_per_prefix.items():
        FREE.labels(prefix).set(free)
    for action, count in report.execution.applied.items():
        RECONCILE_WRITES.labels(action).inc(count)
    for error in report.execution.errors:
        log.warning("reservation write failed", error=error)
    if report.collisions:
        await _in_thread(_report_collisions, report.collisions)


def _report_collisions(collisions: Iterable[reconcile.Collision]) -> None:
    """One Warning event per object and colliding MAC, per process lifetime."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    core = client.CoreV1Api(STATE.api_client)
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    for collision in collisions:
        for carrier in collision.carriers:
            key = (
                str(collision.mac),
                carrier.holder.uid or f"{carrier.holder.namespace}/{carrier.holder.name}",
            )
            if key in STATE.reported_collisions:
                continue
            holder = carrier.holder
            event: Any = {
                "metadata": {"generateName": f"{holder.name}.macpool.", "namespace": holder.namespace},
                "involvedObject": {
                    "apiVersion": "kubevirt.io/v1",
                    "kind": holder.kind,
                    "name": holder.name,
                    "namespace": holder.namespace,
                    "uid": holder.uid,
                },
                "reason": "MACCollision",
                "type": "Warning",
                "message": audit.collision_message(collision, holder.namespace),
                "source": {"component": "vmo-operator"},
                "reportingComponent": "vmo.dev/macpool",
                "reportingInstance": os.environ.get("HOSTNAME", "vmo-operator"),
                "firstTimestamp": now,
                "lastTimestamp": now,
                "count": 1,
            }
            try:
                core.create_namespaced_event(holder.namespace, event)
            except ApiException as exc:
                log.warning(
                    "could not record MAC collision event", namespace=holder.namespace, error=str(exc)
                )
                continue
            STATE.reported_collisions.add(key)


ProbeResult = Literal["ok", "unknown-resource", "failed"]


def _probe() -> ProbeResult:
    """POST a harmless dry-run review to our own server, trusting only our CA."""
    assert STATE.options is not None
    assert STATE.bundle is not None
    review = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": str(uuid.uuid4()),
            "kind": {"group": "kubevirt.io", "version": "v1", "kind": VM_KIND},
            "resource": {"group": "kubevirt.io", "version": "v1", "resource": "virtualmachines"},
            "operation": "CREATE",
            "namespace": "vmo-probe",
            "userInfo": {"username": "vmo-macpool-probe"},
            "dryRun": True,
            "object": {
                "apiVersion": "kubevirt.io/v1",
                "kind": VM_KIND,
                "metadata": {"name": "probe", "namespace": "vmo-probe"},
                "spec": {},
            },
        },
    }
    context = ssl.create_default_context(cadata=STATE.bundle.ca_bundle.decode("ascii"))
    context.check_hostname = False  # we dial loopback; the chain is still verified against our CA
    host = "127.0.0.1" if STATE.options.listen_host in ("0.0.0.0", "") else STATE.options.listen_host
    connection = http.client.HTTPSConnection(host, STATE.options.port, context=context, timeout=5)
    try:
        connection.request("POST", f"/{PROBE_PATH}", json.dumps(review), {"Content-Type": "application/json"})
        response = connection.getresponse()
        payload = json.loads(response.read() or b"{}")
    except (OSError, ValueError, http.client.HTTPException):
        return "failed"
    finally:
        connection.close()
    if response.status == 404:
        return "unknown-resource"  # kopf's server does not know the VirtualMachine API
    return "ok" if response.status == 200 and (payload.get("response") or {}).get("allowed") else "failed"


def _vm_api_served() -> bool:
    """Whether API discovery serves kubevirt.io/v1 virtualmachines right now."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    try:
        found = client.CustomObjectsApi(STATE.api_client).get_api_resources("kubevirt.io", "v1")
    except ApiException:
        return False
    return any(resource.name == "virtualmachines" for resource in found.resources or [])


async def _check_readiness() -> None:
    """Probe our own webhook; restart kopf when it has missed the VirtualMachine API coming back.

    Two probes in a row must fail that way while discovery serves the API, so a re-scan that kopf
    is about to make anyway does not cost a restart.
    """
    result = await _in_thread(_probe)
    stale = result == "unknown-resource" and await _in_thread(_vm_api_served)
    STATE.stale_probes = STATE.stale_probes + 1 if stale else 0
    if STATE.stale_probes >= 2:
        STATE.stale_probes = 0
        reactor.request_restart("the webhook answers 404 for VirtualMachines that discovery serves")
    STATE.ready = STATE.settings.enabled and STATE.configs_ok and result == "ok"


def _write_status() -> None:
    """`status.macPool` on the active profile, only when it changed."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    if not STATE.active_profile:
        return
    message = ""
    if not STATE.settings.enabled:
        message = "MAC allocation is disabled in the profile"
    elif not STATE.ready:
        message = "the webhook does not answer yet (is the VirtualMachine API installed?)"
    status = audit.status_of(STATE.last_report, webhook_ready=STATE.ready, message=message)
    comparable = {k: v for k, v in status.items() if k != "lastAuditTime"}
    if comparable == STATE.last_status:
        return
    try:
        client.CustomObjectsApi(STATE.api_client).patch_cluster_custom_object_status(
            PROFILE_GROUP,
            PROFILE_VERSION,
            PROFILE_PLURAL,
            STATE.active_profile,
            {"status": {"macPool": status}},
            _content_type="application/merge-patch+json",
        )
    except ApiException as exc:
        if exc.status == 404:
            return
        raise
    STATE.last_status = comparable
