"""Runtime configuration of one operator process, from flags and environment.

Settings are a frozen dataclass with documented fields, like kopf's own settings: each has a unit
and a default chosen for production clusters; tests shorten the intervals through flags.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal, TypeVar, get_args

LogFormat = Literal["auto", "json", "console"]
LogLevel = Literal["debug", "info", "warning", "error"]
WebhookMode = Literal["off", "url", "service"]
"""The flags of `vmo run` offer exactly these choices (see `main.add_arguments`)."""

Choice = TypeVar("Choice", bound=str)


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _env_choice(name: str, default: Choice, choices: object) -> Choice:
    """An enum-like variable, refused at startup when it is none of the `Literal`'s values."""
    value = _env(name, default).lower()
    allowed: tuple[str, ...] = get_args(choices)
    if value not in allowed:
        raise ValueError(f"{name}={value!r}: expected one of {', '.join(allowed)}")
    return value  # type: ignore[return-value]  # checked against the Literal's values just above


@dataclass(frozen=True)
class OperatorConfig:
    resync_seconds: float = 60.0
    """Idle resync interval: re-read every owned object and repair drift the watches missed."""

    retry_seconds: float = 5.0
    """Delay before the next reconcile when the last one failed or the platform is not Available."""

    macpool_audit_seconds: float = 0.0
    """How often a MAC webhook replica audits the reservations (orphans, releases after the grace
    period, status.macPool); 0: every resync. At least 1 s."""

    namespace: str = "vmo-system"
    """Namespace the operator runs in; excluded from MAC allocation, holds its Secrets."""

    metrics_address: str = "127.0.0.1"
    metrics_port: int = 0
    """Prometheus /metrics listener; port 0 disables it."""

    liveness_endpoint: str = ""
    """kopf liveness URL, e.g. http://0.0.0.0:8080/healthz; empty disables it."""

    log_format: LogFormat = "auto"
    """"json", "console" or "auto" (JSON unless stdout is a terminal)."""

    log_level: LogLevel = "info"

    standalone: bool = True
    """Skip kopf peering. Replicas coordinate through the API server (SSA, reservations)."""

    peering_priority: int = 0

    webhook_mode: WebhookMode = "off"
    """"off", "url" (serve on host:port, configure by URL — for tests) or "service" (in-cluster)."""

    webhook_host: str = "127.0.0.1"
    webhook_port: int = 9443
    webhook_service: str = "vmo-operator-webhook"

    webhook_url_port: int = 0
    """url mode: the port the API server dials, when a proxy in front forwards it to `webhook_port`."""

    webhook_client_ca: str = ""
    """PEM CA bundle: admission requests need a client certificate it signed (the API server's,
    see docs/webhook-authentication.md). Empty: anyone who reaches the port may post reviews."""

    @classmethod
    def from_env(cls) -> OperatorConfig:
        return cls(
            resync_seconds=float(_env("VMO_RESYNC_SECONDS", "60")),
            retry_seconds=float(_env("VMO_RETRY_SECONDS", "5")),
            macpool_audit_seconds=float(_env("VMO_MACPOOL_AUDIT_SECONDS", "0")),
            namespace=_env("VMO_NAMESPACE", "vmo-system"),
            metrics_address=_env("VMO_METRICS_ADDRESS", "127.0.0.1"),
            metrics_port=int(_env("VMO_METRICS_PORT", "0")),
            liveness_endpoint=_env("VMO_LIVENESS_ENDPOINT", ""),
            log_format=_env_choice("VMO_LOG_FORMAT", "auto", LogFormat),
            log_level=_env_choice("VMO_LOG_LEVEL", "info", LogLevel),
            standalone=_env("VMO_STANDALONE", "true").lower() == "true",
            peering_priority=int(_env("VMO_PEERING_PRIORITY", "0")),
            webhook_mode=_env_choice("VMO_WEBHOOK_MODE", "off", WebhookMode),
            webhook_host=_env("VMO_WEBHOOK_HOST", "127.0.0.1"),
            webhook_port=int(_env("VMO_WEBHOOK_PORT", "9443")),
            webhook_service=_env("VMO_WEBHOOK_SERVICE", "vmo-operator-webhook"),
            webhook_url_port=int(_env("VMO_WEBHOOK_URL_PORT", "0")),
            webhook_client_ca=_env("VMO_WEBHOOK_CLIENT_CA", ""),
        )
