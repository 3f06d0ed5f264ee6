"""Runs the REAL operand controllers of `make demo` as processes, under their rendered RBAC.

Part of the demo tooling in hack/, never shipped and never imported by src/ (tests/operands/ import
its recipes, so the tests and the demo launch each operand the same way). After vmo-operator has
applied the profile, `start` reads the Deployments the operator rendered into the live cluster
(labelled `app.kubernetes.io/managed-by=vmo-operator` and `vmo.dev/component`), and runs each
known operand's binary from `.bin/` (built by `make operands-bin`, from the same pinned sources the
tests use) in the background with:

- the container's args and env from that Deployment, translated only where a pod differs from a
  process (a mounted ConfigMap becomes a file, the downward API becomes literal values);
- a kubeconfig minted for the Deployment's own ServiceAccount, so the API server gives it
  exactly the RBAC this project renders and nothing more;
- for virt-operator, a network namespace of its own as its pod would have (hack/podnet.py): it
  binds port 8444, hard-coded, and so does cdi-operator.

Its log goes to DIR/<binary>.log and its pid (the leader of its own session, so `make demo-down`
can signal the whole group) to DIR/<binary>.pid; DIR/real-operands lists what was started.
`dump-install-strategy` then does the work of virt-operator's install-strategy Job, which kwok
never runs: the same binary in that mode, as a process with the Job's environment and
ServiceAccount (log DIR/virt-operator-dump-install-strategy.log). `check` fails on any operand
that died, a dump that failed, or any log line where the API server refused one something (403).
kwok keeps "running" the rendered pods too (which is what makes the Deployments Ready); the
processes started here do the work.

Usage: python -m hack.operands start --kubeconfig K --dir .demo [--only a,b] [--timeout 180]
       python -m hack.operands dump-install-strategy --kubeconfig K --dir .demo [--timeout 300]
       python -m hack.operands check --dir .demo
       python -m hack.operands profile FILE   (FILE with spec.kubevirt.version = .bin/virt-operator's)
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from vmo_operator.kube import kinds
from vmo_operator.kube.client import KubeClient
from vmo_operator.kube.connect import connect_kubeconfig
from vmo_operator.kube.objects import COMPONENT_LABEL, MANAGED_SELECTOR, Manifest
from vmo_operator.localenv.controlplane import ControlPlane
from vmo_operator.localenv.processes import Process, stop_pids

REPO = Path(__file__).resolve().parents[1]
BIN_DIR = REPO / ".bin"
PODNET = REPO / "hack" / "podnet.py"
# What a refused request looks like in client-go's and controller-runtime's logs (as in the tests:
# tests/support/operands.py).
FORBIDDEN = re.compile(r"forbidden|\b403\b", re.IGNORECASE)
POLL_SECONDS = 1.0
STARTED = "real-operands"  # DIR/real-operands: the binaries `start` launched, one a line


def container_env(workload: Mapping[str, Any], container: str = "") -> dict[str, str]:
    """The environment the kubelet would give `container` (default: the first) of a Deployment,
    Job or Pod manifest.

    Plain values are taken as they are; a `fieldRef` to the pod's namespace, name, annotations or
    ServiceAccount resolves against the pod template (an annotation it lacks is empty, as the
    kubelet makes it). Other sources are refused, so no operand runs with an environment that is
    silently wrong.
    """
    spec = workload["spec"]
    template = spec.get("template", workload)
    pod = template["spec"]
    containers = pod["containers"]
    chosen = next((c for c in containers if c["name"] == container), None) if container else containers[0]
    if chosen is None:
        raise KeyError(f"no container {container!r} in {workload['metadata'].get('name')}")
    meta = {**template.get("metadata", {}), "namespace": workload["metadata"].get("namespace", "")}
    env: dict[str, str] = {}
    for var in chosen.get("env") or []:
        if "valueFrom" not in var:
            env[var["name"]] = str(var.get("value", ""))
            continue
        path = var["valueFrom"].get("fieldRef", {}).get("fieldPath", "")
        annotation = re.fullmatch(r"metadata\.annotations\['(.+)'\]", path)
        if annotation:
            env[var["name"]] = str((meta.get("annotations") or {}).get(annotation.group(1), ""))
        elif path in ("metadata.namespace", "metadata.name"):
            env[var["name"]] = str(meta.get(path.split(".")[1], ""))
        elif path == "spec.serviceAccountName":
            env[var["name"]] = str(pod.get("serviceAccountName", "default"))
        else:
            raise ValueError(f"{var['name']}: {var['valueFrom']} cannot be resolved outside a pod")
    return env


def service_account_of(workload: Manifest) -> tuple[str, str]:
    """The namespace and ServiceAccount a Deployment's or Job's pods run as."""
    pod = workload["spec"]["template"]["spec"]
    return str(workload["metadata"]["namespace"]), str(pod.get("serviceAccountName", "default"))


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


def _snapshot_controller(ctx: Context) -> Launch:
    # In a pod POD_NAMESPACE comes from the downward API; leader election uses it.
    return Launch(
        [*ctx.container.get("args", []), f"--kubeconfig={ctx.kubeconfig}"],
        {**container_env(ctx.deployment), "POD_NAMESPACE": ctx.namespace},
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
    return Launch([*args, *extra], container_env(ctx.deployment))


# cdi-operator reads its namespace only from the pod's service-account file, else uses this one.
CDI_OPERATOR_NAMESPACE = "cdi"


def _cdi_operator(ctx: Context) -> Launch:
    if ctx.namespace != CDI_OPERATOR_NAMESPACE:
        raise RuntimeError(
            f"cdi-operator is rendered into {ctx.namespace!r}, but outside a pod it can only "
            f"assume {CDI_OPERATOR_NAMESPACE!r}"
        )
    # It binds 0.0.0.0:8443 (metrics) and :8444 (health): only loopback exists in the demo's netns.
    return Launch(
        [*ctx.container.get("args", []), f"-kubeconfig={ctx.kubeconfig}"], container_env(ctx.deployment)
    )


def virt_operator_launch(deployment: Manifest, kubeconfig: str, *, port: int | None = None) -> Launch:
    """virt-operator with its rendered container's args and env, serving on 127.0.0.1 only.

    `port` replaces the rendered `--port` (its metrics and health endpoint) where the process shares
    a network namespace with others (the tests); the webhook port 8444 is fixed in the binary.
    WATCH_NAMESPACE comes from an OLM annotation the pod lacks, so it is empty: all namespaces.
    """
    (container,) = [
        c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "virt-operator"
    ]
    args = [str(a) for a in container.get("args", [])]
    if port is not None:
        at = args.index("--port")
        args[at + 1] = str(port)
    return Launch(
        [*args, "--kubeconfig", kubeconfig, "--listen", "127.0.0.1"],
        container_env(deployment, "virt-operator"),
    )


def _virt_operator(ctx: Context) -> Launch:
    return virt_operator_launch(ctx.deployment, str(ctx.kubeconfig))


INSTALL_STRATEGY_LABEL = "kubevirt.io/install-strategy"
DUMP_NAME = "virt-operator-dump-install-strategy"  # DIR/<this>.log, .pid (while it runs), .exit


def install_strategy_job(kube: KubeClient, namespace: str = "") -> Manifest | None:
    """The Job virt-operator creates to dump its install strategy (kwok never runs its pod)."""
    jobs = kube.list(kinds.JOB, namespace=namespace, label_selector=INSTALL_STRATEGY_LABEL)
    return jobs[0] if jobs else None


def install_strategy_dump(job: Manifest, kubeconfig: str) -> Launch:
    """What the install-strategy Job's pod would run: virt-operator in that mode, with the Job's env.

    Run it with a kubeconfig of the Job's own ServiceAccount (`service_account_of(job)`, upstream's
    is the operator's), so the dump holds the operator's RBAC and no more.
    """
    container = job["spec"]["template"]["spec"]["containers"][0]
    if container["command"] != ["virt-operator", "--dump-install-strategy"]:
        raise ValueError(f"unexpected install-strategy Job command: {container['command']}")
    return Launch(["--kubeconfig", kubeconfig, *container["command"][1:]], container_env(job))


@dataclass(frozen=True)
class Operand:
    component: str  # the vmo.dev/component label of its Deployment
    binary: str  # in .bin/; also the name of its log and pid files
    module: str  # the Go module .bin/<binary> is built from (hack/testenv/<binary>/go.mod)
    recipe: Callable[[Context], Launch]
    # Run it in a network namespace of its own (hack/podnet.py): it binds a port another one binds.
    own_network: bool = False
    # Refuse a Deployment that asks for another version than .bin/ holds (virt-operator installs
    # the version in its environment, with the install strategy compiled into the binary).
    exact_version: bool = False

    def built_version(self) -> str:
        """The release `make operands-bin` builds, as pinned in hack/testenv/<binary>/go.mod."""
        gomod = (REPO / "hack" / "testenv" / self.binary / "go.mod").read_text()
        match = re.search(rf"^\s*{re.escape(self.module)} (v\S+)", gomod, re.MULTILINE)
        return match.group(1) if match else "unknown"


VIRT_OPERATOR = Operand(
    "kubevirt", "virt-operator", "kubevirt.io/kubevirt", _virt_operator, own_network=True, exact_version=True
)

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
    VIRT_OPERATOR,
)


class VersionMismatchError(RuntimeError):
    """The profile asks for another version than the built binary is; waiting cannot fix that."""


def rendered_deployment(kube: KubeClient, component: str, binary: str) -> Manifest | None:
    """The Deployment vmo-operator rendered for `component` whose container runs `binary`."""
    selector = f"{MANAGED_SELECTOR},{COMPONENT_LABEL}={component}"
    found = kube.list(kinds.DEPLOYMENT, label_selector=selector)
    for deployment in found:
        if deployment["metadata"]["name"] == binary:
            return deployment
    return None


def _chosen(names: Sequence[str]) -> list[Operand]:
    known = {operand.binary: operand for operand in OPERANDS}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise SystemExit(f"unknown operand(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return [known[name] for name in names]


def start(kubeconfig: Path, workdir: Path, timeout: float, only: Sequence[str] = ()) -> int:
    kube = KubeClient(connect_kubeconfig(kubeconfig))
    plane = ControlPlane.attach(kubeconfig)
    workdir.mkdir(parents=True, exist_ok=True)
    pending = _chosen(only) if only else list(OPERANDS)
    (workdir / STARTED).write_text("".join(f"{operand.binary}\n" for operand in pending))
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
            except VersionMismatchError as exc:
                print(f"{operand.binary} not started: {exc}", file=sys.stderr)
                return 1
            except Exception as exc:  # the operator may still be applying what the recipe reads
                last_error[operand.binary] = repr(exc)
                continue
            pending.remove(operand)
            namespace, service_account = service_account_of(deployment)
            where = ", in a network namespace of its own" if operand.own_network else ""
            print(
                f"    {operand.binary} {operand.built_version()}: pid {pid}, as ServiceAccount "
                f"{namespace}/{service_account}{where}, log {workdir / (operand.binary + '.log')}",
                flush=True,
            )
            image = _image(deployment)
            if not image.endswith(f":{operand.built_version()}"):
                print(f"    note: the profile renders {image}; .bin/ holds {operand.built_version()}")
        if pending and time.monotonic() >= deadline:
            for operand in pending:
                print(f"{operand.binary} not started: {last_error.get(operand.binary)}", file=sys.stderr)
            return 1
        if pending:
            time.sleep(POLL_SECONDS)
    return 0


def _image(deployment: Manifest) -> str:
    return str(deployment["spec"]["template"]["spec"]["containers"][0].get("image", ""))


def _binary(name: str) -> Path:
    binary = BIN_DIR / name
    if not binary.exists():
        raise FileNotFoundError(f"{binary} is missing: run `make operands-bin`")
    return binary


def _launch(
    operand: Operand, deployment: Manifest, kube: KubeClient, plane: ControlPlane, workdir: Path
) -> int:
    if operand.exact_version and not _image(deployment).endswith(f":{operand.built_version()}"):
        raise VersionMismatchError(
            f"the profile renders {_image(deployment)}, but .bin/{operand.binary} is "
            f"{operand.built_version()}: set spec.kubevirt.version to {operand.built_version()}"
        )
    binary = _binary(operand.binary)
    namespace, service_account = service_account_of(deployment)
    kubeconfig = plane.service_account_kubeconfig(namespace, service_account)
    launch = operand.recipe(Context(deployment, kubeconfig, kube, workdir))
    argv = ["env", *(f"{name}={value}" for name, value in launch.env.items()), str(binary), *launch.args]
    if operand.own_network:
        relay = plane.server.removeprefix("https://")
        argv = [sys.executable, str(PODNET), "--relay", relay, "--", *argv]
    log = workdir / f"{operand.binary}.log"
    # Its own session (Process does that), so `make demo-down` stops its whole process group.
    process = Process(operand.binary, argv, log)
    process.start()
    (workdir / f"{operand.binary}.pid").write_text(f"{process.pid}\n")
    (workdir / f"{operand.binary}.cmdline").write_text(" ".join(process.args) + "\n")
    return process.pid


def dump_install_strategy(kubeconfig: Path, workdir: Path, timeout: float) -> int:
    """Do the work of virt-operator's install-strategy Job: wait for the Job, run the dump, report."""
    kube = KubeClient(connect_kubeconfig(kubeconfig))
    plane = ControlPlane.attach(kubeconfig)
    operator_pid = workdir / f"{VIRT_OPERATOR.binary}.pid"
    deadline = time.monotonic() + timeout
    while (job := install_strategy_job(kube)) is None:
        if not operator_pid.exists() or not _alive(int(operator_pid.read_text())):
            print(f"virt-operator is not running; see {workdir / 'virt-operator.log'}", file=sys.stderr)
            return 1
        if time.monotonic() >= deadline:
            print(f"virt-operator created no install-strategy Job within {timeout:.0f}s", file=sys.stderr)
            return 1
        time.sleep(POLL_SECONDS)
    namespace, service_account = service_account_of(job)
    launch = install_strategy_dump(job, str(plane.service_account_kubeconfig(namespace, service_account)))
    argv = ["env", *(f"{k}={v}" for k, v in launch.env.items()), str(_binary("virt-operator")), *launch.args]
    log, pid_file = workdir / f"{DUMP_NAME}.log", workdir / f"{DUMP_NAME}.pid"
    process = Process(DUMP_NAME, argv, log)
    process.start()
    pid_file.write_text(f"{process.pid}\n")  # for `make demo-down`, should this be interrupted
    assert process.popen is not None
    try:
        code = process.popen.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        stop_pids([process.pid])
        code = -1
    pid_file.unlink()  # it has exited: a stale pid must never be signalled later
    (workdir / f"{DUMP_NAME}.exit").write_text(f"{code}\n")
    print(
        f"    virt-operator {VIRT_OPERATOR.built_version()} --dump-install-strategy, with the environment of "
        f"Job {namespace}/{job['metadata']['name']}, as ServiceAccount {namespace}/{service_account}: "
        f"exit code {code}, log {log}"
    )
    if code != 0:
        print(process.log_tail(), file=sys.stderr)
    return 0 if code == 0 else 1


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


def _report(name: str, state: str, log: Path) -> bool:
    """One line for one process; True when its log holds a 403."""
    lines = refused(log)
    print(f"    {name}: {state}, {len(lines)} forbidden/403 lines in {log}")
    for line in lines[:10]:
        print(f"      {line}")
    return bool(lines)


def check(workdir: Path) -> int:
    """Each operand `start` launched still runs and its log holds no 403, and virt-operator's
    install-strategy dump exited 0 without one; prints one line each."""
    listed = workdir / STARTED
    names = listed.read_text().split() if listed.exists() else [operand.binary for operand in OPERANDS]
    failed = False
    for operand in _chosen(names):
        name = f"{operand.binary} {operand.built_version()}"
        pid_file, log = workdir / f"{operand.binary}.pid", workdir / f"{operand.binary}.log"
        if not pid_file.exists():
            print(f"    {name}: NOT RUNNING (never started)")
            failed = True
            continue
        pid = int(pid_file.read_text())
        alive = _alive(pid)
        failed |= _report(name, f"{'running' if alive else 'EXITED'} (pid {pid})", log) or not alive
        if operand is VIRT_OPERATOR:
            exit_file = workdir / f"{DUMP_NAME}.exit"
            code = exit_file.read_text().strip() if exit_file.exists() else "never run"
            dump = f"{operand.binary} {operand.built_version()} --dump-install-strategy"
            state = f"exited {code}" if exit_file.exists() else "NEVER RUN"
            failed |= _report(dump, state, workdir / f"{DUMP_NAME}.log") or code != "0"
    return 1 if failed else 0


def real_kubevirt_profile(path: Path) -> str:
    """The profile in `path` asking for the KubeVirt that .bin/virt-operator was built as."""
    profile = yaml.safe_load(path.read_text())
    spec = profile.setdefault("spec", {})
    spec.setdefault("kubevirt", {})["version"] = VIRT_OPERATOR.built_version()
    header = (
        f"# {path}, with spec.kubevirt.version set to {VIRT_OPERATOR.built_version()}: the newest KubeVirt\n"
        "# whose virt-operator builds here (hack/testenv/virt-operator/go.mod), so it can run for real.\n"
    )
    return header + yaml.safe_dump(profile, sort_keys=False)


def main(argv: list[str] | None = None, env: Mapping[str, str] = os.environ) -> int:
    parser = argparse.ArgumentParser(prog="python -m hack.operands", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    start_cmd = sub.add_parser("start", help="start the operands from their rendered Deployments")
    start_cmd.add_argument("--kubeconfig", type=Path, default=env.get("KUBECONFIG"))
    start_cmd.add_argument("--dir", type=Path, required=True, help="where logs and pid files go")
    start_cmd.add_argument("--timeout", type=float, default=180.0, help="wait this long for each Deployment")
    start_cmd.add_argument(
        "--only", default="", help="comma- or space-separated binaries to start (default: every known one)"
    )
    dump_cmd = sub.add_parser(
        "dump-install-strategy", help="do the work of virt-operator's install-strategy Job"
    )
    dump_cmd.add_argument("--kubeconfig", type=Path, default=env.get("KUBECONFIG"))
    dump_cmd.add_argument("--dir", type=Path, required=True)
    dump_cmd.add_argument(
        "--timeout", type=float, default=300.0, help="for the Job to appear and the dump to end"
    )
    check_cmd = sub.add_parser("check", help="each operand runs and its log holds no forbidden/403")
    check_cmd.add_argument("--dir", type=Path, required=True)
    profile_cmd = sub.add_parser("profile", help="print a profile asking for .bin/virt-operator's KubeVirt")
    profile_cmd.add_argument("file", type=Path)
    args: Any = parser.parse_args(argv)
    if args.command == "profile":
        print(real_kubevirt_profile(args.file), end="")
        return 0
    if args.command == "check":
        return check(args.dir.resolve())
    if args.kubeconfig is None:
        parser.error("--kubeconfig (or KUBECONFIG) is required")
    if args.command == "start":
        only = args.only.replace(",", " ").split()
        return start(args.kubeconfig.resolve(), args.dir.resolve(), args.timeout, only)
    return dump_install_strategy(args.kubeconfig.resolve(), args.dir.resolve(), args.timeout)


if __name__ == "__main__":
    raise SystemExit(main())
