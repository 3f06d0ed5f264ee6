"""`vmo run`: build the client, metrics, logging and the handlers' runtimes, then hand the loop to kopf.

Everything the handlers share is built here, once per process, and bound into the handlers as they
are registered on one `kopf.OperatorRegistry`; nothing is found through module globals.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from typing import Any, get_args

import kopf
import structlog

from vmo_operator.kube.client import KubeClient
from vmo_operator.kube.connect import connect
from vmo_operator.operator import handlers, login, metrics
from vmo_operator.operator.config import LogFormat, LogLevel, OperatorConfig, WebhookMode
from vmo_operator.operator.logs import configure_logging
from vmo_operator.operator.macpool import lifecycle as macpool_lifecycle
from vmo_operator.operator.macpool import runtime as macpool_runtime
from vmo_operator.operator.reactor import Reactor


def read_profile(name: str | None) -> dict[str, Any] | None:
    """The named profile, or the active (oldest) one, read with the caller's kubeconfig."""
    from vmo_operator.api.profiles import active_profile
    from vmo_operator.kube import kinds

    kube = KubeClient(connect())
    if name:
        return kube.get(kinds.PROFILE, name)
    return active_profile(kube.list(kinds.PROFILE))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--resync-seconds", type=float, help="idle resync interval (default 60)")
    parser.add_argument(
        "--macpool-audit-seconds",
        type=float,
        help="how often a MAC webhook replica audits the reservations (default: the resync interval)",
    )
    parser.add_argument("--metrics-port", type=int, help="serve Prometheus /metrics on this port (0 = off)")
    parser.add_argument("--metrics-address", help="address for /metrics (default 127.0.0.1)")
    parser.add_argument("--liveness", help="kopf liveness endpoint, e.g. http://0.0.0.0:8080/healthz")
    parser.add_argument("--log-format", choices=get_args(LogFormat))
    parser.add_argument("--log-level", choices=get_args(LogLevel))
    parser.add_argument("--webhook-mode", choices=get_args(WebhookMode))
    parser.add_argument("--webhook-host", help="host the API server uses to reach the webhook (url mode)")
    parser.add_argument("--webhook-port", type=int, help="port the webhook server listens on")
    parser.add_argument(
        "--webhook-url-port", type=int, help="url mode: port the API server dials (default: --webhook-port)"
    )
    parser.add_argument(
        "--webhook-client-ca",
        help="PEM CA bundle that must have signed the client certificate of every admission request",
    )
    parser.add_argument("--peering", action="store_true", help="use kopf peering instead of standalone")
    parser.add_argument("--priority", type=int, help="kopf peering priority")


def config_from(args: argparse.Namespace) -> OperatorConfig:
    base = OperatorConfig.from_env()
    overrides = {
        "resync_seconds": args.resync_seconds,
        "macpool_audit_seconds": args.macpool_audit_seconds,
        "metrics_port": args.metrics_port,
        "metrics_address": args.metrics_address,
        "liveness_endpoint": args.liveness,
        "log_format": args.log_format,
        "log_level": args.log_level,
        "webhook_mode": args.webhook_mode,
        "webhook_host": args.webhook_host,
        "webhook_port": args.webhook_port,
        "webhook_url_port": args.webhook_url_port,
        "webhook_client_ca": args.webhook_client_ca,
        "peering_priority": args.priority,
    }
    values = {**base.__dict__, **{k: v for k, v in overrides.items() if v is not None}}
    if args.peering:
        values["standalone"] = False
    return OperatorConfig(**values)


def run(args: argparse.Namespace) -> int:
    config = config_from(args)
    configure_logging(config.log_format, config.log_level)
    log = structlog.get_logger("vmo")
    kube = KubeClient(connect())
    reactor = Reactor()
    reactor.catch_signals()
    registry = _registry()
    kopf.on.cleanup(id="release-stop-flag", registry=registry)(reactor.release)
    handlers.register(registry, handlers.Runtime(kube, config, metrics.ProfileMetrics()))
    _register_optional_handlers(registry, config, reactor)
    metrics.serve(kube, config.metrics_address, config.metrics_port)
    log.info(
        "starting",
        resync_seconds=config.resync_seconds,
        webhook_mode=config.webhook_mode,
        standalone=config.standalone,
    )
    return _run_kopf(config, log, registry, reactor)


def _registry() -> kopf.OperatorRegistry:
    """An empty registry that logs in as the floor's client does (`operator.login`)."""
    registry = kopf.OperatorRegistry()
    login.register(registry)
    return registry


# kopf's watchers fail with 404 when a CRD disappears mid-stream (KubeVirt's VM CRDs go away when
# KubeVirt is removed) and that takes the whole operator down. The watch for a vanished kind is
# simply not started again, so restarting the reactor in-process is the cure. A handler can also
# ask for a restart (see `reactor`). A burst of restarts means something else is wrong, and then
# the process exits for its supervisor to see.
_RESTART_WINDOW_SECONDS = 600.0
_MAX_RESTARTS_IN_WINDOW = 5


def _run_kopf(config: OperatorConfig, log: Any, registry: kopf.OperatorRegistry, reactor: Reactor) -> int:
    restarts: list[float] = []
    while True:
        reactor.restart_requested.clear()
        reactor.catch_signals()  # the last run's loop put the default actions back as it closed
        try:
            _run_kopf_once(config, registry, reactor)
        except Exception as exc:
            if not _is_vanished_resource(exc):
                raise
            log.warning("a watched resource vanished; restarting the reactor", error=str(exc))
        if reactor.stopping.is_set():
            log.info(
                "stopped by a signal that came before kopf handled signals", signal=reactor.caught_signal
            )
            return 0
        if not reactor.restart_requested.is_set():
            return 0  # a signal kopf handled or a clean exit, not a restart request
        now = time.monotonic()
        restarts = [t for t in restarts if now - t < _RESTART_WINDOW_SECONDS] + [now]
        if len(restarts) > _MAX_RESTARTS_IN_WINDOW:
            log.error("too many reactor restarts, exiting", restarts=len(restarts))
            return 1


def _run_kopf_once(config: OperatorConfig, registry: kopf.OperatorRegistry, reactor: Reactor) -> None:
    """One run of kopf in a fresh event loop, until a signal or a restart request stops it.

    What `kopf.run` does, except that the stop flag is made inside the loop (see `reactor`).
    """

    async def operate() -> None:
        await kopf.operator(
            registry=registry,
            clusterwide=True,
            standalone=config.standalone,
            priority=config.peering_priority,
            liveness_endpoint=config.liveness_endpoint or None,
            stop_flag=reactor.stop_flag(),
        )

    with contextlib.suppress(asyncio.CancelledError):
        asyncio.run(operate())


def _is_vanished_resource(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if type(current).__name__ == "APINotFoundError":
            return True
        current = current.__cause__ or current.__context__
    return False


def _register_optional_handlers(
    registry: kopf.OperatorRegistry, config: OperatorConfig, reactor: Reactor
) -> None:
    """The MAC allocator is off when no webhook is served."""
    if config.webhook_mode == "off":
        return
    macpool_lifecycle.register(registry, macpool_runtime.build(config, reactor))
