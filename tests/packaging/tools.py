"""Helpers for the packaging tests: run helm, kubectl and kustomize as a user would, parse output.

helm comes from hack/testenv/build.sh (the Go module in hack/testenv/helm), kubectl from the
machine. Both run as subprocesses; when a test needs the control plane, KUBECONFIG points at it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from tests.support.paths import REPO

CHART = REPO / "charts" / "vmo-operator"
BASE = REPO / "deploy" / "base"
OVERLAY = REPO / "deploy" / "overlays" / "example"
HELM = REPO / ".bin" / "helm"
NAMESPACE = "vmo-system"
RELEASE = "vmo-operator"

Manifest = dict[str, Any]


def pinned_kube_version() -> str:
    """The control plane's Kubernetes version, so `helm template` sees the cluster tests use."""
    gomod = (REPO / "hack/testenv/k8s/go.mod").read_text()
    match = re.search(r"^\s*(?:require\s+)?k8s\.io/kubernetes v(\d+\.\d+\.\d+)", gomod, re.MULTILINE)
    assert match, "hack/testenv/k8s/go.mod must pin k8s.io/kubernetes"
    return match.group(1)


def _env(kubeconfig: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    if kubeconfig is not None:
        env["KUBECONFIG"] = str(kubeconfig)
    else:
        env.pop("KUBECONFIG", None)
    return env


def run(
    args: Sequence[str],
    *,
    stdin: str | None = None,
    kubeconfig: Path | None = None,
    check: bool = True,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        list(args),
        input=stdin,
        capture_output=True,
        text=True,
        env=_env(kubeconfig),
        cwd=REPO,
        timeout=timeout,
        check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {proc.returncode}:\n{proc.stderr}\n{proc.stdout}")
    return proc


def helm_binary() -> str:
    if not HELM.exists():
        raise AssertionError(f"{HELM} is missing; build it with hack/testenv/build.sh helm")
    return str(HELM)


def kubectl_binary() -> str:
    path = shutil.which("kubectl")
    if path is None:
        raise AssertionError("kubectl is not on PATH")
    return path


# libyaml's safe loader where PyYAML has it: a chart render with its CRDs is half a megabyte, 0.7 s of
# CPU for the pure-Python parser and 0.08 s for libyaml, and the packaging tests render it ~40 times.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse(text: str) -> list[Manifest]:
    return [doc for doc in yaml.load_all(text, Loader=_LOADER) if doc]


def helm_template_text(*extra: str, namespace: str = NAMESPACE, crds: bool = True) -> str:
    args = [
        helm_binary(),
        "template",
        RELEASE,
        str(CHART),
        "--namespace",
        namespace,
        "--kube-version",
        pinned_kube_version(),
    ]
    if crds:
        args.append("--include-crds")
    return run([*args, *extra]).stdout


def render_chart(*extra: str, namespace: str = NAMESPACE, crds: bool = True) -> list[Manifest]:
    return parse(helm_template_text(*extra, namespace=namespace, crds=crds))


def render_kustomize(path: Path = BASE) -> list[Manifest]:
    return parse(run([kubectl_binary(), "kustomize", str(path)]).stdout)


def find(docs: Iterable[Manifest], kind: str, name: str | None = None) -> Manifest:
    matches = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(matches) == 1, f"expected one {kind} {name or ''}, found {len(matches)}"
    return matches[0]


def kinds(docs: Iterable[Manifest]) -> list[str]:
    return sorted(d["kind"] for d in docs)


def keyed(docs: Iterable[Manifest]) -> dict[tuple[str, str, str], Manifest]:
    return {(d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]): d for d in docs}


def pod_spec(workload: Mapping[str, Any]) -> Mapping[str, Any]:
    spec: Mapping[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def dump(docs: Iterable[Manifest]) -> str:
    return "".join("---\n" + yaml.safe_dump(doc, sort_keys=False) for doc in docs)
