"""`make bench`: every benchmark against a real local control plane, one table, JSON results.

Figures, not assertions: each row shows the measured value, its target, the anchor figure where
one is known, and a mark. Results go to bench/results/latest.json and are appended to
bench/results/history.jsonl so a regression shows as a change between runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

from kubernetes import client

from bench.cli import cli_rows
from bench.core import REPO, Bench, Row, available, environment
from bench.dashboard import dashboard_rows
from bench.faults import restart_rows
from bench.flood import gc_rows, memory_rows
from bench.floor import floor_rows
from bench.macpool import scale_rows, webhook_rows
from tests.support.kube import PROFILE, get_profile, metadata
from tests.support.waiting import eventually

RESULTS = REPO / "bench" / "results"


def _available(api: object, name: str) -> bool:
    return available(api, name)


def _has_status(api: object, name: str) -> bool:
    profile = get_profile(api, name)
    return bool(((profile or {}).get("status") or {}).get("conditions"))


def _reconcile_complete(api: object, name: str) -> bool:
    """Every object the profile renders was applied and the status saying so was written."""
    conditions = ((get_profile(api, name) or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == "ReconcileComplete" and c.get("status") == "True" for c in conditions)


def _virt_operator_replaced(apps: client.AppsV1Api, old_uid: str | None) -> bool:
    return metadata(apps.read_namespaced_deployment("virt-operator", "kubevirt")).uid != old_uid


def profile_rows(bench: Bench) -> list[Row]:
    custom = client.CustomObjectsApi(bench.api)
    body = {
        "apiVersion": "vmo.dev/v1alpha1",
        "kind": "VMOProfile",
        "metadata": {"name": "bench"},
        "spec": {"multus": {"networks": [{"name": "vlan-10", "vlan": 10}]}},
    }
    requests_before = bench.metric_sum("vmo_api_requests_total")
    reconciles_before = bench.metric_sum("vmo_reconcile_total")
    started = time.monotonic()
    custom.create_cluster_custom_object(*PROFILE, body)
    eventually(lambda: _has_status(bench.api, "bench"), timeout=60, interval=0.02, what="a first status")
    first_status = time.monotonic() - started
    eventually(
        lambda: _reconcile_complete(bench.api, "bench"), timeout=120, interval=0.05, what="ReconcileComplete"
    )
    applied = time.monotonic() - started
    eventually(lambda: _available(bench.api, "bench"), timeout=300, interval=0.1, what="Available")
    cold = time.monotonic() - started
    requests = bench.metric_sum("vmo_api_requests_total") - requests_before
    reconciles = bench.metric_sum("vmo_reconcile_total") - reconciles_before

    started = time.monotonic()
    custom.patch_cluster_custom_object(
        *PROFILE, "bench", {"spec": {"kubevirt": {"featureGates": {"add": ["CPUManager"]}}}}
    )
    eventually(lambda: _available(bench.api, "bench"), timeout=300, interval=0.1, what="Available after edit")
    gate_change = time.monotonic() - started

    # Idle resyncs: after things settle, count the operator's writes in the audit log.
    reconciles = bench.metric_sum("vmo_reconcile_total")
    eventually(lambda: bench.metric_sum("vmo_reconcile_total") >= reconciles + 2, timeout=60, what="settle")
    writes_before = bench.writes()
    reconciles = bench.metric_sum("vmo_reconcile_total")
    eventually(lambda: bench.metric_sum("vmo_reconcile_total") >= reconciles + 3, timeout=60, what="idle")
    idle_reconciles = bench.metric_sum("vmo_reconcile_total") - reconciles
    idle_writes = (bench.writes() - writes_before) / idle_reconciles

    apps = client.AppsV1Api(bench.api)
    latencies = []
    for _ in range(5):
        uid = metadata(apps.read_namespaced_deployment("virt-operator", "kubevirt")).uid
        started = time.monotonic()
        apps.delete_namespaced_deployment("virt-operator", "kubevirt")
        eventually(
            partial(_virt_operator_replaced, apps, uid),
            timeout=60,
            interval=0.05,
            what="repair",
        )
        latencies.append(time.monotonic() - started)
    drift = statistics.median(latencies)

    custom.delete_cluster_custom_object(*PROFILE, "bench")
    eventually(lambda: get_profile(bench.api, "bench") is None, timeout=300, what="profile removed")
    return [
        Row(
            "create to first status (Progressing)",
            round(first_status, 2),
            "s",
            "<= 2 s",
            ok=first_status <= 2,
        ),
        Row(
            "the operator's own time: apply to every object applied and status written (cold install)",
            round(applied, 2),
            "s",
            "<= 10 s",
            ok=applied <= 10,
            note="until ReconcileComplete is True: every rendered object accepted by the API server, CRDs "
            "it applied Established, and the status write; the operands' own readiness is not in it",
        ),
        Row(
            "apply to Available (cold install)",
            round(cold, 2),
            "s",
            "<= 60 s",
            ok=cold <= 60,
            note="waits on the operands' own readiness as well "
            "(e.g. the snapshot controller's minReadySeconds)",
        ),
        Row("apply to Available (gate change)", round(gate_change, 2), "s", "<= 15 s", ok=gate_change <= 15),
        Row(
            "API requests per reconcile (install)",
            round(requests / max(reconciles, 1), 1),
            "req",
            "informational",
            note=f"{int(requests)} requests over {int(reconciles)} reconciles",
        ),
        Row("writes per idle resync", round(idle_writes, 3), "writes", "0", ok=idle_writes == 0),
        Row(
            "drift-repair latency (Deployment deleted, median of 5)",
            round(drift, 2),
            "s",
            "<= 5 s",
            anchor="HCO: next reconcile",
            ok=drift <= 5,
        ),
    ]


# In this order: the later ones stop the plain operator (replicas take over) and fill etcd.
BENCHMARKS: dict[str, Callable[[Bench], list[Row]]] = {
    "cli": cli_rows,
    "profile": profile_rows,
    # Before the webhook ones: its 1,000 VMs are created without admission.
    "dashboard": dashboard_rows,
    "restart": restart_rows,
    "webhook": webhook_rows,
    "floor": floor_rows,
    "scale": scale_rows,
    # After "scale": the GC's audit rounds then list 10,000 VMs, as on a real cluster.
    "gc": gc_rows,
    "memory": memory_rows,
}


def print_table(rows: list[Row]) -> None:
    header = ("benchmark", "value", "target", "anchor", "mark")
    cells = [header] + [
        (r.name, "n/a" if r.value is None else f"{r.value} {r.unit}", r.target, r.anchor or "-", r.mark)
        for r in rows
    ]
    widths = [max(len(str(row[i])) for row in cells) for i in range(len(header))]
    for index, row in enumerate(cells):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
        if index == 0:
            print("  ".join("-" * w for w in widths))
    for result in rows:
        if result.note:
            print(f"  note: {result.name}: {result.note}")


def merged(record: dict[str, Any], latest: Path) -> dict[str, Any]:
    """`record`'s rows in place of the same rows of the table in `latest`; new rows at the end."""
    try:
        table: dict[str, Any] = json.loads(latest.read_text())
    except (OSError, ValueError):
        return record
    fresh = {row["name"]: row for row in record["rows"]}
    # Which rows are newer than the table's own time, and from when.
    updated = dict(table.get("updated", {})) | {name: record["time"] for name in fresh}
    rows = [fresh.pop(row["name"], row) for row in table.get("rows", [])]
    return table | {"rows": rows + list(fresh.values()), "updated": updated}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(BENCHMARKS), action="append")
    args = parser.parse_args(argv)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="vmo-bench-") as tmp, environment(Path(tmp)) as bench:
        for name in args.only or list(BENCHMARKS):
            rows += BENCHMARKS[name](bench)
    RESULTS.mkdir(parents=True, exist_ok=True)
    record = {
        "time": dt.datetime.now(dt.UTC).isoformat(),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
        "rows": [asdict(r) | {"mark": r.mark} for r in rows],
    }
    with (RESULTS / "history.jsonl").open("a") as history:
        history.write(json.dumps(record) + "\n")
    if args.only:  # a partial run updates its own rows of the last full table, and only those
        record = merged(record, RESULTS / "latest.json")
    (RESULTS / "latest.json").write_text(json.dumps(record, indent=2))
    print_table(rows)
    print(f"\nwrote {RESULTS / 'latest.json'} and appended to history.jsonl")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
