"""Upstream's own source, at the versions this project claims, read from the Go module cache.

The Go module proxy serves each operand's whole repository (manifests, generated RBAC and CRDs,
Go API types). `go mod download -json` puts a version in the module cache once and answers from
the cache after that, so the suite reads upstream's facts at test time and nothing of upstream
is copied into this repository.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

KUBEVIRT = "kubevirt.io/kubevirt"
CDI = "kubevirt.io/containerized-data-importer"
DESCHEDULER = "sigs.k8s.io/descheduler"
SNAPSHOTTER = "github.com/kubernetes-csi/external-snapshotter/v8"
SNAPSHOTTER_CLIENT = "github.com/kubernetes-csi/external-snapshotter/client/v8"
MULTUS = "gopkg.in/k8snetworkplumbingwg/multus-cni.v4"


class UpstreamUnavailableError(RuntimeError):
    """The module proxy refused a version, or go is missing: the claim cannot be proven."""


@functools.cache
def module_dir(module: str, version: str) -> Path:
    """The module cache directory of `module@version`, downloading it on first use."""
    env = {**os.environ, "GOFLAGS": "-mod=mod"}
    with tempfile.TemporaryDirectory() as scratch:  # outside any go.mod, so no module is modified
        done = subprocess.run(
            ["go", "mod", "download", "-json", f"{module}@{version}"],
            cwd=scratch,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    try:
        info = json.loads(done.stdout)
    except ValueError:
        info = {}
    if done.returncode != 0 or "Dir" not in info:
        raise UpstreamUnavailableError(
            f"{module}@{version}: {info.get('Error') or done.stderr.strip() or 'no module directory'}"
        )
    return Path(info["Dir"])


_TEMPLATE_ACTION = re.compile(r"{{-?\s*(.*?)\s*-?}}")


def render_template(text: str, values: dict[str, str]) -> str:
    """Fill Go-template placeholders such as `{{.Namespace}}`; unknown ones become their name.

    Upstream's `.yaml.in` files are Go templates; their few actions are plain field references,
    and the suite only needs them to be valid YAML with recognisable values.
    """

    def fill(match: re.Match[str]) -> str:
        action = match.group(1)
        key = action.lstrip(".")
        return values.get(key, f"TEMPLATE-{key}")

    return _TEMPLATE_ACTION.sub(fill, text)


def yaml_documents(path: Path, values: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Every non-empty YAML document of an upstream file (templates filled when `values` is given)."""
    text = path.read_text()
    if values is not None or path.suffix == ".in":
        text = render_template(text, values or {})
    return [doc for doc in yaml.safe_load_all(text) if isinstance(doc, dict)]


def find(documents: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    for doc in documents:
        if doc.get("kind") == kind and (doc.get("metadata") or {}).get("name") == name:
            return doc
    raise LookupError(f"upstream has no {kind} {name}")
