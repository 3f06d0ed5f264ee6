"""Benchmarks of pool flooding: how fast the GC drains 20,000 orphaned reservations past their grace
period (and whether an unrelated orphan waits behind them), and a live replica's memory with
50,000 reservations against the chart's 512 Mi limit.

The orphans are what failed creates leave behind: Pending reservations no object will carry,
written straight through the API server. Two replicas run at the production resync interval; one
of them holds the GC lease.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from bench.core import Bench, Row, create_shedding_load, rss_mb
from bench.macpool import answers
from tests.support.kube import PROFILE, manifest
from tests.support.macpool import PROFILE_NAME, orphan, put_profile
from tests.support.operator import OperatorProcess
from tests.support.vms import install_vm_api
from tests.support.waiting import eventually
from vmo_operator.macpool import mac as macs
from vmo_operator.macpool.reservation import (
    GROUP,
    HOLDER_NAMESPACE_LABEL,
    PLURAL,
    STATE_LABEL,
    VERSION,
)

ORPHANS = 20_000
GC_GRACE_SECONDS = 60
GC_TARGET_SECONDS = 60  # all released within their grace period plus a minute
MEMORY_RESERVATIONS = 50_000
CHART_MEMORY_LIMIT_MIB = 512  # charts/vmo-operator/values.yaml resources.limits.memory
WRITERS = 32


def _mac(block: int, n: int) -> macs.Mac:
    return macs.Mac.of([0x0E, 0xF0 | block, n >> 24 & 0xFF, n >> 16 & 0xFF, n >> 8 & 0xFF, n & 0xFF])


def _write_orphans(bench: Bench, namespace: str, block: int, count: int) -> float:
    """`count` Pending orphans for `namespace`; the seconds it took."""
    custom = client.CustomObjectsApi(bench.pool(WRITERS + 4))

    def put(n: int) -> None:
        body = orphan(_mac(block, n), namespace, n)
        create_shedding_load(lambda: custom.create_cluster_custom_object(GROUP, VERSION, PLURAL, body))

    started = time.monotonic()
    with ThreadPoolExecutor(WRITERS) as executor:
        list(executor.map(put, range(count)))
    return time.monotonic() - started


def _count(api: Any, selector: str = "") -> int:
    """Reservations matching `selector`, counted page by page (50,000 never sit in memory at once)."""
    custom = client.CustomObjectsApi(api)
    total, token = 0, None
    while True:
        page = manifest(
            custom.list_cluster_custom_object(
                GROUP, VERSION, PLURAL, label_selector=selector, limit=5000, _continue=token
            )
        )
        total += len(page["items"])
        token = page["metadata"].get("continue")
        if not token:
            return total


def _leader(replicas: list[OperatorProcess]) -> OperatorProcess | None:
    for replica in replicas:
        if replica.metrics().get("vmo_macpool_gc_leader", 0) == 1:
            return replica
    return None


def _delete_all(api: Any, namespace: str) -> None:
    with contextlib.suppress(ApiException):
        client.CustomObjectsApi(api).delete_collection_cluster_custom_object(
            GROUP, VERSION, PLURAL, label_selector=f"{HOLDER_NAMESPACE_LABEL}={namespace}"
        )


def _profile(api: Any, grace: int) -> None:
    put_profile(api, {"macPool": {"releaseGracePeriodSeconds": grace}})


def gc_rows(bench: Bench) -> list[Row]:
    api = bench.api
    install_vm_api(api, bench.plane.kubeconfig)
    _profile(api, GC_GRACE_SECONDS)
    replicas = bench.use_replicas(2)
    with contextlib.suppress(ApiException):
        client.CoreV1Api(api).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="flood")))
    eventually(lambda: answers(api, "flood"), timeout=120, what="MAC webhook answering")
    eventually(lambda: _leader(replicas), timeout=60, what="a GC leader")

    namespace = f"orphans-{uuid.uuid4().hex[:6]}"
    write_seconds = _write_orphans(bench, namespace, 0x0, ORPHANS)
    backlog_due = time.monotonic() + GC_GRACE_SECONDS  # the last of them expires about now + grace
    late = _mac(0x1, 0)  # an unrelated orphan, written behind the backlog
    custom = client.CustomObjectsApi(api)
    custom.create_cluster_custom_object(GROUP, VERSION, PLURAL, orphan(late, namespace, ORPHANS))
    late_due = time.monotonic() + GC_GRACE_SECONDS

    def late_released() -> float | None:
        found = manifest(custom.get_cluster_custom_object(GROUP, VERSION, PLURAL, late.reservation_name))
        return time.monotonic() if found["spec"]["state"] != "Pending" else None

    late_done = eventually(late_released, timeout=GC_GRACE_SECONDS + 600, interval=0.5, what="late orphan")
    eventually(
        lambda: _count(api, f"{HOLDER_NAMESPACE_LABEL}={namespace},{STATE_LABEL}=Pending") == 0,
        timeout=GC_GRACE_SECONDS + 600,
        interval=1,
        what=f"{ORPHANS} orphans released",
    )
    backlog_done = time.monotonic()
    backlog_past = backlog_done - backlog_due
    late_past = late_done - late_due
    leader = _leader(replicas)
    audit_seconds = leader.metrics().get("vmo_macpool_audit_last_duration_seconds", 0.0) if leader else 0.0
    _delete_all(api, namespace)
    return [
        Row(
            f"GC of {ORPHANS:,} orphaned reservations: all released, seconds past the last one's grace",
            round(backlog_past, 1),
            "s",
            f"<= {GC_TARGET_SECONDS} s",
            anchor="was: minutes; unrelated orphans 3 min late",
            ok=backlog_past <= GC_TARGET_SECONDS,
            note=f"grace {GC_GRACE_SECONDS} s, 2 replicas at the production resync (60 s), GC on the lease "
            f"holder, 16 writes at a time; the orphans took {write_seconds:.0f} s to write; the leader's "
            f"last audit round took {audit_seconds:.1f} s",
        ),
        Row(
            "unrelated orphan behind a 20k backlog: seconds past its grace",
            round(late_past, 1),
            "s",
            f"<= {GC_TARGET_SECONDS} s",
            ok=late_past <= GC_TARGET_SECONDS,
        ),
    ]


def memory_rows(bench: Bench) -> list[Row]:
    """A fresh replica's RSS with no reservations of ours, then a fresh one with 50,000 more."""
    api = bench.api
    install_vm_api(api, bench.plane.kubeconfig)
    _profile(api, 86_400)  # nothing expires during the measurement: no GC writes in the figure
    bench.stop_replicas()
    before = _fresh_replica_rss(bench)
    namespace = f"held-{uuid.uuid4().hex[:6]}"
    write_seconds = _write_orphans(bench, namespace, 0x2, MEMORY_RESERVATIONS)
    after = _fresh_replica_rss(bench)
    _delete_all(api, namespace)
    with contextlib.suppress(ApiException):
        client.CustomObjectsApi(api).delete_cluster_custom_object(*PROFILE, PROFILE_NAME)
    per_reservation = (after - before) * 2**20 / MEMORY_RESERVATIONS
    return [
        Row(
            f"replica RSS with {MEMORY_RESERVATIONS:,} more reservations",
            round(after, 1),
            "MiB",
            f"<= {CHART_MEMORY_LIMIT_MIB} MiB (chart limit)",
            anchor="was ~4.5 KiB per reservation",
            ok=after <= CHART_MEMORY_LIMIT_MIB,
            note=f"{before:.1f} MiB before (a fresh replica on the same cluster): "
            f"{per_reservation:.0f} bytes per reservation; measured once its cache synced and it "
            f"finished an audit round; the "
            f"reservations took {write_seconds:.0f} s to write",
        )
    ]


def _fresh_replica_rss(bench: Bench) -> float:
    """Start one replica, wait until its cache holds every reservation and it audited once; its RSS."""
    bench.stop_replicas()
    replica = bench.start_replica().start()
    expected = _count(bench.api)
    eventually(
        lambda: replica.metrics().get("vmo_macpool_cached_reservations", 0) >= expected,
        timeout=600,
        interval=1,
        what="reservation cache synced",
    )
    eventually(lambda: _audit_rounds(replica) >= 1, timeout=600, interval=1, what="an audit round")
    rss = rss_mb(replica.pid)
    replica.stop()
    return rss


def _audit_rounds(replica: OperatorProcess) -> float:
    return replica.metrics().get("vmo_macpool_audits_total", 0.0)
