"""A real, local Kubernetes control plane for tests and for a background dev cluster.

etcd, kube-apiserver (RBAC on, TLS from a CA made here), kube-controller-manager, kube-scheduler
and kwok run as plain processes on random 127.0.0.1 ports. kwok keeps a few fake nodes Ready and
moves scheduled pods to Running, so Deployments and DaemonSets really become Ready.

Used two ways:
- `ControlPlane(...).start()` / `.stop()` from a session-scoped pytest fixture;
- `python -m tests.support.controlplane up|down --dir .testenv` for a dev cluster that outlives
  the command; `down` finds the processes again through the state file written by `up`.

Every process is started in its own session and carries the work directory in its arguments, so
`leftover_processes(workdir)` can prove nothing was left behind.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.support.pki import CertificateAuthority, service_account_signing_key

REPO = Path(__file__).resolve().parents[2]
DEFAULT_BIN_DIR = REPO / ".bin"
STAGES_FILE = Path(__file__).with_name("kwok-stages.yaml")
SERVICE_CIDR = "10.96.0.0/16"
SERVICE_IP = "10.96.0.1"
ADMIN_USER = "vmo-testenv-admin"
STATE_FILE = "state.json"
_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


class ControlPlaneError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    predicate: Callable[[], bool], *, timeout: float, interval: float = 0.2, what: str = "condition"
) -> None:
    """Poll until `predicate` holds; the only waiting primitive the launcher uses."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except ControlPlaneError:
            raise  # a component died: waiting longer cannot help
        except Exception as exc:  # a component that is still starting answers with errors
            last_error = exc
        time.sleep(interval)
    raise ControlPlaneError(f"timed out after {timeout:.0f}s waiting for {what}: {last_error!r}")


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _PROXY_VARS}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass
class Process:
    name: str
    args: list[str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            self.args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=_clean_env(),
        )
        log.close()

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def check_alive(self) -> None:
        if self.popen is not None and self.popen.poll() is not None:
            raise ControlPlaneError(
                f"{self.name} exited with {self.popen.returncode}; log tail:\n{self.log_tail()}"
            )

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def stop_pids(pids: Sequence[int], *, grace: float = 10.0) -> None:
    """SIGTERM each process group, then SIGKILL whatever is still there after `grace` seconds."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for pid in pids:
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
    # SIGKILL is delivered asynchronously; wait until the kernel has really removed them.
    deadline = time.monotonic() + 5
    for pid in pids:
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)


def _alive(pid: int) -> bool:
    _reap(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError):
        # A zombie is gone for our purposes: it holds no ports and does no work.
        return stat.read_text().split(") ", 1)[1].split()[0] != "Z"
    return True


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


COMPONENT_BINARIES = frozenset(
    {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}
)


def leftover_processes(marker: str | Path) -> list[tuple[int, str]]:
    """Live control-plane processes whose command line mentions `marker` (the work dir).

    Only our component binaries count, so the shell or `make` that invoked `down --dir X` (whose
    command line holds the same path) is never mistaken for a leftover and signalled.
    """
    marker = str(marker)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        program = Path(argv[0].decode(errors="replace")).name if argv and argv[0] else ""
        cmdline = b" ".join(argv).decode(errors="replace").strip()
        if program in COMPONENT_BINARIES and marker in cmdline and _alive(int(entry.name)):
            found.append((int(entry.name), cmdline))
    return found


@dataclass
class ControlPlane:
    """etcd + kube-apiserver + controller-manager + scheduler + kwok on 127.0.0.1."""

    workdir: Path | None = None
    bin_dir: Path = DEFAULT_BIN_DIR
    node_count: int = 3
    keep_workdir: bool = False
    apiserver_port: int = 0
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
    def _dir(self) -> Path:
        if self.workdir is None:
            raise ControlPlaneError("control plane has no work directory yet; call start()")
        return self.workdir

    def binary(self, name: str) -> str:
        path = self.bin_dir / name
        if not path.exists():
            raise ControlPlaneError(f"{path} is missing; build it with hack/testenv/build.sh")
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
            self._create_nodes()
            wait_until(self._nodes_ready, timeout=timeout, what=f"{self.node_count} Ready nodes")
            wait_until(self._default_service_account, timeout=timeout, what="default ServiceAccount")
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
        pki = plane.pki_dir
        plane._ca = CertificateAuthority.load((pki / "ca.crt").read_bytes(), (pki / "ca.key").read_bytes())
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
        self._ca = CertificateAuthority()
        self._ca.save(self.pki_dir)
        serving = self._ca.issue(
            "kube-apiserver",
            dns_names=[
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ],
            ip_addresses=["127.0.0.1", SERVICE_IP],
            server=True,
        )
        serving.write(self.pki_dir, "apiserver")
        (self.pki_dir / "sa.key").write_bytes(service_account_signing_key())
        (self.pki_dir / "sa.key").chmod(0o600)
        # The apiserver calls webhooks and aggregated APIs with this identity.
        self._ca.issue("kube-apiserver-client", client=True).write(self.pki_dir, "apiserver-client")

    def kubeconfig_for(self, user: str, groups: Sequence[str] = (), *, path: Path | None = None) -> Path:
        """Write a kubeconfig that authenticates as `user` in `groups` with a client certificate."""
        pair = self._ca.issue(user, organizations=groups, client=True)
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "vmo-testenv",
                    "cluster": {"server": self.server, "certificate-authority-data": _b64(self._ca.cert_pem)},
                }
            ],
            "users": [
                {
                    "name": user,
                    "user": {
                        "client-certificate-data": _b64(pair.cert_pem),
                        "client-key-data": _b64(pair.key_pem),
                    },
                }
            ],
            "contexts": [{"name": "vmo-testenv", "context": {"cluster": "vmo-testenv", "user": user}}],
            "current-context": "vmo-testenv",
        }
        if path is None:
            safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in user)
            path = self._dir / "users" / f"{safe}.kubeconfig"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(config))
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
        client, peer = free_port(), free_port()
        data = self._dir / "etcd"
        proc = self._spawn(
            "etcd",
            [
                self.binary("etcd"),
                "--name=vmo-etcd",
                f"--data-dir={data}",
                f"--listen-client-urls=http://127.0.0.1:{client}",
                f"--advertise-client-urls=http://127.0.0.1:{client}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=vmo-etcd=http://127.0.0.1:{peer}",
                "--unsafe-no-fsync=true",
                "--auto-compaction-retention=1",
                "--log-level=warn",
            ],
        )

        def healthy() -> bool:
            proc.check_alive()
            with urllib.request.urlopen(f"http://127.0.0.1:{client}/health", timeout=2) as resp:
                return bool(json.load(resp).get("health") == "true")

        wait_until(healthy, timeout=timeout, what="etcd health")
        return client

    def _start_apiserver(self, etcd_port: int, timeout: float) -> None:
        self.apiserver_port = self.apiserver_port or free_port()
        pki = self.pki_dir
        self._spawn(
            "kube-apiserver",
            [
                self.binary("kube-apiserver"),
                f"--etcd-servers=http://127.0.0.1:{etcd_port}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self.apiserver_port}",
                f"--cert-dir={pki}",
                f"--tls-cert-file={pki / 'apiserver.crt'}",
                f"--tls-private-key-file={pki / 'apiserver.key'}",
                f"--client-ca-file={self.ca_file}",
                "--authorization-mode=RBAC",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={pki / 'sa.key'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--allow-privileged=true",
                # Loopback cannot go into the `kubernetes` Endpoints, so nothing reconciles them.
                "--endpoint-reconciler-type=none",
                f"--proxy-client-cert-file={pki / 'apiserver-client.crt'}",
                f"--proxy-client-key-file={pki / 'apiserver-client.key'}",
                "--profiling=false",
                "--v=1",
            ],
        )
        self._wait_apiserver(timeout)
        self.kubeconfig_for(ADMIN_USER, ["system:masters"], path=self.kubeconfig)

    @property
    def audit_log(self) -> Path:
        return self._dir / "logs" / "audit.log"

    def _write_audit_policy(self) -> Path:
        """Record every write (and who made it), so tests can count an identity's writes."""
        policy = {
            "apiVersion": "audit.k8s.io/v1",
            "kind": "Policy",
            "omitStages": ["RequestReceived"],
            "rules": [
                {"level": "Metadata", "verbs": ["create", "update", "patch", "delete", "deletecollection"]},
                {"level": "None"},
            ],
        }
        path = self._dir / "audit-policy.yaml"
        path.write_text(yaml.safe_dump(policy))
        return path

    def writes_by(self, username: str) -> list[dict[str, Any]]:
        """Completed write requests made by `username`, oldest first, from the audit log."""
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
        kubeconfig = str(self.kubeconfig)
        self._spawn(
            "kube-controller-manager",
            [
                self.binary("kube-controller-manager"),
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
                f"--cert-dir={self._dir / 'kcm-certs'}",
                f"--service-account-private-key-file={self.pki_dir / 'sa.key'}",
                f"--root-ca-file={self.ca_file}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--node-monitor-period=5s",
                "--node-monitor-grace-period=40s",
                "--v=1",
            ],
        )
        self._spawn(
            "kube-scheduler",
            [
                self.binary("kube-scheduler"),
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
                f"--cert-dir={self._dir / 'scheduler-certs'}",
                "--v=1",
            ],
        )
        self._spawn(
            "kwok",
            [
                self.binary("kwok"),
                f"--kubeconfig={kubeconfig}",
                f"--config={STAGES_FILE}",
                "--manage-all-nodes=true",
                "--node-lease-duration-seconds=40",
                "--cidr=10.244.0.0/16",
                "--node-ip=10.0.0.1",
            ],
        )

    # ---- cluster objects ---------------------------------------------------------------------
    def api_client(self) -> Any:
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig))

    def _create_nodes(self) -> None:
        from kubernetes import client
        from kubernetes.client.rest import ApiException

        core = client.CoreV1Api(self.api_client())
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
                core.create_node(body)
            except ApiException as exc:
                if exc.status != 409:
                    raise

    def _nodes_ready(self) -> bool:
        from kubernetes import client

        for name, proc in self.processes.items():
            if name != "etcd":
                proc.check_alive()
        nodes = client.CoreV1Api(self.api_client()).list_node().items
        ready = [
            n
            for n in nodes
            if any(c.type == "Ready" and c.status == "True" for c in (n.status.conditions or []))
        ]
        return len(ready) >= self.node_count

    def _default_service_account(self) -> bool:
        from kubernetes import client

        client.CoreV1Api(self.api_client()).read_namespaced_service_account("default", "default")
        return True

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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="controlplane", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down"])
    parser.add_argument("--dir", type=Path, default=REPO / ".testenv")
    parser.add_argument("--nodes", type=int, default=3)
    args = parser.parse_args(argv)
    workdir: Path = args.dir.resolve()
    if args.command == "down":
        left = down(workdir)
        for pid, cmd in left:
            print(f"still running: {pid} {cmd}", file=sys.stderr)
        return 1 if left else 0
    if (workdir / STATE_FILE).exists():
        print(f"{workdir} already holds a control plane; run 'make testenv-down' first", file=sys.stderr)
        return 1
    started = time.monotonic()
    plane = ControlPlane(workdir=workdir, node_count=args.nodes, keep_workdir=True)
    plane.start()
    plane._write_state()
    print(f"control plane ready in {time.monotonic() - started:.1f}s at {plane.server}")
    print(f"export KUBECONFIG={plane.kubeconfig}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
