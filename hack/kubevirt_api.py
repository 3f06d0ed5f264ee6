"""The KubeVirt workload API (VirtualMachine, VirtualMachineInstance and the rest) exactly as the
real virt-operator registers it.

virt-operator generates these CRDs in Go (no YAML of them exists upstream) and carries them in its
install strategy, which it dumps into a ConfigMap before it installs anything. This module runs
the real binary (`.bin/virt-operator`, built by `make operands-bin` from the pinned module) in that
mode once against a control plane, takes the CRDs out of the ConfigMap, and caches them beside the
binary, so every later run (tests, simulator, bench, demo) installs upstream's schema without
another dump. Nothing of it is copied into the repository.

Used where the VM API must exist but virt-operator's full install cannot run (its virt-api pods
need a container runtime): the MAC allocator's tests, the benchmarks and the KubeVirt simulator.
"""

from __future__ import annotations

import base64
import gzip
import os
import re
import subprocess
import uuid
from pathlib import Path

import yaml

from vmo_operator.kube import kinds
from vmo_operator.kube.client import KubeClient
from vmo_operator.kube.connect import connect_kubeconfig
from vmo_operator.kube.objects import Manifest

REPO = Path(__file__).resolve().parents[1]
BINARY = REPO / ".bin" / "virt-operator"
CACHE_NAME = "kubevirt-workload-crds.yaml"
STRATEGY_LABEL = "kubevirt.io/install-strategy"
ENCODING_ANNOTATION = "kubevirt.io/install-strategy-cm-encoding"
DUMP_TIMEOUT_SECONDS = 120


# libyaml's safe loader when PyYAML has it: the cached CRDs are 3.5 MB of schema, 5 s of CPU for the
# pure-Python parser and 0.5 s for libyaml, paid by every simulator and every MAC pool a test starts.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load_all(text: str) -> list[Manifest]:
    return [doc for doc in yaml.load_all(text, Loader=_LOADER) if doc]


class KubeVirtApiError(RuntimeError):
    """The upstream CRDs could not be obtained; the message says what to run."""


def _binary() -> Path:
    if not BINARY.exists():
        raise KubeVirtApiError(f"{BINARY} is missing: run `make operands-bin`")
    return BINARY.resolve()


def _cache_file() -> Path:
    # The binary lives in a build cache keyed on its pinned source; its CRDs belong next to it.
    return _binary().parent / CACHE_NAME


def _version() -> str:
    """The KubeVirt tag the binary was built from (the pin in hack/testenv/virt-operator/go.mod)."""
    go_mod = (REPO / "hack" / "testenv" / "virt-operator" / "go.mod").read_text()
    pinned = re.search(r"^\s*kubevirt\.io/kubevirt (v\S+)", go_mod, re.MULTILINE)
    if pinned is None:
        raise KubeVirtApiError("hack/testenv/virt-operator/go.mod does not require kubevirt.io/kubevirt")
    return pinned.group(1)


def decode_strategy(config_map: Manifest) -> list[Manifest]:
    """Every object of an install-strategy ConfigMap (its manifests may be gzip+base64 encoded)."""
    text = config_map["data"]["manifests"]
    encoding = (config_map["metadata"].get("annotations") or {}).get(ENCODING_ANNOTATION, "")
    if encoding == "gzip+base64":
        text = gzip.decompress(base64.b64decode(text)).decode()
    return _load_all(text)


def _dump(kubeconfig: Path) -> list[Manifest]:
    kube = KubeClient(connect_kubeconfig(kubeconfig), field_manager="vmo-tests")
    namespace = f"kubevirt-crd-dump-{uuid.uuid4().hex[:6]}"
    kube.apply(kinds.NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    try:
        version = _version()
        # The environment virt-operator reads when no KubeVirt CR configures it (util/config.go):
        # the install namespace, and its own image, whose tag names the version to install.
        env = {
            **os.environ,
            "TARGET_INSTALL_NAMESPACE": namespace,
            "VIRT_OPERATOR_IMAGE": f"quay.io/kubevirt/virt-operator:{version}",
        }
        done = subprocess.run(
            [str(_binary()), "--kubeconfig", str(kubeconfig), "--dump-install-strategy"],
            env=env,
            capture_output=True,
            text=True,
            timeout=DUMP_TIMEOUT_SECONDS,
            check=False,
        )
        if done.returncode != 0:
            raise KubeVirtApiError(f"virt-operator --dump-install-strategy failed:\n{done.stderr[-3000:]}")
        (strategy,) = kube.list(kinds.CONFIG_MAP, namespace=namespace, label_selector=STRATEGY_LABEL)
        return [obj for obj in decode_strategy(strategy) if obj.get("kind") == "CustomResourceDefinition"]
    finally:
        kube.delete(kinds.NAMESPACE, namespace)


def workload_crds(kubeconfig: Path) -> list[Manifest]:
    """virt-operator's CRDs: from the cache beside the binary, or dumped once through `kubeconfig`
    (an admin's; the dump only reads namespaces and writes one ConfigMap in a scratch namespace)."""
    cache = _cache_file()
    if not cache.exists():
        crds = _dump(kubeconfig)
        if not any(crd["spec"]["names"]["kind"] == "VirtualMachine" for crd in crds):
            raise KubeVirtApiError("virt-operator's install strategy holds no VirtualMachine CRD")
        scratch = cache.with_suffix(f".{os.getpid()}.tmp")
        scratch.write_text(yaml.safe_dump_all(crds, sort_keys=False))
        scratch.replace(cache)  # atomic: parallel test workers may dump at once
    return _load_all(cache.read_text())
