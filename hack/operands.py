"""Runs the REAL operand controllers of `make demo` as processes, under their rendered RBAC.

Part of the demo tooling in hack/, never shipped and never imported by src/. After vmo-operator
has applied the profile, `start` reads the Deployments the operator rendered into the live
cluster (labelled `app.kubernetes.io/managed-by=vmo-operator` and `vmo.dev/component`), and runs
each known operand's binary from `.bin/` (built by `make operands-bin`, from the same pinned
sources the tests use) in the background with:

- the container's args and env from that Deployment, translated only where a pod differs from a
  process (a mounted ConfigMap becomes a file, the downward API becomes literal values);
- a kubeconfig minted for the Deployment's own ServiceAccount, so the API server gives it
  exactly the RBAC this project renders and nothing more.

Its log goes to DIR/<binary>.log and its pid (the leader of its own session, so `make demo-down`
can signal the whole group) to DIR/<binary>.pid. `check` then fails on any process that died or
any log line where the API server refused it something (403). kwok keeps "running" the rendered
pods too (which is what makes the Deployments Ready); the processes started here do the work.

Usage: python -m hack.operands start --kubeconfig K --dir .demo [--timeout 180]
       python -m hack.operands check --dir .demo
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vmo_operator.kube import kinds
from vmo_operator.kube.client import KubeClient, connect_kubeconfig
from vmo_operator.kube.objects import COMPONENT_LABEL, MANAGED_SELECTOR, Manifest
from vmo_operator.localenv.controlplane import ControlPlane
from vmo_operator.localenv.processes import Process

REPO = Path(__file__).resolve().parents[1]
BIN_DIR = REPO / ".bin"
# What a refused request looks like in client-go's and controller-runtime's logs (as in the tests:
# tests/support/operands.py).
FORBIDDEN = re.compile(r"forbidden|\b403\b", re.IGNORECASE)
POLL_SECONDS = 1.0


@dataclass(frozen=True)
class Launch:
    """How one operand process is started: its binary's args (no argv[0]) and environment."""

    args: list[str]
    env: dict[str, str]


@dataclass(frozen=True)
class Context:
    """What a recipe may use: the live Deployment, its ServiceAccount's kubeconfig, the cluster."""

    deployment: Manifest
    kubeconfig: Path
    kube: KubeClient
    workdir: Path

    @property
    def namespace(self) -> str:
        return str(self.deployment["metadata"]["namespace"])

    @property
    def pod(self) -> Manifest:
        pod: Manifest = self.deployment["spec"]["template"]["spec"]
        return pod

    @property
    def container(self) -> Manifest:
        container: Manifest = self.pod["containers"][0]
        return container

    def env(self) -> dict[str, str]:
        """The container's environment; the downward API fields a pod would get are filled in."""
        env: dict[str, str] = {}
        for var in self.container.get("env") or []:
            source = var.get("valueFrom")
            if source is None:
                env[var["name"]] = str(var.get("value", ""))
            elif source.get("fieldRef", {}).get("fieldPath") == "metadata.namespace":
                env[var["name"]] = self.namespace
            elif source.get("fieldRef", {}).get("fieldPath") == "spec.serviceAccountName":
                env[var["name"]] = self.pod["serviceAccountName"]
            else:
                raise ValueError(f"{var['name']}: {source} cannot be resolved outside a pod")
        return env


def _snapshot_controller(ctx: Context) -> Launch:
    # In a pod POD_NAMESPACE comes from the downward API; leader election uses it.
    return Launch(
        [*ctx.container.get("args", []), f"--kubeconfig={ctx.kubeconfig}"],
        {**ctx.env(), "POD_NAMESPACE": ctx.namespace},
    )


def _descheduler(ctx: Context) -> Launch:
    """The policy file the pod gets from its ConfigMap volume is written out from the live ConfigMap."""
    args = list(ctx.container.get("args", []))
    (flag,) = [a for a in args if a.startswith("--policy-config-file=")]
    in_pod = flag.split("=", 1)[1]
    mounts = {m["mountPath"].rstrip("/"): m["name"] for m in ctx.container.get("volumeMounts") or []}
    volumes = {v["name"]: v for v in ctx.pod.get("volumes") or []}
    mount_dir, key = in_pod.rsplit("/", 1)
    config_map_name = volumes[mounts[mount_dir]]["configMap"]["name"]
    config_map = ctx.kube.get(kinds.CONFIG_MAP, config_map_name, ctx.namespace)
    if config_map is None or key not in (config_map.get("data") or {}):
        raise RuntimeError(f"ConfigMap {ctx.namespace}/{config_map_name} has no {key} yet")
    policy = ctx.workdir / "descheduler-policy.yaml"
    policy.write_text(config_map["data"][key])
    args = [a for a in args if a != flag]
    # No serving port: its health endpoint is for the kubelet, and no kubelet runs here.
    extra = [f"--policy-config-file={policy}", f"--kubeconfig={ctx.kubeconfig}", "--secure-port=0"]
    return Launch([*args, *extra], ctx.env())


# cdi-operator reads its namespace only from the pod's service-account file, else uses this one.
CDI_OPERATOR_NAMESPACE = "cdi"


def _cdi_operator(ctx: Context) -> Launch:
    if ctx.namespace != CDI_OPERATOR_NAMESPACE:
        raise RuntimeError(
            f"cdi-operator is rendered into {ctx.namespace!r}, but outside a pod it can only "
            f"assume {CDI_OPERATOR_NAMESPACE!r}"
        )
    # It binds 0.0.0.0:8443 (metrics) and :8444 (health): only loopback exists in the demo's netns.
    return Launch([*ctx.container.get("args", []), f"-kubeconfig={ctx.kubeconfig}"], ctx.env())


@dataclass(frozen=True)
class Operand:
    component: str  # the vmo.dev/component label of its Deployment
    binary: str  # in .bin/; also the name of its log and pid files
    module: str  # the Go module .bin/<binary> is built from (hack/testenv/<binary>/go.mod)
    recipe: Callable[[Context], Launch]

    def built_version(self) -> str:
        """The release `make operands-bin` builds, as pinned in hack/testenv/<binary>/go.mod."""
        gomod = (REPO / "hack" / "testenv" / self.binary / "go.mod").read_text()
        match = re.search(rf"^\s*{re.escape(self.module)} (v\S+)", gomod, re.MULTILINE)
        return match.group(1) if match else "unknown"


# The operands that run for real wherever the tests run them (tests/operands/).
OPERANDS = (
    Operand(
        "snapshotController",
        "snapshot-controller",
        "github.com/kubernetes-csi/external-snapshotter/v8",
        _snapshot_controller,
    ),
    Operand("descheduler", "descheduler", "sigs.k8s.io/descheduler", _descheduler),
    Operand("cdi", "cdi-operator", "kubevirt.io/containerized-data-importer", _cdi_operator),
)


def rendered_deployment(kube: KubeClient, component: str, binary: str) -> Manifest | None:
    """The Deployment vmo-operator rendered for `component` whose container runs `binary`."""
    selector = f"{MANAGED_SELECTOR},{COMPONENT_LABEL}={component}"
    found = kube.list(kinds.DEPLOYMENT, label_selector=selector)
    for deployment in found:
        if deployment["metadata"]["name"] == binary:
            return deployment
    return None


def start(kubeconfig: Path, workdir: Path, timeout: float) -> int:
    kube = KubeClient(connect_kubeconfig(kubeconfig))
    plane = ControlPlane.attach(kubeconfig)
    workdir.mkdir(parents=True, exist_ok=True)
    pending = list(OPERANDS)
    deadline = time.monotonic() + timeout
    last_error: dict[str, str] = {}
    while pending:
        for operand in list(pending):
            try:
                deployment = rendered_deployment(kube, operand.component, operand.binary)
                if deployment is None:
                    last_error[operand.binary] = "its Deployment is not rendered yet"
                    continue
                pid = _launch(operand, deployment, kube, plane, workdir)
            except Exception as exc:  # the operator may still be applying what the recipe reads
                last_error[operand.binary] = repr(exc)
                continue
            pending.remove(operand)
            meta = deployment["metadata"]
            pod = deployment["spec"]["template"]["spec"]
            print(
                f"    {operand.binary} {operand.built_version()}: pid {pid}, as ServiceAccount "
                f"{meta['namespace']}/{pod['serviceAccountName']}, log {workdir / (operand.binary + '.log')}",
                flush=True,
            )
            image = str(pod["containers"][0].get("image", ""))
            if not image.endswith(f":{operand.built_version()}"):
                print(f"    note: the profile renders {image}; .bin/ holds {operand.built_version()}")
        if pending and time.monotonic() >= deadline:
            for operand in pending:
                print(f"{operand.binary} not started: {last_error.get(operand.binary)}", file=sys.stderr)
            return 1
        if pending:
            time.sleep(POLL_SECONDS)
    return 0


def _launch(
    operand: Operand, deployment: Manifest, kube: KubeClient, plane: ControlPlane, workdir: Path
) -> int:
    binary = BIN_DIR / operand.binary
    if not binary.exists():
        raise FileNotFoundError(f"{binary} is missing: run `make operands-bin`")
    namespace = deployment["metadata"]["namespace"]
    service_account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    kubeconfig = plane.service_account_kubeconfig(namespace, service_account)
    launch = operand.recipe(Context(deployment, kubeconfig, kube, workdir))
    env = [f"{name}={value}" for name, value in launch.env.items()]
    log = workdir / f"{operand.binary}.log"
    # Its own session (Process does that), so `make demo-down` stops its whole process group.
    process = Process(operand.binary, ["env", *env, str(binary), *launch.args], log)
    process.start()
    (workdir / f"{operand.binary}.pid").write_text(f"{process.pid}\n")
    (workdir / f"{operand.binary}.cmdline").write_text(" ".join(process.args) + "\n")
    return process.pid


def refused(log: Path) -> list[str]:
    """Every log line where the API server refused the operand something (403)."""
    try:
        text = log.read_text(errors="replace")
    except FileNotFoundError:
        return []
    return [line for line in text.splitlines() if FORBIDDEN.search(line)]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped) is not running.
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def check(workdir: Path) -> int:
    """Each real operand still runs and its log holds no 403; prints one line each."""
    failed = False
    for operand in OPERANDS:
        pid_file, log = workdir / f"{operand.binary}.pid", workdir / f"{operand.binary}.log"
        if not pid_file.exists():
            print(f"    {operand.binary}: NOT RUNNING (never started)")
            failed = True
            continue
        pid = int(pid_file.read_text())
        lines = refused(log)
        alive = _alive(pid)
        state = "running" if alive else "EXITED"
        print(
            f"    {operand.binary} {operand.built_version()}: {state} (pid {pid}), "
            f"{len(lines)} forbidden/403 lines in {log}"
        )
        for line in lines[:10]:
            print(f"      {line}")
        failed |= bool(lines) or not alive
    return 1 if failed else 0


def main(argv: list[str] | None = None, env: Mapping[str, str] = os.environ) -> int:
    parser = argparse.ArgumentParser(prog="python -m hack.operands", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    start_cmd = sub.add_parser("start", help="start every known operand from its rendered Deployment")
    start_cmd.add_argument("--kubeconfig", type=Path, default=env.get("KUBECONFIG"))
    start_cmd.add_argument("--dir", type=Path, required=True, help="where logs and pid files go")
    start_cmd.add_argument("--timeout", type=float, default=180.0, help="wait this long for each Deployment")
    check_cmd = sub.add_parser("check", help="each operand runs and its log holds no forbidden/403")
    check_cmd.add_argument("--dir", type=Path, required=True)
    args: Any = parser.parse_args(argv)
    if args.command == "start":
        if args.kubeconfig is None:
            parser.error("--kubeconfig (or KUBECONFIG) is required")
        return start(args.kubeconfig.resolve(), args.dir.resolve(), args.timeout)
    return check(args.dir.resolve())


if __name__ == "__main__":
    raise SystemExit(main())
