"""The snapshot controller and the VolumeSnapshot CRDs as rendered, against upstream at every proven release.

Checked: the ClusterRole and the leader-election Role both ways, the Deployment's shape, and the
three snapshot.storage.k8s.io CRDs (schema with CEL rules, printer columns, subresources).

The RBAC and Deployment come from `external-snapshotter/v8` at the release. The CRDs live in the
separate `client/v8` module, which the proxy does not serve at every release (v8.1.0, v8.3.0 and
v8.5.0 are refused). For those the CRDs are read from the client version the release's own go.mod
requires and from the client at the next minor, and both must agree: the release's tag lies
between the two, so it carries the same CRDs. If they differ the check fails rather than guess.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.conformance import allowlist, crddiff, rbac, render, upstream, workload
from tests.conformance.allowlist import Finding
from vmo_operator.api import versions

COMPONENT = "snapshot"
RELEASES = sorted(versions.SNAPSHOT_CONTROLLER.proven.values(), key=versions.parse)
CRDS = ("volumesnapshotclasses", "volumesnapshotcontents", "volumesnapshots")
GROUP = "snapshot.storage.k8s.io"


@cache
def rendered(release: str) -> list[dict[str, Any]]:
    return render.rendered(
        "snapshotController", {"snapshotController": {"mode": "Enabled", "version": release}}
    )


def source(release: str) -> Path:
    return upstream.module_dir(upstream.SNAPSHOTTER, release)


def deploy(release: str, name: str) -> list[dict[str, Any]]:
    return upstream.yaml_documents(source(release) / "deploy/kubernetes/snapshot-controller" / name)


def _client_crds(version: str) -> dict[str, dict[str, Any]]:
    base = upstream.module_dir(upstream.SNAPSHOTTER_CLIENT, version) / "config/crd"
    return {plural: upstream.yaml_documents(base / f"{GROUP}_{plural}.yaml")[0] for plural in CRDS}


@cache
def upstream_crds(release: str) -> dict[str, dict[str, Any]]:
    try:
        return _client_crds(release)
    except upstream.UpstreamUnavailableError as refused:
        required = re.search(
            rf"^\s*{re.escape(upstream.SNAPSHOTTER_CLIENT)}\s+(v\S+)",
            (source(release) / "go.mod").read_text(),
            re.M,
        )
        major, minor, _ = versions.parse(release)
        if required is None:
            raise
        lower, upper = required.group(1), f"v{major}.{minor + 1}.0"
        below, above = _client_crds(lower), _client_crds(upper)
        if below != above:
            raise upstream.UpstreamUnavailableError(
                f"{refused}; and the CRDs of client {lower} and {upper} differ, so {release}'s are unknown"
            ) from refused
        return below


def check_rbac(release: str) -> list[Finding]:
    ours = rendered(release)
    return [
        Finding(name, item)
        for name, item in rbac.role_differences(deploy(release, "rbac-snapshot-controller.yaml"), ours)
    ]


def check_deployment(release: str) -> list[Finding]:
    theirs = upstream.find(
        deploy(release, "setup-snapshot-controller.yaml"), "Deployment", "snapshot-controller"
    )
    ours = render.find(rendered(release), "Deployment", "snapshot-controller")
    return [Finding("Deployment/snapshot-controller", d) for d in workload.workload_differences(ours, theirs)]


def check_crds(release: str) -> list[Finding]:
    found = []
    for plural, theirs in upstream_crds(release).items():
        name = f"{plural}.{GROUP}"
        ours = render.find(rendered(release), "CustomResourceDefinition", name)
        found += [
            Finding(f"CustomResourceDefinition/{name}", d) for d in crddiff.crd_differences(ours, theirs)
        ]
    return found


CHECKS = (check_rbac, check_deployment, check_crds)


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
def test_matches_upstream(check: Callable[[str], list[Finding]], release: str) -> None:
    left = allowlist.unexplained(COMPONENT, release, check(release))
    assert not left, f"snapshot-controller {release} differs from upstream:\n{allowlist.report(left)}"


def test_allowlist_has_no_stale_entries() -> None:
    found = {release: [f for check in CHECKS for f in check(release)] for release in RELEASES}
    assert not allowlist.stale(COMPONENT, found)
