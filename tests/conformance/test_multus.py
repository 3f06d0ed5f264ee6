"""Multus as rendered, against upstream's thick-plugin manifest at every proven release.

The project renders the thick flavour (multus-daemon in a DaemonSet, the shim installed on the
host) at every version, so it is compared with `deployments/multus-daemonset-thick.yml` of the
release: the ClusterRole both ways, the DaemonSet's shape (init container, mounts, env, command,
security context), and the NetworkAttachmentDefinition CRD.

The daemon config is read by upstream with plain `json.Unmarshal` into `ControllerNetConf`
(pkg/server/types.go) and, for the generated CNI config, `MultusConf` (pkg/server/config/
generator.go); neither rejects unknown keys, so a misspelt key would be silently ignored. The
check therefore requires every key we write to be exactly a json tag of one of those structs at
that release, with a value of the field's type (`gotypes.py`), which is what a strict decode into
upstream's types would demand; building multus for this would pull in its CNI plugin stack.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.conformance import allowlist, crddiff, gotypes, rbac, render, upstream, workload
from tests.conformance.allowlist import Finding
from vmo_operator.api import versions

COMPONENT = "multus"
RELEASES = sorted(versions.MULTUS.proven.values(), key=versions.parse)
CRD = "network-attachment-definitions.k8s.cni.cncf.io"


@cache
def rendered(release: str) -> list[dict[str, Any]]:
    return render.rendered(COMPONENT, {"multus": {"enabled": True, "version": release}})


def source(release: str) -> Path:
    return upstream.module_dir(upstream.MULTUS, release)


@cache
def thick(release: str) -> list[dict[str, Any]]:
    return upstream.yaml_documents(source(release) / "deployments/multus-daemonset-thick.yml")


def check_rbac(release: str) -> list[Finding]:
    theirs = rbac.rules_of(thick(release), "ClusterRole", "multus")
    ours = rbac.rules_of(rendered(release), "ClusterRole", "multus")
    return [Finding("ClusterRole/multus", f"missing: {a}") for a in rbac.missing(ours, theirs)] + [
        Finding("ClusterRole/multus", f"broader: {a}") for a in rbac.broader(ours, theirs)
    ]


def check_daemonset(release: str) -> list[Finding]:
    theirs = upstream.find(thick(release), "DaemonSet", "kube-multus-ds")
    ours = render.find(rendered(release), "DaemonSet", "kube-multus-ds")
    return [Finding("DaemonSet/kube-multus-ds", d) for d in workload.workload_differences(ours, theirs)]


def check_crd(release: str) -> list[Finding]:
    theirs = upstream.find(thick(release), "CustomResourceDefinition", CRD)
    ours = render.find(rendered(release), "CustomResourceDefinition", CRD)
    return [Finding(f"CustomResourceDefinition/{CRD}", d) for d in crddiff.crd_differences(ours, theirs)]


def check_daemon_config(release: str) -> list[Finding]:
    fields = {
        **gotypes.struct_fields(source(release) / "pkg/server/config/generator.go", "MultusConf"),
        **gotypes.struct_fields(source(release) / "pkg/server/types.go", "ControllerNetConf"),
    }
    config = json.loads(
        render.find(rendered(release), "ConfigMap", "multus-daemon-config")["data"]["daemon-config.json"]
    )
    return [
        Finding("ConfigMap/multus-daemon-config", f"daemon-config.json {p}")
        for p in gotypes.undecodable(config, fields)
    ]


CHECKS = (check_rbac, check_daemonset, check_crd, check_daemon_config)


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
def test_matches_upstream(check: Callable[[str], list[Finding]], release: str) -> None:
    left = allowlist.unexplained(COMPONENT, release, check(release))
    assert not left, f"multus {release} differs from upstream:\n{allowlist.report(left)}"


def test_allowlist_has_no_stale_entries() -> None:
    found = {release: [f for check in CHECKS for f in check(release)] for release in RELEASES}
    assert not allowlist.stale(COMPONENT, found)
