"""A real, local Kubernetes control plane: how a newcomer first runs the operator, and what tests run on.

etcd, kube-apiserver (RBAC on, TLS from a CA made here, writes audited on request), kube-controller-manager,
kube-scheduler and kwok run as plain processes on random 127.0.0.1 ports. kwok keeps a few fake
nodes Ready and moves scheduled pods to Running, so Deployments and DaemonSets really become Ready.
There is no container runtime: pods only look like they run.

Used two ways:
- `ControlPlane(...).start()` / `.stop()`, e.g. from a session-scoped pytest fixture;
- `python -m vmo_operator.localenv up|down --dir .testenv` for a cluster that outlives the
  command; `down` finds the processes again through the state file written by `up`.

The binaries come from `hack/testenv/build.sh` (linked into `.bin/` of the checkout); an installed
package finds them through `--bin-dir` or VMO_LOCALENV_BIN_DIR.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import ssl
import tempfile
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vmo_operator.kube import kinds
from vmo_operator.kube.client import KubeClient, KubeError
from vmo_operator.kube.connect import connect_kubeconfig
from vmo_operator.localenv import commands, pki
from vmo_operator.localenv.pki import CertificateAuthority, kubeconfig_document
from vmo_operator.localenv.processes import (
    ControlPlaneError,
    Process,
    free_port,
    leftover_processes,
    stop_pids,
    wait_until,
)

BIN_DIR_VARIABLE = "VMO_LOCALENV_BIN_DIR"
STAGES_FILE = Path(__file__).with_name("kwok-stages.yaml")
ADMIN_USER = "vmo-testenv-admin"
STATE_FILE = "state.json"


def default_bin_dir() -> Path:
    """VMO_LOCALENV_BIN_DIR, else `.bin/` of the checkout this package runs from, else `./.bin`."""
    if os.environ.get(BIN_DIR_VARIABLE):
        return Path(os.environ[BIN_DIR_VARIABLE])
    checkout = Path(__file__).resolve().parents[3]  # src/vmo_operator/localenv/ -> the repository
    if (checkout / "hack" / "testenv" / "build.sh").exists():
        return checkout / ".bin"
    return Path.cwd() / ".bin"


@dataclass
class ControlPlane:
    """etcd + kube-apiserver + controller-manager + scheduler + kwok on 127.0.0.1."""

    workdir: Path | None = None
    bin_dir: Path = field(default_factory=default_bin_dir)
    node_count: int = 3
    keep_workdir: bool = False
    apiserver_port: int = 0
    # Record every write in logs/audit.log for `writes_by`. Off by default, as before this option
    # existed: with it on, every idle resync is seen to patch the profile's status.
    audit_writes: bool = False
    processes: dict[str, Process] = field(default_factory=dict)
    _owns_workdir: bool = False

    # ---- paths -------------------------------------------------------------------------------
    @property
    def pki_dir(self) -> Path:
        return self._dir / "pki"

    @property
    def kubeconfig(self) -> Path:
        return self._dir / "kubeconfig"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.apiserver_port}"

    @property
    def ca_file(self) -> Path:
        return self.pki_dir / "ca.crt"

    @property
    def webhook_client_ca(self) -> Path:
        """The CA of the client certificate the API server presents to admission webhooks."""
        return self.pki_dir / pki.WEBHOOK_CLIENT_CA

    @property
    def _dir(self) -> Path:
        if self.workdir is None:
            raise ControlPlaneError("control plane has no work directory yet; call start()")
        return self.workdir

    def binary(self, name: str) -> str:
        path = self.bin_dir / name
        if not path.exists():
            raise ControlPlaneError(
                f"{path} is missing: build it with hack/testenv/build.sh in a checkout, or point "
                f"--bin-dir or {BIN_DIR_VARIABLE} at a directory that has it"
            )
        return str(path)

    # ---- lifecycle ---------------------------------------------------------------------------
    def start(self, timeout: float = 60.0) -> ControlPlane:
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="vmo-testenv-"))
            self._owns_workdir = True
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self._dir / "logs").mkdir(exist_ok=True)
        self.pki_dir.mkdir(exist_ok=True)
        try:
            self._write_pki()
            etcd_port = self._start_etcd(timeout)
            self._start_apiserver(etcd_port, timeout)
            self._write_state()
            self._start_controllers()
            kube = KubeClient(self.api_client(), field_manager="vmo-localenv")
            self._create_nodes(kube)
            wait_until(
                lambda: self._nodes_ready(kube), timeout=timeout, what=f"{self.node_count} Ready nodes"
            )
            wait_until(
                lambda: kube.get(kinds.SERVICE_ACCOUNT, "default", "default") is not None,
                timeout=timeout,
                what="default ServiceAccount",
            )
            self._write_state()  # again, now with every component's pid
        except BaseException:
            self.stop()
            raise
        return self

    @classmethod
    def attach(cls, kubeconfig: Path) -> ControlPlane:
        """Use a control plane that `up` started earlier; stopping it is left to `down`."""
        workdir = kubeconfig.resolve().parent
        state = json.loads((workdir / STATE_FILE).read_text())
        plane = cls(workdir=workdir, keep_workdir=True)
        plane.apiserver_port = int(state["server"].rsplit(":", 1)[1])
        ca_dir = plane.pki_dir
        plane._ca = CertificateAuthority.load(
            (ca_dir / "ca.crt").read_bytes(), (ca_dir / "ca.key").read_bytes()
        )
        return plane

    def stop(self) -> None:
        # Controllers first, the API server next and etcd last, so nothing logs a storm of errors.
        order = ["kwok", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"]
        for name in order:
            proc = self.processes.get(name)
            if proc is not None and proc.popen is not None:
                stop_pids([proc.pid])
        self.processes.clear()
        if self.workdir is not None and self._owns_workdir and not self.keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def pids(self) -> dict[str, int]:
        return {name: proc.pid for name, proc in self.processes.items() if proc.popen is not None}

    def restart_apiserver(self, timeout: float = 60.0) -> None:
        """Stop and start kube-apiserver on the same port and etcd; used by fault-injection tests."""
        proc = self.processes["kube-apiserver"]
        stop_pids([proc.pid])
        self._spawn("kube-apiserver", proc.args)
        self._wait_apiserver(timeout)
        self._write_state()

    # ---- credentials -------------------------------------------------------------------------
    def _write_pki(self) -> None:
        self._ca = pki.write_control_plane_pki(self.pki_dir, service_ip=commands.SERVICE_IP)

    def kubeconfig_for(self, user: str, groups: Sequence[str] = (), *, path: Path | None = None) -> Path:
        """Write a kubeconfig that authenticates as `user` in `groups` with a client certificate."""
        pair = self._ca.issue(user, organizations=groups, client=True)
        if path is None:
            safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in user)
            path = self._dir / "users" / f"{safe}.kubeconfig"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(kubeconfig_document(self.server, self._ca.cert_pem, user, pair)))
        path.chmod(0o600)
        return path

    def service_account_kubeconfig(self, namespace: str, name: str) -> Path:
        """Credentials that RBAC treats exactly like the ServiceAccount `namespace/name`."""
        return self.kubeconfig_for(
            f"system:serviceaccount:{namespace}:{name}",
            ["system:serviceaccounts", f"system:serviceaccounts:{namespace}"],
        )

    # ---- components --------------------------------------------------------------------------
    def _spawn(self, name: str, args: list[str]) -> Process:
        proc = Process(name, args, self._dir / "logs" / f"{name}.log")
        proc.start()
        self.processes[name] = proc
        return proc

    def _start_etcd(self, timeout: float) -> int:
        client_port = free_port()
        proc = self._spawn(
            "etcd",
            commands.etcd(
                self.binary("etcd"),
                data_dir=self._dir / "etcd",
                client_port=client_port,
                peer_port=free_port(),
            ),
        )

        def healthy() -> bool:
            proc.check_alive()
            with urllib.request.urlopen(f"http://127.0.0.1:{client_port}/health", timeout=2) as resp:
                return bool(json.load(resp).get("health") == "true")

        wait_until(healthy, timeout=timeout, what="etcd health")
        return client_port

    def _start_apiserver(self, etcd_port: int, timeout: float) -> None:
        self.apiserver_port = self.apiserver_port or free_port()
        policy = self._dir / "audit-policy.yaml" if self.audit_writes else None
        if policy is not None:
            policy.write_text(yaml.safe_dump(commands.AUDIT_POLICY))
        webhook_client = self.pki_dir / "webhook-client.kubeconfig"
        cert, key = (self.pki_dir / f"{pki.WEBHOOK_CLIENT}.{ext}" for ext in ("crt", "key"))
        webhook_client.write_text(yaml.safe_dump(commands.webhook_client_kubeconfig(cert, key)))
        admission = self.pki_dir / "admission-config.yaml"
        admission.write_text(yaml.safe_dump(commands.admission_configuration(webhook_client)))
        self._spawn(
            "kube-apiserver",
            commands.kube_apiserver(
                self.binary("kube-apiserver"),
                etcd_port=etcd_port,
                port=self.apiserver_port,
                pki=self.pki_dir,
                audit_policy=policy,
                audit_log=self.audit_log,
                admission_config=admission,
            ),
        )
        self._wait_apiserver(timeout)
        self.kubeconfig_for(ADMIN_USER, ["system:masters"], path=self.kubeconfig)

    @property
    def audit_log(self) -> Path:
        return self._dir / "logs" / "audit.log"

    def writes_by(self, username: str) -> list[dict[str, Any]]:
        """Completed write requests made by `username`, oldest first; always empty without `audit_writes`."""
        events = []
        with contextlib.suppress(FileNotFoundError), self.audit_log.open() as log:
            for line in log:
                event = json.loads(line)
                if event.get("stage") == "ResponseComplete" and event["user"].get("username") == username:
                    events.append(event)
        return events

    def _wait_apiserver(self, timeout: float) -> None:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        proc = self.processes["kube-apiserver"]

        def ready() -> bool:
            proc.check_alive()
            with urllib.request.urlopen(f"{self.server}/readyz", context=context, timeout=3) as resp:
                return bool(resp.status == 200)

        wait_until(ready, timeout=timeout, what="kube-apiserver /readyz")

    def _start_controllers(self) -> None:
        kubeconfig = self.kubeconfig
        self._spawn(
            "kube-controller-manager",
            commands.kube_controller_manager(
                self.binary("kube-controller-manager"),
                kubeconfig=kubeconfig,
                pki=self.pki_dir,
                cert_dir=self._dir / "kcm-certs",
                port=free_port(),
            ),
        )
        self._spawn(
            "kube-scheduler",
            commands.kube_scheduler(
                self.binary("kube-scheduler"),
                kubeconfig=kubeconfig,
                cert_dir=self._dir / "scheduler-certs",
                port=free_port(),
            ),
        )
        self._spawn("kwok", commands.kwok(self.binary("kwok"), kubeconfig=kubeconfig, stages=STAGES_FILE))

    # ---- cluster objects ---------------------------------------------------------------------
    def api_client(self) -> Any:
        """A client authenticated as the cluster admin (a `kube.transport.Transport`)."""
        return connect_kubeconfig(self.kubeconfig)

    def _create_nodes(self, kube: KubeClient) -> None:
        for index in range(self.node_count):
            name = f"kwok-node-{index}"
            body = {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                    "labels": {
                        "kubernetes.io/hostname": name,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                        "type": "kwok",
                        "kubevirt.io/schedulable": "true",
                        # The first node is the control plane: virt-operator (KubeVirt v1.7+)
                        # requires one, as on a real cluster.
                        **({"node-role.kubernetes.io/control-plane": ""} if index == 0 else {}),
                    },
                },
            }
            try:
                kube.create(kinds.NODE, body)
            except KubeError as exc:
                if exc.status != 409:
                    raise

    def _nodes_ready(self, kube: KubeClient) -> bool:
        for name, proc in self.processes.items():
            if name != "etcd":
                proc.check_alive()
        ready = [
            node
            for node in kube.list(kinds.NODE)
            if any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in (node.get("status") or {}).get("conditions") or []
            )
        ]
        return len(ready) >= self.node_count

    # ---- background mode ---------------------------------------------------------------------
    def _write_state(self) -> None:
        state = {
            "server": self.server,
            "kubeconfig": str(self.kubeconfig),
            "workdir": str(self._dir),
            "pids": self.pids(),
        }
        (self._dir / STATE_FILE).write_text(json.dumps(state, indent=2))


def down(workdir: Path) -> list[tuple[int, str]]:
    """Stop a background control plane started with `up` and remove its directory."""
    state_path = workdir / STATE_FILE
    pids: list[int] = []
    if state_path.exists():
        pids = list(json.loads(state_path.read_text()).get("pids", {}).values())
    # Also catch processes started after the last state write, by their work-dir marker.
    pids += [pid for pid, _ in leftover_processes(workdir.resolve()) if pid not in pids]
    stop_pids(pids)
    left = leftover_processes(workdir.resolve())
    if not left:
        shutil.rmtree(workdir, ignore_errors=True)
    return left


@contextlib.contextmanager
def running(**kwargs: Any) -> Iterator[ControlPlane]:
    plane = ControlPlane(**kwargs)
    try:
        yield plane.start()
    finally:
        plane.stop()
