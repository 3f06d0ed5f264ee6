"""The descheduler as rendered, against upstream's source at every proven release.

Checked: the ClusterRole (and every other role upstream ships) both ways, the Deployment's shape,
the feature gates we pass, and the policy, which must decode with upstream's own decoder.

The policy is decoded by upstream's code, not compared with a reading of its types: the
descheduler decodes plugin args strictly (its v1alpha2 codec factory enables strict mode), so one
field that does not exist at that release makes it refuse to start, and only its decoder knows
every rule (embedded structs, inline TypeMeta, enum types). `policydecode/` imports just the
api, v1alpha2 and scheme packages and calls the same `UniversalDecoder` + `DecodeInto` as
`pkg/descheduler/policyconfig.go`; it is built once per release and cached (`gobuild.py`).
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.conformance import allowlist, gobuild, rbac, render, upstream, workload
from tests.conformance.allowlist import Finding
from vmo_operator.api import versions

COMPONENT = "descheduler"
RELEASES = sorted(versions.DESCHEDULER.proven.values())


@cache
def rendered(release: str) -> list[dict[str, Any]]:
    return render.rendered(COMPONENT, {"descheduler": {"enabled": True, "version": release}})


def source(release: str) -> Path:
    return upstream.module_dir(upstream.DESCHEDULER, release)


def check_rbac(release: str) -> list[Finding]:
    docs = upstream.yaml_documents(source(release) / "kubernetes/base/rbac.yaml")
    ours = rendered(release)
    return [Finding(name, item) for name, item in rbac.role_differences(docs, ours)]


def check_deployment(release: str) -> list[Finding]:
    theirs = upstream.find(
        upstream.yaml_documents(source(release) / "kubernetes/deployment/deployment.yaml"),
        "Deployment",
        "descheduler",
    )
    ours = render.find(rendered(release), "Deployment", "descheduler")
    return [Finding("Deployment/descheduler", d) for d in workload.workload_differences(ours, theirs)]


def check_feature_gates(release: str) -> list[Finding]:
    declared = set(
        re.findall(
            r'featuregate\.Feature\s*=\s*"(\w+)"', (source(release) / "pkg/features/features.go").read_text()
        )
    )
    ours = render.find(rendered(release), "Deployment", "descheduler")
    args = workload.flags(ours["spec"]["template"]["spec"]["containers"][0].get("args") or [])
    gates = [g.partition("=")[0] for g in args.get("--feature-gates", "").split(",") if g]
    return [
        Finding("Deployment/descheduler", f"unknown feature gate {g}") for g in gates if g not in declared
    ]


def check_policy(release: str) -> list[Finding]:
    binary = gobuild.build("policydecode", upstream.DESCHEDULER, release)
    policy = render.find(rendered(release), "ConfigMap", "descheduler-policy-configmap")["data"][
        "policy.yaml"
    ]
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as handle:
        handle.write(policy)
        handle.flush()
        done = subprocess.run(
            [str(binary), handle.name], capture_output=True, text=True, timeout=60, check=False
        )
    if done.returncode == 1:
        return [
            Finding(
                "ConfigMap/descheduler-policy-configmap", f"policy does not decode: {done.stderr.strip()}"
            )
        ]
    if done.returncode != 0:
        raise upstream.UpstreamUnavailableError(f"policydecode {release}: {done.stderr.strip()}")
    return []


CHECKS = (check_rbac, check_deployment, check_feature_gates, check_policy)


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
def test_matches_upstream(check: Callable[[str], list[Finding]], release: str) -> None:
    left = allowlist.unexplained(COMPONENT, release, check(release))
    assert not left, f"{COMPONENT} {release} differs from upstream:\n{allowlist.report(left)}"


def test_allowlist_has_no_stale_entries() -> None:
    found = {release: [f for check in CHECKS for f in check(release)] for release in RELEASES}
    assert not allowlist.stale(COMPONENT, found)
