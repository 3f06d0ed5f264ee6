"""Prometheus metrics of the MAC pool: admission latency, reservations, the audit's findings.

One object built with the runtime, not module globals: a registry can hold each name only once,
so whoever builds a second runtime (a test) hands it a registry of its own.
"""

from __future__ import annotations

import functools

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

ADMISSION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class MacPoolMetrics:
    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        counter = functools.partial(Counter, registry=registry)
        gauge = functools.partial(Gauge, registry=registry)
        self.admission_seconds = Histogram(
            "vmo_macpool_admission_duration_seconds",
            "Time spent deciding one MAC admission request",
            ["webhook", "result"],
            buckets=ADMISSION_BUCKETS,
            registry=registry,
        )
        self.reservations = counter(
            "vmo_macpool_reservations_total", "MACs reserved at admission, by how", ["how"]
        )
        self.collisions = gauge(
            "vmo_macpool_mac_collisions", "MACs carried by more than one VM or bare VMI at the last audit"
        )
        self.allocated = gauge(
            "vmo_macpool_allocated", "Pending and Committed MAC reservations at the last audit"
        )
        self.free = gauge(
            "vmo_macpool_free", "MACs automatic allocation may still hand out, per prefix", ["prefix"]
        )
        self.webhook_ready = gauge(
            "vmo_macpool_webhook_ready", "1 when this replica's MAC webhook answers and is registered"
        )
        self.reconcile_writes = counter(
            "vmo_macpool_reconcile_writes_total", "Reservation writes by the reconciler", ["action"]
        )
        self.audits = counter("vmo_macpool_audits_total", "Audit rounds this replica completed")
        self.cached = gauge(
            "vmo_macpool_cached_reservations", "MAC reservations in this replica's cache (any state)"
        )
        self.unadopted = gauge(
            "vmo_macpool_unadopted_macs",
            "MACs that VMs and bare VMIs existing at this replica's start carry and nobody has reserved "
            "yet (the audit adopts them; allocation passes over them meanwhile)",
        )
        self.audit_seconds = gauge(
            "vmo_macpool_audit_last_duration_seconds", "How long the last audit round took"
        )
        self.spares = gauge(
            "vmo_macpool_spares",
            "This replica's spare reservations: free ones ready to hand out, and handed-out ones not yet "
            "committed or handed over",
            ["state"],
        )
        self.gc_leader = gauge(
            "vmo_macpool_gc_leader", "1 while this replica holds the lease that runs the audit and its GC"
        )
