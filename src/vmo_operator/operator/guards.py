"""Admission policies shipped next to the operator's role: the limits RBAC cannot express.

RBAC's `resourceNames` confine the operator's writes to the objects the components render
(`rbac`), but a ClusterRole rule applies in every namespace, says nothing about whom a binding
names, and cannot name objects whose names the profile chooses. Four ValidatingAdmissionPolicies,
matched on the operator's own ServiceAccount, close those gaps in the API server itself:

- operand namespaces: a namespaced object it writes goes only into a namespace the components
  render into (kube-system, kubevirt, cdi), so "virt-operator" cannot be written elsewhere; only the
  few objects placed in the profile's VM namespaces (by name) may go anywhere;
- operand bindings: every (Cluster)RoleBinding it writes binds only operand ServiceAccounts, so it
  cannot bind an operand role (whose rules `escalate` lets it set) to itself or anyone else; the
  exceptions are a VM user role bound under its own name (to whom the profile names) and the
  golden-image clone source, bound only to `default` ServiceAccounts;
- namespace labels: on a namespace other than the operand ones (a VM namespace, which the profile
  names, so RBAC cannot), it sets and removes only its own labels and annotations;
- profile-named objects: it may change or delete a NetworkAttachmentDefinition, a
  VolumeSnapshotClass or a golden image's CDI object only when the object already carries its
  managed-by label, i.e. it made it (or change one carrying its released mark, to take it back).

A fifth keeps the one Secret RBAC grants by name (the dashboard's certificate) in kube-system.

A sixth policy guards the MAC pool's namespace opt-out label for everyone: setting, changing or
removing it needs `update` on VMOProfiles, the same right that can turn allocation off for any
namespace through the profile's namespaceSelector. Without it, anyone allowed to patch one
namespace (a RoleBinding inside the namespace can grant that) could opt it out.

Policies are evaluated in the API server (no webhook, nothing to reach) and fail closed. They exist
since Kubernetes 1.30, the chart's floor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from vmo_operator.components import dashboard, registry
from vmo_operator.kube import kinds
from vmo_operator.kube.kinds import Kind
from vmo_operator.kube.objects import (
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    RELEASED_LABEL,
    Manifest,
)
from vmo_operator.macpool.settings import NAMESPACE_OPT_OUT_LABEL
from vmo_operator.operator import inventory, packaged, vmguards

ADMISSION = "admissionregistration.k8s.io/v1"
PROFILE_GROUP = "vmo.dev"
PROFILE_PLURAL = "vmoprofiles"


@dataclass(frozen=True)
class Identity:
    """Who the operator runs as; `name` prefixes the policies' names."""

    name: str
    namespace: str
    service_account: str

    @property
    def username(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.service_account}"


def _cel_list(values: Iterable[str]) -> str:
    return "[" + ", ".join(f"'{value}'" for value in sorted(values)) + "]"


def _rules(resource_kinds: Iterable[Kind], operations: list[str]) -> list[dict[str, list[str]]]:
    by_group: dict[str, set[str]] = {}
    for kind in resource_kinds:
        by_group.setdefault(kind.group, set()).add(kind.plural)
    return [
        {
            "apiGroups": [group],
            "apiVersions": ["*"],
            "operations": list(operations),
            "resources": sorted(plurals),
        }
        for group, plurals in sorted(by_group.items())
    ]


def _policy(
    name: str,
    rules: list[dict[str, list[str]]],
    validations: list[dict[str, str]],
    *,
    identity: Identity | None = None,
    variables: list[dict[str, str]] | None = None,
) -> list[Manifest]:
    """A ValidatingAdmissionPolicy that denies, and the binding that puts it in force everywhere."""
    spec: dict[str, object] = {"failurePolicy": "Fail", "matchConstraints": {"resourceRules": rules}}
    if identity is not None:
        spec["matchConditions"] = [
            {"name": "the-operator", "expression": f"request.userInfo.username == '{identity.username}'"}
        ]
    if variables:
        spec["variables"] = variables
    spec["validations"] = [{**validation, "reason": "Forbidden"} for validation in validations]
    return [
        {
            "apiVersion": ADMISSION,
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": name},
            "spec": spec,
        },
        {
            "apiVersion": ADMISSION,
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": name},
            "spec": {"policyName": name, "validationActions": ["Deny"]},
        },
    ]


def namespaced_operand_kinds() -> list[Kind]:
    """Namespaced kinds the operator writes by name: they must stay in the operand namespaces."""
    return [
        kind
        for kind in dict.fromkeys(registry.owned_kinds())
        if kind.namespaced and kind not in inventory.PROFILE_NAMED
    ]


def operand_namespaces_policy(identity: Identity, found: inventory.Inventory) -> list[Manifest]:
    allowed = _cel_list(found.namespaces)
    return _policy(
        f"{identity.name}-operand-namespaces",
        _rules(namespaced_operand_kinds(), ["CREATE", "UPDATE", "DELETE"]),
        [
            {
                "expression": f"request.namespace in {allowed} || {vmguards.placed(found)}",
                "messageExpression": (
                    f"'vmo-operator writes ' + request.resource.resource + ' only in the operand "
                    f"namespaces {', '.join(sorted(found.namespaces))}, not in ' + request.namespace"
                ),
            },
            vmguards.clone_source_role(),
        ],
        identity=identity,
    )


def operand_bindings_policy(identity: Identity, found: inventory.Inventory) -> list[Manifest]:
    allowed = _cel_list(f"{ref.namespace}/{ref.name}" for ref in found.binding_subjects)
    return _policy(
        f"{identity.name}-operand-bindings",
        _rules([kinds.CLUSTER_ROLE_BINDING, kinds.ROLE_BINDING], ["CREATE", "UPDATE"]),
        [
            {
                "expression": (
                    "!has(object.subjects) || object.subjects.all(s, s.kind == 'ServiceAccount' && "
                    f"has(s.namespace) && (s.namespace + '/' + s.name) in {allowed}) || "
                    f"{vmguards.placed_bindings()}"
                ),
                "message": (
                    "vmo-operator binds roles only to the operand ServiceAccounts it installs, the VM user "
                    "roles to whom the profile names, and the clone-source Role to default ServiceAccounts"
                ),
            }
        ],
        identity=identity,
    )


def namespace_labels_policy(identity: Identity, found: inventory.Inventory) -> list[Manifest]:
    validation, variables = vmguards.own_metadata_only(found)
    name = f"{identity.name}-namespace-labels"
    rules = _rules([kinds.NAMESPACE], ["CREATE", "UPDATE"])
    return _policy(name, rules, [validation], identity=identity, variables=variables)


def profile_named_policy(identity: Identity) -> list[Manifest]:
    label = MANAGED_BY_LABEL
    return _policy(
        f"{identity.name}-profile-named",
        _rules(inventory.PROFILE_NAMED, ["UPDATE", "DELETE"]),
        [
            {
                # Or, to take it back, one it released (a golden image's DataVolume whose source is
                # named again): whoever could set that label could set the managed-by one as well.
                "expression": (
                    f"has(oldObject.metadata.labels) && (('{label}' in oldObject.metadata.labels && "
                    f"oldObject.metadata.labels['{label}'] == '{MANAGED_BY_VALUE}') || "
                    f"(request.operation == 'UPDATE' && '{RELEASED_LABEL}' in oldObject.metadata.labels))"
                ),
                "messageExpression": (
                    "'vmo-operator changes only the ' + request.resource.resource + ' it created "
                    f"(labelled {label}={MANAGED_BY_VALUE}) or released ({RELEASED_LABEL}); ' + "
                    "oldObject.metadata.name + ' is neither'"
                ),
            }
        ],
        identity=identity,
    )


def dashboard_tls_policy(identity: Identity) -> list[Manifest]:
    """RBAC grants the dashboard's certificate Secret by name, which holds in every namespace."""
    name, namespace = dashboard.TLS_SECRET, dashboard.NAMESPACE
    return _policy(
        f"{identity.name}-dashboard-tls",
        _rules([kinds.SECRET], ["CREATE", "UPDATE", "DELETE"]),
        [
            {
                "expression": f"request.name != '{name}' || request.namespace == '{namespace}'",
                "message": f"vmo-operator writes the Secret {name} only in {namespace}, beside the dashboard",
            }
        ],
        identity=identity,
    )


def opt_out_label_policy(name: str) -> list[Manifest]:
    label = NAMESPACE_OPT_OUT_LABEL

    def value_of(obj: str) -> str:
        labels = f"{obj}.metadata.labels"
        return f"has({labels}) && '{label}' in {labels} ? {labels}['{label}'] : ''"

    return _policy(
        f"{name}-macpool-opt-out",
        _rules([kinds.NAMESPACE], ["CREATE", "UPDATE"]),
        [
            {
                "expression": (
                    "variables.before == variables.after || "
                    f"authorizer.group('{PROFILE_GROUP}').resource('{PROFILE_PLURAL}').check('update').allowed()"
                ),
                "message": (
                    f"only a user who may update VMOProfiles may set, change or remove the label {label} "
                    "(it turns MAC allocation off for the namespace)"
                ),
            }
        ],
        variables=[
            {
                "name": "before",
                "expression": f"request.operation == 'UPDATE' ? ({value_of('oldObject')}) : ''",
            },
            {"name": "after", "expression": value_of("object")},
        ],
    )


def admission_policies(identity: Identity) -> list[Manifest]:
    """Every policy and binding, in a stable order."""
    found = inventory.inventory()
    return [
        *operand_namespaces_policy(identity, found),
        *operand_bindings_policy(identity, found),
        *profile_named_policy(identity),
        *namespace_labels_policy(identity, found),
        *dashboard_tls_policy(identity),
        *opt_out_label_policy(identity.name),
    ]


# ------------------------------------------------------------------------------------------ packaging

# Stand-ins the chart copy swaps for its template expressions.
# (None is a prefix of another, so replacing one never touches the others.)
_NAME, _NAMESPACE, _SERVICE_ACCOUNT = "xfullnamex", "xnamespacex", "xaccountx"


def _file(policies: list[Manifest], header: str, metadata: Callable[[str, str], str]) -> str:
    docs = [
        metadata(obj["kind"], obj["metadata"]["name"]) + packaged.dump({"spec": obj["spec"]})
        for obj in policies
    ]
    return header + "---\n".join(docs)


def generated_files() -> dict[Path, str]:
    """The policies as a chart template (names and identity from the release) and for kustomize."""
    header = packaged.GENERATED_BY.format(source="src/vmo_operator/operator/guards.py")
    chart = _file(
        admission_policies(Identity(_NAME, _NAMESPACE, _SERVICE_ACCOUNT)),
        header,
        lambda kind, name: packaged.chart_metadata(kind, name, namespaced=False, api_version=ADMISSION),
    )
    for stand_in, template in (
        (_NAME, packaged.CHART_FULLNAME),
        (_NAMESPACE, packaged.CHART_NAMESPACE),
        (_SERVICE_ACCOUNT, packaged.CHART_SERVICE_ACCOUNT),
    ):
        chart = chart.replace(stand_in, template)
    base = _file(
        admission_policies(
            Identity(packaged.KUSTOMIZE_NAME, packaged.KUSTOMIZE_NAMESPACE, packaged.KUSTOMIZE_NAME)
        ),
        header,
        lambda kind, name: packaged.kustomize_metadata(kind, name, namespaced=False, api_version=ADMISSION),
    )
    return {
        packaged.CHART / "admissionpolicies.yaml": chart,
        packaged.KUSTOMIZE / "admissionpolicies.yaml": base,
    }
