"""The MAC pool's interface limit is KubeVirt's own, at every supported KubeVirt release.

KubeVirt's API types (module kubevirt.io/api, upstream's staging/src/kubevirt.io/api) carry the
limit as a kubebuilder marker on `Devices.Interfaces` in core/v1/schema.go; virt-operator's CRDs
are generated from it. `macpool.limits.MAX_INTERFACES` must equal it: lower would refuse VMs
KubeVirt accepts, higher would reserve MACs for VMs KubeVirt then refuses.
"""

from __future__ import annotations

import functools
import re
import subprocess
from pathlib import Path

import pytest

from tests.conformance import upstream
from vmo_operator.api import versions
from vmo_operator.macpool.limits import MAX_INTERFACES

KUBEVIRT_API = "kubevirt.io/api"
RELEASES = sorted(set(versions.KUBEVIRT.proven.values()))

# The field and the comment block right above it, inside `type Devices struct`.
_DEVICES = re.compile(r"^type Devices struct \{\n(?P<body>.*?)^\}", re.M | re.S)
_INTERFACES = re.compile(r"(?P<comments>(?:^\s*//[^\n]*\n)+)^\s*Interfaces\s+\[\]Interface\b", re.M)
_MAX_ITEMS = re.compile(r"\+kubebuilder:validation:MaxItems:=(\d+)")


@functools.cache
def _module_cache() -> Path:
    return Path(
        subprocess.run(["go", "env", "GOMODCACHE"], capture_output=True, text=True, check=True).stdout.strip()
    )


def api_module(release: str) -> Path:
    """kubevirt.io/api at `release`: already in the module cache when a kubevirt build pulled it in
    (as a dependency, without the .info file `go mod download` wants), else from the proxy."""
    cached = _module_cache() / f"{KUBEVIRT_API}@{release}"
    return cached if (cached / "core" / "v1").is_dir() else upstream.module_dir(KUBEVIRT_API, release)


def interface_limit(release: str) -> int:
    source = (api_module(release) / "core" / "v1" / "schema.go").read_text()
    devices = _DEVICES.search(source)
    assert devices, f"{KUBEVIRT_API}@{release}: no `type Devices struct` in core/v1/schema.go"
    field = _INTERFACES.search(devices.group("body"))
    assert field, f"{KUBEVIRT_API}@{release}: no documented Devices.Interfaces field"
    found = _MAX_ITEMS.findall(field.group("comments"))
    assert len(found) == 1, f"{KUBEVIRT_API}@{release}: Devices.Interfaces markers {found}"
    return int(found[0])


@pytest.mark.parametrize("release", RELEASES)
def test_the_interface_limit_is_kubevirts(release: str) -> None:
    assert interface_limit(release) == MAX_INTERFACES
