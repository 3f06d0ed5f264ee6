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

from tests.support.controlplane import REPO, ControlPlane, free_port, stop_pids
from tests.support.waiting import eventually

VMO = Path(sys.executable).with_name("vmo")
OPERATOR_NAMESPACE = "vmo-system"
OPERATOR_SERVICE_ACCOUNT = "vmo-operator"
OPERATOR_USER = f"system:serviceaccount:{OPERATOR_NAMESPACE}:{OPERATOR_SERVICE_ACCOUNT}"


def bind_operator_identity(plane: ControlPlane, cluster_role: str = "cluster-admin") -> Path:
    """Credentials for the operator's own ServiceAccount identity, bound to `cluster_role`.

    A distinct identity lets tests count the operator's writes in the audit log.
    """
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    rbac = client.RbacAuthorizationV1Api(plane.api_client())
    binding = {
        "metadata": {"name": f"vmo-operator-test-{cluster_role}"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cluster_role},
        "subjects": [
            {"kind": "ServiceAccount", "name": OPERATOR_SERVICE_ACCOUNT, "namespace": OPERATOR_NAMESPACE}
        ],
    }
    try:
        rbac.create_cluster_role_binding(binding)
    except ApiException as exc:
        if exc.status != 409:
            raise
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

    def start(self) -> OperatorProcess:
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
