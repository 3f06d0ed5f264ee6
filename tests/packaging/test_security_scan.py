"""checkov finds nothing in the chart and the kustomize output beyond the exceptions justified here.

checkov runs from its own venv (.venv-tools, `make scan-tools`): its pins would downgrade
packages of the project's venv. Offline, checkov reports no severities, so every failed check
counts, not only high ones.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TypedDict

import pytest

from tests.packaging import tools
from tests.support.paths import REPO

CHECKOV = Path(os.environ.get("VMO_CHECKOV", REPO / ".venv-tools" / "bin" / "checkov"))

# Each accepted finding, with the reason it is right for this operator.
JUSTIFIED = {
    # The operator registers its MAC-allocating mutating webhook and keeps the caBundle current; it
    # cannot do that without write access to them. The write is granted on its own configurations
    # only (resourceNames: vmo-macpool), which checkov does not look at.
    "CKV_K8S_155": "ClusterRole.default.vmo-operator",
    # It installs operand operators whose ClusterRoles grant more than the operator holds;
    # `escalate`/`bind` is how Kubernetes allows that without granting those rights directly. Both
    # are granted on the operand roles by name only, and an admission policy limits whom they may be
    # bound to (src/vmo_operator/operator/rbac.py and guards.py explain the trade-off).
    "CKV_K8S_158": "ClusterRole.default.vmo-operator",
    # The default image is a release tag because its digest is only known after the release build;
    # `image.digest` pins it (and the example overlay can set one with `images: digest:`).
    "CKV_K8S_43": "Deployment.vmo-system.vmo-operator",
    # The operator is a Kubernetes API client; its ServiceAccount token is its identity.
    "CKV_K8S_38": "Deployment.vmo-system.vmo-operator",
    # IfNotPresent with immutable release tags (or a digest) runs exactly the same image, without
    # making every restart depend on the registry being reachable.
    "CKV_K8S_15": "Deployment.vmo-system.vmo-operator",
    # The Role lets the operator read Secrets in its own namespace only: the MAC webhook's CA and
    # serving certificate live there, shared by every replica.
    "CKV2_K8S_5": "RoleBinding.vmo-system.vmo-operator",
}


def weakened(docs: list[tools.Manifest]) -> list[tools.Manifest]:
    """A copy of the Deployment with the protections a scan must notice taken away."""
    deployment = json.loads(json.dumps(tools.find(docs, "Deployment")))
    deployment["metadata"]["name"] = "weakened"
    spec = deployment["spec"]["template"]["spec"]
    spec["hostNetwork"] = True
    container = spec["containers"][0]
    container["securityContext"] = {"privileged": True, "allowPrivilegeEscalation": True}
    return [deployment]


class FailedCheck(TypedDict):
    file_path: str
    check_id: str
    resource: str


class CheckResults(TypedDict):
    failed_checks: list[FailedCheck]


class CheckovReport(TypedDict):
    """The part of `checkov --output json` read here: one of these per framework, or a list of them."""

    results: CheckResults


def failed_checks(report: CheckovReport | list[CheckovReport]) -> list[tuple[str, str, str]]:
    reports = report if isinstance(report, list) else [report]
    return sorted(
        (Path(f["file_path"]).name, f["check_id"], f["resource"])
        for r in reports
        for f in r["results"]["failed_checks"]
    )


def test_chart_and_kustomize_pass_checkov(tmp_path: Path) -> None:
    if not CHECKOV.exists():
        pytest.skip(f"checkov is not installed at {CHECKOV}; run `make scan-tools` (or set VMO_CHECKOV)")
    chart = tools.render_chart()
    (tmp_path / "chart.yaml").write_text(tools.dump(chart))
    (tmp_path / "kustomize.yaml").write_text(tools.dump(tools.render_kustomize()))
    (tmp_path / "weakened.yaml").write_text(tools.dump(weakened(chart)))
    proc = tools.run(
        [str(CHECKOV), "-d", str(tmp_path), "--framework", "kubernetes", "--skip-download", "-o", "json"],
        check=False,
        timeout=300,
    )
    assert proc.returncode in (0, 1), proc.stderr
    failed = failed_checks(json.loads(proc.stdout))
    # The scan must be live: the weakened copy trips the privileged and host-network checks.
    on_weakened = {check for name, check, _ in failed if name == "weakened.yaml"}
    assert {"CKV_K8S_16", "CKV_K8S_19"} <= on_weakened, on_weakened
    unexpected = [
        (name, check, resource)
        for name, check, resource in failed
        if name != "weakened.yaml" and JUSTIFIED.get(check) != resource
    ]
    assert unexpected == []
