"""The one runtime object the MAC handlers share, built by `vmo run` and passed to each of them.

Two lifetimes, two objects. `MacPoolRuntime` lives as long as the process: the options, the API
clients, the thread pools, the allocator, the metrics. `Serving` is built whole by the startup
handler once the cluster identity, the active profile's settings and the webhook certificate are
known, and built again when kopf's reactor restarts; until it exists, admission answers 503.

Work that leaves the event loop: every API call runs in a dedicated thread pool, so a slow API
server cannot stall admission handling of other requests. An admission decision fans its
per-interface reservation calls out to a second pool (never the one it runs in, so a full pool
cannot deadlock on itself).

Also process-wide: the reservation cache (`macpool.cache`, kept by one list-then-watch thread, with
the MACs existing VMs carried at start-up from one scan of each kind),
this replica's spare pool (`operator/macpool/spares.py`: MACs reserved ahead of demand, so
admission allocates without a write) and the GC lease. Admission has no leader, but the audit's
reconcile round (the garbage collection of orphaned reservations) runs on the replica that
holds the Lease `GC_LEASE`: it is safe on every replica (each write is guarded) but wasteful, and
two replicas racing through a backlog of thousands would mostly collect each other's 409s.
"""

from __future__ import annotations

import asyncio
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import kopf
import structlog

from vmo_operator.kube import kinds
from vmo_operator.kube.client import KubeClient
from vmo_operator.kube.connect import connect
from vmo_operator.kube.lease import LeaderElection, LeaseKeeper
from vmo_operator.kube.watches import KindWatcher, ListWatcher
from vmo_operator.macpool import admission_config, audit, certs, duplicates, fanout, grant, reconcile, webhook
from vmo_operator.macpool import mac as macs
from vmo_operator.macpool.allocator import Allocator
from vmo_operator.macpool.cache import CacheListedStore, ReservationCache
from vmo_operator.macpool.deadline import Deadline
from vmo_operator.macpool.reservation import VM_KIND, VMI_KIND
from vmo_operator.macpool.settings import MacPoolSettings
from vmo_operator.macpool.store import KubeAccessReviews, KubeObjectSource, KubeReservationStore
from vmo_operator.operator.config import OperatorConfig
from vmo_operator.operator.macpool.metrics import MacPoolMetrics
from vmo_operator.operator.macpool.spares import SpareKeeper
from vmo_operator.operator.reactor import Reactor

T = TypeVar("T")

log = structlog.get_logger("vmo.macpool")

SCAN_RETRY_SECONDS = 2.0

WORKERS = 32
# One connection per admission and fan-out worker, so a webhook never queues behind a reconcile;
# and room for the rest that share the pool: the audit's 16 writers, the spare refills, three
# watch streams, two lease keepers. urllib3 closes a connection returned to a full pool, so a pool
# smaller than the threads using it opens (a TLS handshake each) and closes them all the time:
# py-spy showed that at 64 during a burst of creates.
CONNECTIONS = 2 * WORKERS + 32
GC_LEASE = "vmo-macpool-gc"


@dataclass(frozen=True)
class AdmissionOptions:
    """How this process serves and registers the MAC webhooks."""

    mode: Literal["url", "service"]
    namespace: str  # the operator's namespace: holds the Secret, never gets allocation
    port: int  # where the webhook server listens
    certs_dir: Path  # where the serving certificate is written for kopf's server
    listen_host: str = "0.0.0.0"  # in-cluster the Service dials the pod IP
    url_host: str = "127.0.0.1"  # url mode: the host the API server dials
    url_port: int = 0  # url mode: the port the API server dials, when not `port` (a proxy in front)
    client_ca: Path | None = None  # admission requests need a client certificate this CA signed
    service_name: str = "vmo-operator-webhook"
    service_port: int = 443
    audit_seconds: float = 60.0
    cert_check_seconds: float = 600.0

    @classmethod
    def from_operator_config(cls, config: OperatorConfig, certs_dir: Path) -> AdmissionOptions:
        mode: Literal["url", "service"] = "service" if config.webhook_mode == "service" else "url"
        return cls(
            mode=mode,
            namespace=config.namespace,
            port=config.webhook_port,
            certs_dir=certs_dir,
            listen_host=config.webhook_host if mode == "url" else "0.0.0.0",
            url_host=config.webhook_host,
            url_port=config.webhook_url_port,
            client_ca=Path(config.webhook_client_ca) if config.webhook_client_ca else None,
            service_name=config.webhook_service,
            audit_seconds=max(float(config.macpool_audit_seconds or config.resync_seconds), 1.0),
        )

    @property
    def excluded_namespaces(self) -> tuple[str, ...]:
        """Never given MACs, whatever the profile's selector: the operator's own namespace."""
        return (self.namespace,)

    @property
    def sans(self) -> list[str]:
        if self.mode == "url":
            return [self.url_host] + (["localhost"] if self.url_host != "localhost" else [])
        return admission_config.service_sans(self.service_name, self.namespace)


@dataclass(frozen=True)
class PoolView:
    """The active profile's MAC pool: swapped whole, so a request sees old or new, never half."""

    settings: MacPoolSettings
    layout: macs.PoolLayout
    active_profile: str  # "" when there is no profile: the defaults apply, no status is written


@dataclass(frozen=True)
class Certificates:
    """The webhook CA and serving certificate, and the grant keys derived from them."""

    bundle: certs.CertBundle
    grant_keys: tuple[bytes, ...]

    @classmethod
    def of(cls, bundle: certs.CertBundle) -> Certificates:
        # The signing CA's key first; a successor CA's too, so replicas a rotation step apart agree.
        pairs = (bundle.ca, *([bundle.next_ca] if bundle.next_ca is not None else []))
        return cls(bundle, tuple(grant.derive_key(pair.key_pem) for pair in pairs))


@dataclass
class Health:
    """What the maintenance loop last found; read by the status it writes."""

    configs_ok: bool = False
    ready: bool = False
    last_report: audit.AuditReport | None = None
    last_status: dict[str, Any] = field(default_factory=dict)


@dataclass
class Serving:
    """What admission needs beyond the process's runtime, built whole by the startup handler.

    `view` is None only while the active profile's spec.macPool is invalid and no valid one has
    been read since startup: admission then refuses (503) and the configurations use the defaults.
    """

    cluster_identity: str
    view: PoolView | None
    certificates: Certificates
    namespace_labels: kopf.Index[str, dict[str, str]]  # kopf's index of every namespace's labels
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def settings(self) -> MacPoolSettings:
        return self.view.settings if self.view is not None else MacPoolSettings()


class MacPoolRuntime:
    """The MAC wiring's process-wide parts; `serving` is set by the startup handler."""

    def __init__(self, options: AdmissionOptions, api_client: Any, reactor: Reactor, metrics: MacPoolMetrics):
        self.options = options
        self.kube = KubeClient(api_client)
        self.store = KubeReservationStore(api_client)
        self.source = KubeObjectSource(api_client)
        self.access = KubeAccessReviews(api_client, duplicates.AnswerCache(time.monotonic))
        self.reservations = cache = ReservationCache(self.store.macs_in_namespace, carried_scan=True)
        self.allocator = Allocator(self.store, known_taken=cache.taken, carrier_namespace=cache.carried_in)
        self.carried_scan: threading.Thread | None = None
        metrics.cached.set_function(lambda: len(self.reservations))
        metrics.unadopted.set_function(lambda: self.reservations.unadopted)
        # What the audit lists from: the cache, once synced; its writes go to the API server.
        self.audit_store = CacheListedStore(self.store, self.reservations)
        self.reservation_watcher: ListWatcher | None = None
        self.spare_keeper: SpareKeeper | None = None
        self.gc_lease: LeaseKeeper | None = None
        self.reactor = reactor
        self.metrics = metrics
        self._io = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="macpool")
        self.fan_out = fanout.on_executor(
            ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="macpool-fan-out")
        )
        self.serving: Serving | None = None
        self.watchers: list[KindWatcher] = []
        self.lanes: list[Any] = []  # the watchers' `bookkeeping.Lanes`, stopped with them
        self.maintenance: asyncio.Task[None] | None = None
        self.background: set[asyncio.Task[None]] = set()  # bookkeeping's later looks (`bookkeeping`)
        self.health = Health()
        # (MAC, holder) pairs already reported by an Event, once per process lifetime.
        self.reported_collisions: set[tuple[str, str]] = set()

    async def in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._io, fn, *args)

    def context(self, view: PoolView, certificates: Certificates, deadline: Deadline) -> webhook.Context:
        return webhook.Context(
            view.settings,
            view.layout,
            self.allocator,
            new_claim=lambda: uuid.uuid4().hex[:16],
            grant_keys=certificates.grant_keys,
            fan_out=self.fan_out,
            find_vm=self.source.vm_template,
            may_use_duplicates=self.access.may_use_duplicates,
            deadline=deadline,
            quota=self.reservations,
        )

    def watch_reservations(self) -> None:
        """Start the list-then-watch that keeps `reservations` (once per process: it outlives
        reactor restarts, so a restart does not list every reservation again)."""
        if self.reservation_watcher is None:
            self.reservation_watcher = ListWatcher(
                self.kube, kinds.MAC_RESERVATION, self.reservations
            ).start()

    def scan_carried(self) -> None:
        """Load the MACs every existing VM and bare VMI carries into the cache, once per process, in
        a thread (`macpool.cache`: until then it is not synced, and admission does not allocate)."""
        if self.carried_scan is not None:
            return

        def scan() -> None:
            while True:
                try:
                    carried = [
                        (carrier.mac.value, carrier.holder.namespace)
                        for kind in (VM_KIND, VMI_KIND)
                        for obj in self.source.list_objects(kind)
                        for carrier in reconcile.carriers_of(kind, obj)
                    ]
                except Exception as exc:  # the API server restarts, say: admission waits meanwhile
                    log.warning("listing the MACs existing VMs carry failed; retrying", error=str(exc))
                    time.sleep(SCAN_RETRY_SECONDS)
                    continue
                self.reservations.note_carried(carried)
                return

        self.carried_scan = threading.Thread(target=scan, name="macpool-carried-scan", daemon=True)
        self.carried_scan.start()

    def keep_spares(self) -> None:
        """Start this replica's spare pool and its Lease (once; again after `stop_spares`)."""
        if self.spare_keeper is not None:
            return

        def layout() -> macs.PoolLayout | None:
            serving = self.serving
            view = serving.view if serving is not None else None
            return view.layout if view is not None and view.settings.enabled else None

        replica = f"{socket.gethostname()[:40]}-{uuid.uuid4().hex[:8]}".lower()
        keeper = SpareKeeper(
            self.kube,
            self.store,
            self.allocator,
            self.reservations,
            namespace=self.options.namespace,
            replica=replica,
            layout=layout,
            target=lambda: (self.serving.settings if self.serving else MacPoolSettings()).spares_per_replica,
        )
        self.spare_keeper = keeper.start()
        self.allocator.spares = keeper.pool
        self.metrics.spares.labels("free").set_function(lambda: len(keeper.pool))
        self.metrics.spares.labels("handed-out").set_function(lambda: keeper.pool.outstanding)

    def stop_spares(self) -> None:
        """Stop handing spares out, hand over the handed-out ones, delete the rest (blocking)."""
        keeper, self.spare_keeper = self.spare_keeper, None
        if keeper is not None:
            self.allocator.spares = None
            keeper.stop()

    def stand_for_gc(self) -> None:
        """Contend for the GC lease (again, after `step_down`)."""
        if self.gc_lease is None:
            identity = f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
            election = LeaderElection(self.kube, GC_LEASE, self.options.namespace, identity)
            self.gc_lease = LeaseKeeper(election).start()

    def step_down(self) -> None:
        """Stop contending and hand the lease over at once (blocking)."""
        lease, self.gc_lease = self.gc_lease, None
        if lease is not None:
            lease.stop()

    @property
    def gc_leader(self) -> bool:
        return self.gc_lease is not None and self.gc_lease.is_leader


def build(config: OperatorConfig, reactor: Reactor) -> MacPoolRuntime:
    """The runtime for `vmo run`: a client of its own and a private directory for the certificate."""
    certs_dir = Path(tempfile.mkdtemp(prefix="vmo-macpool-"))
    options = AdmissionOptions.from_operator_config(config, certs_dir)
    return MacPoolRuntime(options, connect(pool_size=CONNECTIONS), reactor, MacPoolMetrics())
