"""What the operator's RBAC (`rbac`) becomes: the chart's and the kustomize base's files, and the
objects a test binds to run the operator with exactly the chart's rights. Regenerate the files with::

    .venv/bin/python -m vmo_operator.operator.rbac_output --write
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vmo_operator.api import generated
from vmo_operator.components.vmroles import DESCRIPTION_ANNOTATION
from vmo_operator.macpool import duplicates
from vmo_operator.operator import guards, packaged, rbac

# ------------------------------------------------------------------------------------------ manifests


def operator_rbac(name: str, namespace: str, service_account: str) -> list[dict[str, Any]]:
    """ClusterRole, ClusterRoleBinding, Role and RoleBinding for `service_account` in `namespace`,
    and the admission policies that hold the operator to what the roles cannot say (`guards`).

    Tests bind a ServiceAccount identity with these to run the operator with chart-equal rights.
    """
    subjects = [{"kind": "ServiceAccount", "name": service_account, "namespace": namespace}]
    api_version = "rbac.authorization.k8s.io/v1"
    return [
        {
            "apiVersion": api_version,
            "kind": "ClusterRole",
            "metadata": {"name": name},
            "rules": rbac.cluster_role_rules(),
        },
        {
            "apiVersion": api_version,
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": subjects,
        },
        {
            "apiVersion": api_version,
            "kind": "Role",
            "metadata": {"name": name, "namespace": namespace},
            "rules": rbac.namespace_role_rules(),
        },
        {
            "apiVersion": api_version,
            "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": subjects,
        },
        *guards.admission_policies(guards.Identity(name, namespace, service_account)),
    ]


# ------------------------------------------------------------------------------------------ rendering


def rules_yaml(grants: Sequence[rbac.Grant]) -> str:
    """A `rules:` block with each rule preceded by the reasons it exists."""
    lines = ["rules:\n"]
    for rule, why in rbac.compact(grants):
        lines.extend(f"# {reason}\n" for reason in why)
        lines.append(packaged.dump([rule]))
    return "".join(lines)


DUPLICATES_FILE = "clusterrole-macpool-duplicates.yaml"


def generated_files() -> dict[Path, str]:
    """Every RBAC and policy file under charts/ and deploy/ this module owns, with its expected content."""
    # A fixed name, not the release's: admission denials tell users to ask for exactly this role.
    described = {DESCRIPTION_ANNOTATION: rbac.DUPLICATES_DESCRIPTION}
    dup_rules = (
        "# the verb the MAC webhook asks the authorizer about (SubjectAccessReview)\n"
        + packaged.dump({"rules": rbac.duplicates_role_rules()})
    )
    dup_name = duplicates.CLUSTER_ROLE
    cluster = rules_yaml([*rbac.component_grants(), *rbac.FIXED_GRANTS])
    local = rules_yaml(rbac.NAMESPACE_GRANTS)
    header = packaged.GENERATED_BY.format(source="src/vmo_operator/operator/rbac.py")
    fullname, name = packaged.CHART_FULLNAME, packaged.KUSTOMIZE_NAME
    chart, base = packaged.CHART, packaged.KUSTOMIZE
    return {
        chart / "clusterrole.yaml": header
        + packaged.chart_metadata("ClusterRole", fullname, namespaced=False)
        + cluster,
        chart / "role.yaml": header + packaged.chart_metadata("Role", fullname, namespaced=True) + local,
        base / "clusterrole.yaml": (
            header + packaged.kustomize_metadata("ClusterRole", name, namespaced=False) + cluster
        ),
        base / "role.yaml": header + packaged.kustomize_metadata("Role", name, namespaced=True) + local,
        chart / DUPLICATES_FILE: header
        + packaged.chart_metadata("ClusterRole", dup_name, namespaced=False, annotations=described)
        + dup_rules,
        base / DUPLICATES_FILE: header
        + packaged.kustomize_metadata("ClusterRole", dup_name, namespaced=False, annotations=described)
        + dup_rules,
        **guards.generated_files(),
    }


def stale_files(root: Path) -> list[Path]:
    return generated.stale(generated_files(), root)


def main(argv: list[str] | None = None) -> int:
    return generated.main(
        module="vmo_operator.operator.rbac_output",
        description="Generate the operator's RBAC and the VM user roles for the Helm chart and kustomize.",
        files=generated_files,
        printed=lambda: packaged.dump({"rules": rbac.cluster_role_rules()}),
        argv=argv,
    )


if __name__ == "__main__":
    raise SystemExit(main())
