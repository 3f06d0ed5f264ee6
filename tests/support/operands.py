"""Real operand controllers, built from the Go module proxy, run as processes in the tests.

Each one runs with a kubeconfig minted for its own ServiceAccount, so the API server gives it
exactly the RBAC this project renders and nothing more, and its log is kept so a test can fail on
a single `forbidden`. The objects a component renders are installed the way the engine installs
them (server-side apply in waves), without the operator, so a test sees the operand alone.
"""

from __future__ import annotations

import contextlib
import functools
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from tests.support.waiting import WaitTimeoutError, eventually
from vmo_operator.api import models
from vmo_operator.components import registry
from vmo_operator.components.base import ClusterFacts, render_labelled
from vmo_operator.engine.apply import KindIndex, apply_desired, custom_groups_of, wave_of
from vmo_operator.kube import kinds
from vmo_operator.kube.client import KubeClient
from vmo_operator.kube.kinds import Kind
from vmo_operator.kube.objects import Manifest
from vmo_operator.localenv.controlplane import ControlPlane
from vmo_operator.localenv.processes import Process, stop_pids

REPO = Path(__file__).resolve().parents[2]
BIN_DIR = REPO / ".bin"
# What a refused request looks like in client-go's and controller-runtime's logs.
FORBIDDEN = re.compile(r"forbidden|\b403\b", re.IGNORECASE)
POLL_SECONDS = 0.5
T = TypeVar("T")


def render(component: str, spec: Mapping[str, Any]) -> list[Manifest]:
    """What `component` renders for `spec` (camelCase profile spec), labelled as the engine labels."""
    return render_labelled(
        registry.by_name(component), models.parse_spec(dict(spec)), ClusterFacts(), "operand-test"
    )


def apply_rendered(api_client: Any, component: str, manifests: Sequence[Manifest]) -> None:
    """Apply `manifests` (some or all of what `component` renders) as the engine would."""
    kube = KubeClient(api_client)
    report = apply_desired(kube, KindIndex(registry.by_name(component).owned_kinds), list(manifests), {})
    assert not report.failures, report.failures  # the engine records failures per object; here each is one


def install_rendered(api_client: Any, component: str, spec: Mapping[str, Any]) -> list[Manifest]:
    """Apply what `component` renders for `spec` (camelCase profile spec), as the engine would."""
    rendered = render(component, spec)
    apply_rendered(api_client, component, rendered)
    return rendered


def uninstall_rendered(
    api_client: Any, component: str, rendered: Sequence[Manifest], *, timeout: float = 120.0
) -> None:
    """Delete what `install_rendered` applied, last wave first, and wait until all of it is gone.

    Waiting matters: a namespace or CRD still terminating would leak into the next test.
    """
    kube = KubeClient(api_client)
    index = KindIndex(registry.by_name(component).owned_kinds)
    groups = custom_groups_of(rendered)
    ordered = sorted(rendered, key=lambda obj: wave_of(obj, groups), reverse=True)
    for obj in ordered:
        meta = obj["metadata"]
        kube.delete(index.of(obj), meta["name"], meta.get("namespace", ""))
    for obj in ordered:
        meta = obj["metadata"]
        gone = functools.partial(_gone, kube, index.of(obj), meta["name"], meta.get("namespace", ""))
        eventually(gone, timeout=timeout, what=f"{obj['kind']} {meta['name']} gone")


def restore_crd(kube: KubeClient, crd: Manifest) -> bool:
    """Create `crd` again (as it was read, without server-set fields) if it is gone; for `eventually`.

    Tests that run a real operator set aside CRDs an earlier test installed (the operator would
    take them over or leave them unowned) and put them back afterwards with this.
    """
    if kube.get(kinds.CRD, crd["metadata"]["name"]) is None:
        meta = {k: crd["metadata"][k] for k in ("name", "labels", "annotations") if k in crd["metadata"]}
        kube.create(
            kinds.CRD,
            {"apiVersion": crd["apiVersion"], "kind": crd["kind"], "metadata": meta, "spec": crd["spec"]},
        )
    return True


def _gone(kube: KubeClient, kind: Kind, name: str, namespace: str) -> bool:
    return kube.get(kind, name, namespace) is None


@dataclass
class RealOperand:
    """One operand binary from .bin/, running as `namespace/service_account`."""

    name: str
    control_plane: ControlPlane
    namespace: str
    service_account: str
    args: Sequence[str] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    # Distinguishes two runs of one binary (e.g. an operator and a one-shot mode of it) in the logs.
    role: str = ""
    process: Process | None = None

    @property
    def binary(self) -> Path:
        path = BIN_DIR / self.name
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: run `make operands-bin`")
        return path

    @property
    def kubeconfig(self) -> Path:
        return self.control_plane.service_account_kubeconfig(self.namespace, self.service_account)

    def start(self) -> RealOperand:
        assert self.control_plane.workdir is not None
        suffix = f"-{self.role}" if self.role else ""
        log = self.control_plane.workdir / "logs" / f"operand-{self.name}{suffix}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        argv = [str(self.binary), *(a.replace("{kubeconfig}", str(self.kubeconfig)) for a in self.args)]
        env_prefix = [f"{k}={v}" for k, v in self.env.items()]
        self.process = Process(self.name, ["env", *env_prefix, *argv] if env_prefix else argv, log)
        self.process.start()
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.popen is not None:
            stop_pids([self.process.pid])

    def log(self) -> str:
        if self.process is None:
            return ""
        return self.process.log_path.read_text(errors="replace")

    def forbidden(self) -> list[str]:
        """Every log line where the API server refused the operand something (403)."""
        return [line for line in self.log().splitlines() if FORBIDDEN.search(line)]

    def check_alive(self) -> None:
        assert self.process is not None
        self.process.check_alive()

    def assert_unrefused(self) -> None:
        """Still running, and never refused anything so far."""
        self.check_alive()
        refused = self.forbidden()
        assert not refused, f"{self.name} was refused by RBAC:\n" + "\n".join(refused[:20])

    def wait_for(self, probe: Callable[[], T | None], *, timeout: float, what: str) -> T:
        """Like `eventually(probe)`, but fail at once when the operand exits or is refused (403):
        waiting longer cannot help then, and the refusal is the message worth reading."""
        deadline = time.monotonic() + timeout
        last: object = None
        while True:
            self.assert_unrefused()
            try:
                value = probe()
                if value:
                    return value
                last = value
            except Exception as exc:  # the API may answer with errors while things converge
                last = exc
            if time.monotonic() >= deadline:
                raise WaitTimeoutError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")
            time.sleep(POLL_SECONDS)

    def wait(self, timeout: float) -> int:
        """For a one-shot run: its exit code, once it exits within `timeout` seconds."""
        assert self.process is not None
        assert self.process.popen is not None
        return self.process.popen.wait(timeout=timeout)


@contextlib.contextmanager
def running(operand: RealOperand) -> Iterator[RealOperand]:
    """Run `operand` for the block; afterwards its log must hold no 403 at all."""
    operand.start()
    try:
        yield operand
    except BaseException as exc:
        operand.stop()
        refused = operand.forbidden()
        if refused:  # often the reason the block failed: say so next to its error
            exc.add_note(f"{operand.name} was refused by RBAC:\n" + "\n".join(refused[:20]))
        raise
    operand.stop()
    refused = operand.forbidden()
    assert not refused, f"{operand.name} was refused by RBAC:\n" + "\n".join(refused[:20])


@dataclass(frozen=True)
class RenderedWorkload:
    """Where and how a rendered Deployment or DaemonSet would run its first container."""

    namespace: str
    service_account: str
    args: list[str]
    env: dict[str, str]


def rendered_workload(rendered: Sequence[Manifest], kind: str, name: str) -> RenderedWorkload:
    """The namespace, ServiceAccount, args and literal env of a rendered workload's first container."""
    (obj,) = [o for o in rendered if o["kind"] == kind and o["metadata"]["name"] == name]
    pod = obj["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
    return RenderedWorkload(
        namespace=obj["metadata"]["namespace"],
        service_account=pod["serviceAccountName"],
        args=list(container.get("args", [])),
        env=env,
    )
