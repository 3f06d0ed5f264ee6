"""The floor under the MAC webhook rows: the same measurements with a webhook that does nothing.

A no-op mutating webhook (`bench.noop_webhook`: Python, aiohttp and asyncio's TLS, as the replicas
serve) on VM creates, in namespaces the MAC webhooks leave alone, measured the way `webhook_rows`
measures the MAC webhooks: interleaved sequential creates with and without it, then bursts at
concurrency 50. What it adds is what calling any webhook costs on this control plane; the MAC
webhooks' rows are that plus the allocator's own work.
"""

from __future__ import annotations

import base64
import contextlib
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, cast

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from bench.core import REPO, Bench, Row, apiserver_metrics, cpu_seconds, median, percentile
from bench.macpool import CONCURRENCY, LATENCY_CREATES, THROUGHPUT_CREATES, _namespace
from tests.support.vms import VM_API, create_vm, install_vm_api, vm_body
from tests.support.waiting import eventually
from vmo_operator.localenv.processes import free_port
from vmo_operator.macpool import certs
from vmo_operator.macpool.settings import NAMESPACE_OPT_OUT_LABEL, NAMESPACE_OPT_OUT_VALUE

NAME = "bench-noop"
SELECTED = "bench.vmo.dev/noop"
# Set MACs: the MAC webhooks are not called here (opted out), so nothing would allocate them.
NICS = {"a": "02:00:00:00:00:01", "b": "02:00:00:00:00:02"}
NAMESPACES = (("floor-on", True), ("floor-off", False), ("floor-tput", True), ("floor-tput-off", False))


def _configuration(port: int, ca_bundle: bytes) -> dict[str, Any]:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": NAME},
        "webhooks": [
            {
                "name": "noop.bench.vmo.dev",
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "failurePolicy": "Fail",
                "timeoutSeconds": 10,
                "clientConfig": {
                    "url": f"https://127.0.0.1:{port}/noop",
                    "caBundle": base64.b64encode(ca_bundle).decode(),
                },
                "namespaceSelector": {"matchLabels": {SELECTED: "true"}},
                "rules": [
                    {
                        "apiGroups": [VM_API[0]],
                        "apiVersions": ["*"],
                        "operations": ["CREATE"],
                        "resources": ["virtualmachines"],
                    }
                ],
            }
        ],
    }


def _called(api: Any) -> bool:
    """The API server calls the webhook by now: a create in a selected namespace is admitted
    (a dry run, so nothing stays) and the webhook's counter on the API server moved."""
    metrics = apiserver_metrics(api)
    with contextlib.suppress(ApiException):
        client.CustomObjectsApi(api).create_namespaced_custom_object(
            *VM_API, "floor-on", "virtualmachines", vm_body("probe", NICS), dry_run="All"
        )
    return 'name="noop.bench.vmo.dev"' in metrics


def floor_rows(bench: Bench) -> list[Row]:
    api = bench.api
    install_vm_api(api, bench.plane.kubeconfig)
    opted_out = {NAMESPACE_OPT_OUT_LABEL: NAMESPACE_OPT_OUT_VALUE}
    for name, selected in (
        ("floor-on", True),
        ("floor-off", False),
        ("floor-tput", True),
        ("floor-tput-off", False),
    ):
        _namespace(api, name, opted_out | ({SELECTED: "true"} if selected else {}))
    bundle = certs.plan_certificates(None, ["127.0.0.1"], now=datetime.now(UTC))
    cert_file, key_file = bench.workdir / "noop.crt", bench.workdir / "noop.key"
    cert_file.write_bytes(bundle.serving.cert_pem)
    key_file.write_bytes(bundle.serving.key_pem)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.noop_webhook", str(port), str(cert_file), str(key_file)], cwd=REPO
    )
    admission = client.AdmissionregistrationV1Api(api)
    try:
        admission.create_mutating_webhook_configuration(cast(Any, _configuration(port, bundle.ca_bundle)))
        eventually(lambda: _called(api), timeout=60, interval=0.2, what="the no-op webhook called")
        on, off = _interleaved(api)
        plain, hooked, cpu = _bursts(bench, server.pid)
    finally:
        with contextlib.suppress(ApiException):
            admission.delete_mutating_webhook_configuration(NAME)
        server.terminate()
        server.wait(timeout=30)
    p50_on, p50_off = median(on) * 1000, median(off) * 1000
    p99_on, p99_off = percentile(on, 0.99) * 1000, percentile(off, 0.99) * 1000
    return [
        Row(
            "floor: a no-op webhook's added latency p50 (with / without, same run)",
            round(p50_on / p50_off, 3),
            "x",
            "reference for <= 1.15x",
            note=f"p50 {p50_on:.1f} vs {p50_off:.1f} ms (+{p50_on - p50_off:.1f} ms), p99 {p99_on:.1f} vs "
            f"{p99_off:.1f} ms ({p99_on / p99_off:.2f}x); {LATENCY_CREATES} interleaved sequential creates "
            "each, a Python webhook that admits everything and patches nothing",
        ),
        Row(
            "floor: VM creates/s with / without a no-op webhook, concurrency 50",
            round(hooked / plain, 3),
            "x",
            "reference for >= 0.8x",
            note=f"{hooked:.1f} vs {plain:.1f} VM/s over {THROUGHPUT_CREATES} creates each; the webhook "
            f"used {cpu:.2f} ms of CPU per create",
        ),
    ]


def _interleaved(api: Any) -> tuple[list[float], list[float]]:
    def timed(namespace: str, name: str) -> float:
        started = time.perf_counter()
        create_vm(api, namespace, name, NICS)
        return time.perf_counter() - started

    for n in range(20):  # warm both paths
        timed("floor-on", f"warm-{n}")
        timed("floor-off", f"warm-{n}")
    on: list[float] = []
    off: list[float] = []
    for n in range(LATENCY_CREATES):
        order = (("floor-on", on), ("floor-off", off)) if n % 2 else (("floor-off", off), ("floor-on", on))
        for namespace, samples in order:
            samples.append(timed(namespace, f"lat-{n:04d}"))
    return on, off


def _bursts(bench: Bench, server_pid: int) -> tuple[float, float, float]:
    """Creates/s without the webhook, then with it; the webhook's CPU per create (ms)."""
    pool = bench.pool(CONCURRENCY + 8)

    def rate(namespace: str) -> float:
        def make(n: int) -> None:
            client.CustomObjectsApi(pool).create_namespaced_custom_object(
                *VM_API, namespace, "virtualmachines", vm_body(f"t-{n:05d}", NICS)
            )

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=CONCURRENCY) as executor:
            list(executor.map(make, range(THROUGHPUT_CREATES)))
        return THROUGHPUT_CREATES / (time.perf_counter() - started)

    plain = rate("floor-tput-off")
    before = cpu_seconds(server_pid)
    hooked = rate("floor-tput")
    return plain, hooked, (cpu_seconds(server_pid) - before) * 1000 / THROUGHPUT_CREATES
