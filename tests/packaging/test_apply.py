"""The API server accepts what the chart and the kustomize base produce (server-side dry run).

A server-side dry run goes through authentication, admission, defaulting, schema validation and
RBAC escalation checks, so it catches what `helm lint` cannot: a field the API rejects, a
VMOProfile that does not match the CRD schema, a role a cluster admin may not create.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.packaging import tools
from tests.support.paths import REPO

pytestmark = pytest.mark.integration


def dry_run(kubeconfig: Path, *args: str, stdin: str | None = None) -> tuple[int, str]:
    proc = tools.run(
        [tools.kubectl_binary(), "apply", "--dry-run=server", *args],
        stdin=stdin,
        kubeconfig=kubeconfig,
        check=False,
    )
    return proc.returncode, proc.stdout + proc.stderr


def example_spec() -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load((REPO / "examples/vmoprofile.yaml").read_text())["spec"]
    return spec


@pytest.fixture(scope="module")
def operator_namespace(api_client: Any) -> str:
    """vmo-system, which the kustomize base targets; a dry run cannot create it for its objects."""
    core = client.CoreV1Api(api_client)
    try:
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=tools.NAMESPACE)))
    except ApiException as exc:
        if exc.status != 409:
            raise
    return tools.NAMESPACE


def test_helm_template_is_accepted_by_the_api_server(
    kubeconfig: Path, namespace: str, project_crds: list[str]
) -> None:
    manifests = tools.helm_template_text(
        "--set", "profile.create=true",
        "--set-json", f"profile.spec={json.dumps(example_spec())}",
        namespace=namespace,
    )  # fmt: skip
    code, output = dry_run(kubeconfig, "-f", "-", stdin=manifests)
    assert code == 0, output
    docs = tools.parse(manifests)
    accepted = [line for line in output.splitlines() if line.endswith("(server dry run)")]
    assert len(accepted) == len(docs), output
    assert "vmoprofile.vmo.dev/vmo created (server dry run)" in output


def test_api_server_rejects_a_profile_outside_the_crd_schema(
    kubeconfig: Path, namespace: str, project_crds: list[str]
) -> None:
    # The dry run above is only meaningful if it validates: VLAN 5000 is outside 1..4094.
    bad = {"multus": {"networks": [{"name": "vlan-x", "vlan": 5000, "namespaces": ["default"]}]}}
    manifests = tools.helm_template_text(
        "--set", "profile.create=true", "--set-json", f"profile.spec={json.dumps(bad)}", namespace=namespace
    )
    code, output = dry_run(kubeconfig, "-f", "-", stdin=manifests)
    assert code != 0
    assert "vlan" in output


def test_kustomize_base_is_accepted_by_the_api_server(kubeconfig: Path, operator_namespace: str) -> None:
    code, output = dry_run(kubeconfig, "-k", str(tools.BASE))
    assert code == 0, output
    for expected in [
        "deployment.apps/vmo-operator created (server dry run)",
        "clusterrole.rbac.authorization.k8s.io/vmo-operator created (server dry run)",
        "customresourcedefinition.apiextensions.k8s.io/vmoprofiles.vmo.dev",
        "service/vmo-operator-webhook created (server dry run)",
    ]:
        assert expected in output, output


def test_example_overlay_is_accepted_by_the_api_server(kubeconfig: Path, operator_namespace: str) -> None:
    code, output = dry_run(kubeconfig, "-k", str(tools.OVERLAY))
    assert code == 0, output
    assert "deployment.apps/vmo-operator created (server dry run)" in output


def helm_install_notes(kubeconfig: Path, namespace: str) -> str:
    """The install notes Helm prints for a server-side dry run (which, unlike `helm template`, can
    look objects up in the cluster)."""
    proc = tools.run(
        [tools.helm_binary(), "install", tools.RELEASE, str(tools.CHART), "--namespace", namespace,
         "--dry-run=server", "--skip-crds", "--set", "fullnameOverride=notes-" + namespace],
        kubeconfig=kubeconfig,
    )  # fmt: skip
    return proc.stdout.partition("NOTES:")[2]


def test_install_notes_warn_when_the_namespace_does_not_enforce_restricted(
    kubeconfig: Path, api_client: Any, namespace: str
) -> None:
    warning = "does not enforce the restricted Pod Security level"
    assert warning in helm_install_notes(kubeconfig, namespace)
    label = {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}}
    client.CoreV1Api(api_client).patch_namespace(namespace, label)
    notes = helm_install_notes(kubeconfig, namespace)
    assert "is installed in namespace" in notes
    assert warning not in notes
