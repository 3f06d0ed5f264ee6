"""The operator's own RBAC as code: one source for the Helm chart, the kustomize base and the tests.

Hand-kept RBAC YAML drifts: a component learns to render a new kind, the operator is then denied
in a real cluster, and nothing in a test run with cluster-admin notices. So the component part of
the ClusterRole is derived from the registry (every `owned_kinds` entry gets the verbs the engine
uses to apply, observe and prune it), and the rest is a short list of fixed grants, each with its
reason. The chart template and the kustomize file are this module's output; a unit test fails
when they are stale. Regenerate them with::

    .venv/bin/python -m vmo_operator.operator.rbac --write

Rules are compacted (one rule per API group and verb set) so the rendered role stays readable,
and are emitted in a stable order so regeneration is a no-op unless a permission changed.

The chart and the kustomize base also ship `vmo-macpool-duplicates`, the ClusterRole an admin
binds to let users' `allow-duplicate` annotations count (`macpool.duplicates`). It carries no
aggregation label, so no built-in role (admin, edit, view) ever includes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from vmo_operator.api import generated
from vmo_operator.components import registry
from vmo_operator.components.base import workload_kinds
from vmo_operator.components.vmroles import DESCRIPTION_ANNOTATION
from vmo_operator.kube import kinds
from vmo_operator.macpool import duplicates, reservation

Rule = dict[str, list[str]]

# The order verbs are printed in; also the complete set a rule here may use.
VERB_ORDER = ("get", "list", "watch", "create", "update", "patch", "delete", "escalate", "bind")
READ = ("get", "list", "watch")
# What the engine does to an owned kind: server-side apply (patch, or create on first apply;
# update for the odd immutable-field replace), read back, watch for drift, prune.
OWN = ("get", "list", "watch", "create", "update", "patch", "delete")

PROFILE_GROUP = "vmo.dev"
KOPF_GROUP = "kopf.dev"


@dataclass(frozen=True)
class Grant:
    """Verbs on resources of one API group, with the reason the operator needs them."""

    group: str
    resources: tuple[str, ...]
    verbs: tuple[str, ...]
    why: str


FIXED_GRANTS: tuple[Grant, ...] = (
    Grant(
        PROFILE_GROUP,
        ("vmoprofiles",),
        ("get", "list", "watch", "patch", "update"),
        "watch profiles; kopf patches finalizers and its progress annotations",
    ),
    Grant(
        PROFILE_GROUP,
        ("vmoprofiles/status",),
        ("get", "list", "watch", "patch", "update"),
        "write conditions and component status",
    ),
    Grant(
        reservation.GROUP,
        (reservation.PLURAL,),
        ("get", "list", "watch", "create", "update", "patch", "delete"),
        "MAC allocation: one MACReservation per MAC is the cross-replica lock",
    ),
    Grant("", ("events",), ("create", "patch"), "Events on the VMOProfile and on VMs whose MACs collide"),
    Grant(
        "authorization.k8s.io",
        ("subjectaccessreviews",),
        ("create",),
        "MAC allocation: ask whether a requester may use the allow-duplicate annotation",
    ),
    Grant(
        "events.k8s.io",
        ("events",),
        ("create", "patch"),
        "Events regarding the VMOProfile, where `kubectl describe` lists them; repeats patch a series",
    ),
    Grant(
        "apiextensions.k8s.io",
        ("customresourcedefinitions",),
        READ,
        "kopf scans CRDs to discover the resources it serves; the engine waits for Established",
    ),
    Grant("", ("namespaces",), READ, "cluster identity (kube-system UID) and operand namespaces"),
    Grant("apps", ("deployments",), ("list",), "detect a snapshot-controller someone else installed"),
    Grant(
        KOPF_GROUP,
        ("clusterkopfpeerings",),
        ("get", "list", "watch", "patch"),
        "kopf peering, when replicas run with --peering",
    ),
    Grant(
        "admissionregistration.k8s.io",
        ("mutatingwebhookconfigurations", "validatingwebhookconfigurations"),
        ("get", "list", "watch", "create", "update", "patch", "delete"),
        "MAC webhook configurations: kept current (caBundle), removed when MAC allocation is off",
    ),
    # Creating a (Cluster)Role that grants more than its creator holds needs `escalate`, and
    # binding one needs `bind`. The operand operators (virt-operator, cdi-operator, Multus, the
    # descheduler) need broad rights the operator itself never uses; copying them all into this
    # role would grant the operator those rights directly. `escalate`/`bind` keep its own power
    # to what is listed here, at the price that it may create roles beyond its own: the same
    # trust a cluster admin gives any operator that installs other operators.
    Grant(
        "rbac.authorization.k8s.io",
        ("clusterroles", "roles"),
        ("escalate", "bind"),
        "install operand roles and bindings that grant more than the operator holds",
    ),
)

# Namespaced grants, bound by a Role in the operator's own namespace only.
NAMESPACE_GRANTS: tuple[Grant, ...] = (
    Grant(
        "",
        ("secrets",),
        ("get", "list", "watch", "create", "update", "patch"),
        "the MAC webhook's CA and serving certificate, one Secret shared by all replicas",
    ),
)


def component_grants() -> list[Grant]:
    """Full ownership of every kind a component renders, read access to workloads that block removal."""
    grants: list[Grant] = []
    for component in registry.components():
        for kind in component.owned_kinds:
            grants.append(Grant(kind.group, (kind.plural,), OWN, f"operand {component.name}"))
        for kind in workload_kinds(component):
            grants.append(Grant(kind.group, (kind.plural,), READ, f"{component.name} uninstall guard"))
    # Before a CRD we installed is removed, the engine lists its instances: one that someone else
    # created (a VolumeSnapshot, a NAD) keeps the CRD. That needs list on every kind our CRDs serve.
    for crd in _installed_crds():
        grants.append(Grant(crd[0], (crd[1],), ("list",), "CRD removal guard"))
    # The MAC allocator commits and releases reservations from what persisted VMs and VMIs carry.
    for kind in (kinds.VIRTUAL_MACHINE, kinds.VIRTUAL_MACHINE_INSTANCE):
        grants.append(Grant(kind.group, (kind.plural,), READ, "MAC allocation"))
    return grants


def _installed_crds() -> list[tuple[str, str]]:
    """(group, plural) of every CRD any component installs, from a rendering with all enabled."""
    from vmo_operator.api.models import parse_spec
    from vmo_operator.components.base import ClusterFacts

    spec = parse_spec({"snapshotController": {"mode": "Enabled"}})
    return sorted(
        {
            (obj["spec"]["group"], obj["spec"]["names"]["plural"])
            for obj in registry.render_all(spec, ClusterFacts(), "rbac")
            if obj["kind"] == "CustomResourceDefinition"
        }
    )


def _compact(grants: Iterable[Grant]) -> list[tuple[Rule, list[str]]]:
    """Merge grants into one rule per (group, verb set), each with the sorted reasons behind it."""
    verbs: dict[tuple[str, str], set[str]] = {}
    reasons: dict[tuple[str, str], set[str]] = {}
    for grant in grants:
        unknown = set(grant.verbs) - set(VERB_ORDER)
        if unknown:
            raise ValueError(f"unexpected verbs {sorted(unknown)} in grant for {grant.resources}")
        for resource in grant.resources:
            key = (grant.group, resource)
            verbs.setdefault(key, set()).update(grant.verbs)
            reasons.setdefault(key, set()).add(grant.why)
    merged: dict[tuple[str, tuple[str, ...]], tuple[list[str], set[str]]] = {}
    for (group, resource), verb_set in verbs.items():
        ordered = tuple(v for v in VERB_ORDER if v in verb_set)
        resources, why = merged.setdefault((group, ordered), ([], set()))
        resources.append(resource)
        why.update(reasons[(group, resource)])
    out = []
    for (group, ordered), (resources, why) in sorted(merged.items(), key=_rule_order):
        rule: Rule = {"apiGroups": [group], "resources": sorted(resources), "verbs": list(ordered)}
        out.append((rule, _merge_reasons(why)))
    return out


def _rule_order(item: tuple[tuple[str, tuple[str, ...]], Any]) -> tuple[str, int, tuple[int, ...]]:
    (group, ordered), _ = item
    # Core group first, then by group name; within a group, wider verb sets first.
    return (group, -len(ordered), tuple(VERB_ORDER.index(v) for v in ordered))


def _merge_reasons(reasons: set[str]) -> list[str]:
    """Fold "operand a", "operand b" into "operands: a, b" so comments stay one line."""
    operands = sorted(r.removeprefix("operand ") for r in reasons if r.startswith("operand "))
    others = sorted(r for r in reasons if not r.startswith("operand "))
    if operands:
        label = "operand" if len(operands) == 1 else "operands"
        others.insert(0, f"{label}: {', '.join(operands)}")
    return others


def cluster_role_rules() -> list[Rule]:
    """The operator's ClusterRole rules: components' owned kinds plus the fixed grants."""
    return [rule for rule, _ in _compact([*component_grants(), *FIXED_GRANTS])]


def namespace_role_rules() -> list[Rule]:
    """The Role the operator holds in its own namespace (Secrets, Leases)."""
    return [rule for rule, _ in _compact(NAMESPACE_GRANTS)]


DUPLICATES_DESCRIPTION = (
    "Lets the macpool.vmo.dev/allow-duplicate annotation admit a MAC another VM holds. "
    "Bind it per namespace with a RoleBinding; no built-in role aggregates it."
)


def duplicates_role_rules() -> list[Rule]:
    """The one permission `vmo-macpool-duplicates` grants: the verb the MAC webhook asks about."""
    return [{"apiGroups": [duplicates.GROUP], "resources": [duplicates.RESOURCE], "verbs": [duplicates.VERB]}]


def duplicates_cluster_role() -> dict[str, Any]:
    """`vmo-macpool-duplicates` as the chart and the kustomize base ship it (tests install this)."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {
            "name": duplicates.CLUSTER_ROLE,
            "labels": dict(KUSTOMIZE_LABELS),
            "annotations": {DESCRIPTION_ANNOTATION: DUPLICATES_DESCRIPTION},
        },
        "rules": duplicates_role_rules(),
    }


# ------------------------------------------------------------------------------------------ manifests


def operator_rbac(name: str, namespace: str, service_account: str) -> list[dict[str, Any]]:
    """ClusterRole, ClusterRoleBinding, Role and RoleBinding for `service_account` in `namespace`.

    Tests bind a ServiceAccount identity with these to run the operator with chart-equal rights.
    """
    subjects = [{"kind": "ServiceAccount", "name": service_account, "namespace": namespace}]
    rbac = "rbac.authorization.k8s.io/v1"
    return [
        {
            "apiVersion": rbac,
            "kind": "ClusterRole",
            "metadata": {"name": name},
            "rules": cluster_role_rules(),
        },
        {
            "apiVersion": rbac,
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": subjects,
        },
        {
            "apiVersion": rbac,
            "kind": "Role",
            "metadata": {"name": name, "namespace": namespace},
            "rules": namespace_role_rules(),
        },
        {
            "apiVersion": rbac,
            "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": subjects,
        },
    ]


# ------------------------------------------------------------------------------------------ rendering

GENERATED_BY = "# Generated by `python -m vmo_operator.operator.rbac --write` from {source}; do not edit.\n"
CHART = Path("charts") / "vmo-operator" / "templates"
KUSTOMIZE = Path("deploy") / "base"
KUSTOMIZE_NAME = "vmo-operator"
DUPLICATES_FILE = "clusterrole-macpool-duplicates.yaml"
KUSTOMIZE_NAMESPACE = "vmo-system"
EMPTY: Mapping[str, str] = MappingProxyType({})
KUSTOMIZE_LABELS: Mapping[str, str] = MappingProxyType(
    {
        "app.kubernetes.io/name": "vmo-operator",
        "app.kubernetes.io/instance": "vmo-operator",
        "app.kubernetes.io/part-of": "vmo-operator",
    }
)


def _dump(value: Any, indent: int = 0) -> str:
    text = yaml.safe_dump(value, default_flow_style=False, sort_keys=False, width=110)
    pad = " " * indent
    return "".join(pad + line if line.strip() else line for line in text.splitlines(keepends=True))


def rules_yaml(grants: Sequence[Grant]) -> str:
    """A `rules:` block with each rule preceded by the reasons it exists."""
    lines = ["rules:\n"]
    for rule, why in _compact(grants):
        lines.extend(f"# {reason}\n" for reason in why)
        lines.append(_dump([rule]))
    return "".join(lines)


def _chart_metadata(kind: str, name: str, *, namespaced: bool, annotations: Mapping[str, str] = EMPTY) -> str:
    namespace = "  namespace: {{ .Release.Namespace }}\n" if namespaced else ""
    annotated = "  annotations:\n" + _dump(dict(annotations), indent=4) if annotations else ""
    return (
        "apiVersion: rbac.authorization.k8s.io/v1\n"
        f"kind: {kind}\n"
        "metadata:\n"
        f"  name: {name}\n"
        f"{namespace}"
        "  labels:\n"
        '    {{- include "vmo-operator.labels" . | nindent 4 }}\n'
        f"{annotated}"
    )


def _kustomize_metadata(
    kind: str, name: str, *, namespaced: bool, annotations: Mapping[str, str] = EMPTY
) -> str:
    meta: dict[str, Any] = {"name": name}
    if namespaced:
        meta["namespace"] = KUSTOMIZE_NAMESPACE
    meta["labels"] = dict(KUSTOMIZE_LABELS)
    if annotations:
        meta["annotations"] = dict(annotations)
    return _dump({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": meta})


def generated_files() -> dict[Path, str]:
    """Every RBAC file under charts/ and deploy/ this module owns, with its expected content."""
    cluster = rules_yaml([*component_grants(), *FIXED_GRANTS])
    local = rules_yaml(NAMESPACE_GRANTS)
    header = GENERATED_BY.format(source="src/vmo_operator/operator/rbac.py")
    fullname = '{{ include "vmo-operator.fullname" . }}'
    # A fixed name, not the release's: admission denials tell users to ask for exactly this role.
    described = {DESCRIPTION_ANNOTATION: DUPLICATES_DESCRIPTION}
    dup_rules = "# the verb the MAC webhook asks the authorizer about (SubjectAccessReview)\n" + _dump(
        {"rules": duplicates_role_rules()}
    )
    dup_name = duplicates.CLUSTER_ROLE
    return {
        CHART / "clusterrole.yaml": header
        + _chart_metadata("ClusterRole", fullname, namespaced=False)
        + cluster,
        CHART / "role.yaml": header + _chart_metadata("Role", fullname, namespaced=True) + local,
        KUSTOMIZE / "clusterrole.yaml": (
            header + _kustomize_metadata("ClusterRole", KUSTOMIZE_NAME, namespaced=False) + cluster
        ),
        KUSTOMIZE / "role.yaml": header
        + _kustomize_metadata("Role", KUSTOMIZE_NAME, namespaced=True)
        + local,
        CHART / DUPLICATES_FILE: header
        + _chart_metadata("ClusterRole", dup_name, namespaced=False, annotations=described)
        + dup_rules,
        KUSTOMIZE / DUPLICATES_FILE: header
        + _kustomize_metadata("ClusterRole", dup_name, namespaced=False, annotations=described)
        + dup_rules,
    }


def stale_files(root: Path) -> list[Path]:
    return generated.stale(generated_files(), root)


def main(argv: list[str] | None = None) -> int:
    return generated.main(
        module="vmo_operator.operator.rbac",
        description="Generate the operator's RBAC and the VM user roles for the Helm chart and kustomize.",
        files=generated_files,
        printed=lambda: _dump({"rules": cluster_role_rules()}),
        argv=argv,
    )


if __name__ == "__main__":
    raise SystemExit(main())
