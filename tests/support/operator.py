"""Run `vmo run` as a real separate process against the test control plane.

A separate process, not a thread, so fault-injection tests can SIGKILL it like a node would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from hack.official_client import official_client
from tests.support.paths import REPO
from tests.support.waiting import eventually
from vmo_operator.kube import kinds
from vmo_operator.kube.kinds import Kind
from vmo_operator.localenv.controlplane import ControlPlane
from vmo_operator.localenv.processes import free_port, stop_pids

# `make bench` points this at an install like the image's (the Makefile's bench-runtime).
VMO = Path(os.environ.get("VMO_EXECUTABLE") or Path(sys.executable).with_name("vmo"))
OPERATOR_NAMESPACE = "vmo-system"
OPERATOR_SERVICE_ACCOUNT = "vmo-operator"
OPERATOR_USER = f"system:serviceaccount:{OPERATOR_NAMESPACE}:{OPERATOR_SERVICE_ACCOUNT}"
RBAC_KINDS = [
    Kind("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", namespaced=False),
    Kind("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "clusterrolebindings", namespaced=False),
    Kind("rbac.authorization.k8s.io/v1", "Role", "roles", namespaced=True),
    Kind("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings", namespaced=True),
]
# What the chart ships next to the roles: the admission policies that hold the operator to its
# operand namespaces and ServiceAccounts (vmo_operator.operator.guards).
GUARD_KINDS = [kinds.VALIDATING_ADMISSION_POLICY, kinds.VALIDATING_ADMISSION_POLICY_BINDING]


def bind_operator_identity(plane: ControlPlane) -> Path:
    """Credentials for the operator's ServiceAccount identity, bound only to the chart's RBAC.

    The RBAC objects and admission policies are the ones the Helm chart and kustomize base ship
    (generated from `vmo_operator.operator.rbac`, see `rbac_output`), so every integration test proves the
    least-privilege role is enough. A distinct identity also lets tests count the operator's writes
    in the audit log.
    """
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    from vmo_operator.engine.apply import KindIndex
    from vmo_operator.kube.client import KubeClient
    from vmo_operator.operator.rbac_output import operator_rbac

    api = official_client(plane.kubeconfig)
    try:
        client.CoreV1Api(api).create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name=OPERATOR_NAMESPACE))
        )
    except ApiException as exc:
        if exc.status != 409:
            raise
    kube = KubeClient(api, field_manager="vmo-tests")
    index = KindIndex([*RBAC_KINDS, *GUARD_KINDS])
    # Named apart from the chart's objects, so packaging dry-runs still see theirs as new.
    for obj in operator_rbac("vmo-operator-under-test", OPERATOR_NAMESPACE, OPERATOR_SERVICE_ACCOUNT):
        kube.apply(index.of(obj), obj)
    return plane.service_account_kubeconfig(OPERATOR_NAMESPACE, OPERATOR_SERVICE_ACCOUNT)


@dataclass
class OperatorProcess:
    kubeconfig: Path
    log_path: Path
    resync_seconds: float = 5.0
    extra_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    metrics_port: int = 0
    popen: subprocess.Popen[bytes] | None = None

    def start(self, *, wait: bool = True) -> OperatorProcess:
        """Spawn `vmo run`; with `wait`, return once its /metrics answers (its handlers are set up)."""
        self.metrics_port = self.metrics_port or free_port()
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        env.update(
            KUBECONFIG=str(self.kubeconfig),
            VMO_RETRY_SECONDS="1",
            PYTHONUNBUFFERED="1",
            **self.env,
        )
        args = [
            str(VMO),
            "run",
            f"--resync-seconds={self.resync_seconds}",
            f"--metrics-port={self.metrics_port}",
            "--log-format=console",
            *self.extra_args,
        ]
        log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=REPO,
            start_new_session=True,
        )
        log.close()
        return self.wait_started() if wait else self

    def wait_started(self) -> OperatorProcess:
        eventually(self.metrics, timeout=60, what="operator /metrics answering")
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self) -> None:
        if self.popen is not None:
            stop_pids([self.popen.pid], grace=15)
            self.popen.wait(timeout=5)

    def kill(self) -> None:
        """SIGKILL, as an OOM kill or a node loss would."""
        if self.popen is not None:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)

    def metrics(self) -> dict[str, float]:
        """Current Prometheus samples, keyed by `name{labels}`."""
        if not self.alive():
            raise AssertionError(f"operator exited:\n{self.log_tail()}")
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
        samples = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                samples[key] = float(value)
        return samples

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def start_all(processes: list[OperatorProcess]) -> list[OperatorProcess]:
    """Spawn every process, then wait for each: their imports and start-ups (seconds of CPU each)
    overlap instead of queueing."""
    for process in processes:
        process.start(wait=False)
    return [process.wait_started() for process in processes]
