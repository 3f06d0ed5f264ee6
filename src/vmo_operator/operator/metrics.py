"""Prometheus metrics of the operator, served on /metrics when a port is configured.

The profile handlers' metrics are one object built by `vmo run` and held by their runtime, not
module globals: a registry can hold each name only once, so a second runtime (a test) hands it a
registry of its own.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector

from vmo_operator.kube.client import KubeClient


class ProfileMetrics:
    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        counter = functools.partial(Counter, registry=registry)
        gauge = functools.partial(Gauge, registry=registry)
        self.reconciles = counter("vmo_reconcile_total", "VMOProfile reconciles by result", ["result"])
        self.reconcile_seconds = Histogram(
            "vmo_reconcile_duration_seconds", "Duration of one VMOProfile reconcile", registry=registry
        )
        self.reconcile_errors = counter(
            "vmo_reconcile_errors_total", "Reconciles that failed, by reason", ["reason"]
        )
        self.managed_objects = gauge(
            "vmo_managed_objects", "Objects the operator owns, by component", ["component"]
        )
        self.drift_repairs = counter(
            "vmo_drift_repairs_total",
            "Owned objects restored after an out-of-band change or delete",
            ["kind"],
        )
        self.object_writes = counter(
            "vmo_object_writes_total", "Owned objects written, by action", ["action"]
        )
        self.wakeups = counter(
            "vmo_profile_wakeups_total", "Reconciles started early by a watch event, by cause", ["cause"]
        )
        self.available = gauge(
            "vmo_profile_available", "1 when the active VMOProfile is Available", ["profile"]
        )
        # What the alert rules (components/alerts.py) watch beyond the counters above.
        self.component_degraded = gauge(
            "vmo_component_degraded", "1 while a component of the profile is Degraded", ["component"]
        )
        self.last_completed = gauge(
            "vmo_reconcile_last_completed_timestamp_seconds",
            "Unix time of the last reconcile round that read the cluster and wrote the status",
        )


class ApiRequestCollector(Collector):
    """Exposes the engine client's per-verb request counts without coupling it to Prometheus."""

    def __init__(self, kube: KubeClient) -> None:
        self._kube = kube

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily("vmo_api_requests", "API requests sent by the operator", labels=["verb"])
        for verb, count in sorted(self._kube.requests.items()):
            family.add_metric([verb], count)
        yield family


def serve(kube: KubeClient, address: str, port: int) -> None:
    REGISTRY.register(ApiRequestCollector(kube))
    if port:
        start_http_server(port, addr=address)
