"""What every benchmark shares: the result row, the environment (a real local control plane with
the CRDs, the operand simulator and the operator), and small measuring helpers.

Figures, not assertions: a benchmark returns rows; `bench.run` prints and records them.
"""

from __future__ import annotations

import os
import statistics
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from kubernetes import client  # noqa: E402

from hack.official_client import official_client  # noqa: E402
from hack.simulators.operands import OperandSimulator, simulated_operands  # noqa: E402
from tests.support.kube import apply_crd_files, condition, get_profile  # noqa: E402
from tests.support.operator import OPERATOR_USER, OperatorProcess, bind_operator_identity  # noqa: E402
from tests.support.vms import webhook_operator  # noqa: E402
from vmo_operator.localenv.controlplane import ControlPlane  # noqa: E402
from vmo_operator.localenv.processes import free_port  # noqa: E402


@dataclass(frozen=True)
class Row:
    name: str
    value: float | None
    unit: str
    target: str
    anchor: str = ""
    ok: bool | None = None
    note: str = ""

    @property
    def mark(self) -> str:
        return {True: "pass", False: "SHORT", None: "-"}[self.ok]


@dataclass
class Bench:
    plane: ControlPlane
    api: Any
    operator: OperatorProcess  # `vmo run` without the webhook, for the profile benchmarks
    kubeconfig: Path  # the operator's ServiceAccount identity
    workdir: Path
    webhook_port: int = field(default_factory=free_port)
    replicas: list[OperatorProcess] = field(default_factory=list)

    def writes(self) -> int:
        return len(self.plane.writes_by(OPERATOR_USER))

    def metric_sum(self, prefix: str, operator: OperatorProcess | None = None) -> float:
        samples = (operator or self.operator).metrics()
        return sum(v for k, v in samples.items() if k.startswith(prefix))

    def start_replica(self, resync_seconds: float = 60.0) -> OperatorProcess:
        """One more `vmo run` with the MAC webhook on the shared port, not started yet. The resync
        (and with it the MAC audit) runs at the production default unless told otherwise."""
        log = self.workdir / f"replica-{len(self.replicas)}.log"
        proc = webhook_operator(self.kubeconfig, log, port=self.webhook_port, resync_seconds=resync_seconds)
        self.replicas.append(proc)
        return proc

    def use_replicas(self, count: int) -> list[OperatorProcess]:
        """The production shape: `count` webhook replicas and no other operator process."""
        if self.operator.alive():
            self.operator.stop()
        live = [r for r in self.replicas if r.alive()]
        while len(live) < count:
            live.append(self.start_replica().start())
        return live

    def stop_replicas(self) -> None:
        for proc in self.replicas:
            if proc.alive():
                proc.stop()

    def pool(self, size: int) -> Any:
        """An admin API client with `size` connections, for concurrent load."""
        from kubernetes import config

        configuration = client.Configuration()
        config.load_kube_config(  # type: ignore[no-untyped-call]  # kubernetes.config is not annotated
            config_file=str(self.plane.kubeconfig), client_configuration=configuration
        )
        configuration.connection_pool_maxsize = size
        return client.ApiClient(configuration)


@contextmanager
def environment(workdir: Path) -> Iterator[Bench]:
    plane = ControlPlane(audit_writes=True)  # the idle-resync row counts writes in the audit log
    plane.start()
    sim = None
    bench = None
    try:
        api = official_client(plane.kubeconfig)
        apply_crd_files(api, sorted((REPO / "crds").glob("*.yaml")))
        sim = OperandSimulator(api, simulated_operands(plane.kubeconfig)).start()
        kubeconfig = bind_operator_identity(plane)
        operator = OperatorProcess(kubeconfig=kubeconfig, log_path=workdir / "operator.log", resync_seconds=5)
        operator.start()
        bench = Bench(plane, api, operator, kubeconfig, workdir)
        yield bench
    finally:
        if bench is not None:
            bench.stop_replicas()
            if bench.operator.alive():
                bench.operator.stop()
        if sim is not None:
            sim.stop()
        plane.stop()


def available(api: Any, name: str, generation: int | None = None) -> bool:
    """Available=True computed for the profile's current generation (or at least `generation`)."""
    profile = get_profile(api, name)
    cond = condition(profile, "Available")
    if not cond or cond["status"] != "True" or profile is None:
        return False
    observed = int(cond.get("observedGeneration") or 0)
    return observed >= (generation or int(profile["metadata"]["generation"]))


def create_shedding_load(create: Callable[[], object], attempts: int = 5) -> None:
    """Run a create, again while the API server sheds load under a burst (429, 5xx); an object that
    already exists (409) counts as created."""
    from kubernetes.client.exceptions import ApiException

    for _attempt in range(attempts):
        try:
            create()
            return
        except ApiException as exc:
            if exc.status == 409:
                return
            if exc.status not in (429, 500, 503, 504):
                raise


def percentile(values: Sequence[float], share: float) -> float:
    """The `share` quantile (0..1) by the nearest-rank method."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(share * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def apiserver_metrics(api: Any) -> str:
    """The API server's own /metrics, as text."""
    method, url, headers, _, _ = api.param_serialize("GET", "/metrics", auth_settings=["BearerToken"])
    response = api.call_api(method, url, header_params=headers)
    response.read()
    return str(response.data.decode())


def apiserver_requests(api: Any) -> float:
    """Every request the API server has served since it started (`apiserver_request_total`)."""
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in apiserver_metrics(api).splitlines()
        if line.startswith("apiserver_request_total{")
    )


def rss_mb(pid: int) -> float:
    """Resident set size of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (/proc/<pid>/stat), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
