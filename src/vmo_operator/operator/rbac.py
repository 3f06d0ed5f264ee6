"""The operator's own RBAC as code: one source for the Helm chart, the kustomize base and the tests.

Hand-kept RBAC YAML drifts: a component learns to render a new kind, the operator is then denied
in a real cluster, and nothing in a test run with cluster-admin notices. So the component part of
the ClusterRole is derived from the registry (every `owned_kinds` entry gets the verbs the engine
uses to apply, observe and prune it), and the rest is a short list of fixed grants, each with its
reason. The chart template and the kustomize file are this module's output; a unit test fails
when they are stale. Regenerate them with::

    .venv/bin/python -m vmo_operator.operator.rbac_output --write

Least privilege by name: the operator reads its kinds everywhere, but it writes an operand object
only by server-side apply or delete of that object by name, and the API server authorizes both with
the name (an apply that creates is checked as `patch` and as `create` on that name). So every write
grant, and `escalate`/`bind` on roles, carries `resourceNames`: the objects the components render
at any supported version (`inventory`). A new name is refused even with the right verb. What names
cannot express (which namespace a namespaced write goes to, which subjects a binding names, objects
whose names the profile chooses) is held by admission policies shipped next to the role (`guards`).

The chart and the kustomize base also ship `vmo-macpool-duplicates`, the ClusterRole an admin
binds to let users' `allow-duplicate` annotations count (`macpool.duplicates`). It carries no
aggregation label, so no built-in role (admin, edit, view) ever includes it.

Rules are compacted (one rule per API group, verb set and name set) so the rendered role stays
readable, and are emitted in a stable order so regeneration is a no-op unless a permission changed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from vmo_operator.components import dashboard, registry
from vmo_operator.components.base import ObservesCluster, workload_kinds
from vmo_operator.components.vmroles import DESCRIPTION_ANNOTATION
from vmo_operator.kube import kinds
from vmo_operator.macpool import admission_config, duplicates, reservation
from vmo_operator.operator import inventory, packaged

Rule = dict[str, list[str]]

# The order verbs are printed in; also the complete set a rule here may use.
VERB_ORDER = ("get", "list", "watch", "create", "update", "patch", "delete", "escalate", "bind")
READ = ("get", "list", "watch")
# What the engine does to an operand object it owns: server-side apply (authorized as `patch`, and
# as `create` too when the object is new) and delete by name. Never a POST or a PUT, so never a
# write whose name the API server cannot check.
WRITE = ("create", "patch", "delete")
OWN = (*READ, *WRITE)

PROFILE_GROUP = "vmo.dev"
KOPF_GROUP = "kopf.dev"
RBAC_GROUP = "rbac.authorization.k8s.io"


@dataclass(frozen=True)
class Grant:
    """Verbs on resources of one API group, optionally only on the objects `names`, and why."""

    group: str
    resources: tuple[str, ...]
    verbs: tuple[str, ...]
    why: str
    names: tuple[str, ...] = ()  # resourceNames; empty means every object of the resources


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
    Grant(
        "authorization.k8s.io",
        ("subjectaccessreviews",),
        ("create",),
        "MAC allocation: ask whether a requester may use the allow-duplicate annotation",
    ),
    Grant("", ("events",), ("create", "patch"), "Events on the VMOProfile and on VMs whose MACs collide"),
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
    Grant(
        KOPF_GROUP,
        ("clusterkopfpeerings",),
        ("get", "list", "watch", "patch"),
        "kopf peering, when replicas run with --peering",
    ),
    Grant(
        "admissionregistration.k8s.io",
        ("mutatingwebhookconfigurations", "validatingwebhookconfigurations"),
        READ,
        "MAC webhook configurations: read before writing, so an unchanged one is not rewritten",
    ),
    Grant(
        "admissionregistration.k8s.io",
        ("mutatingwebhookconfigurations", "validatingwebhookconfigurations"),
        WRITE,
        "MAC webhook configurations: applied with a current caBundle, removed when MAC allocation is off",
        names=(admission_config.CONFIGURATION_NAME,),
    ),
    Grant(
        "",
        ("secrets",),
        ("create", "patch", "delete"),
        "the dashboard's serving certificate, published by server-side apply on this one name (never "
        "read: the CA stays in the operator's namespace); kept to kube-system by an admission policy",
        names=(dashboard.TLS_SECRET,),
    ),
)

# Namespaced grants, bound by a Role in the operator's own namespace only.
NAMESPACE_GRANTS: tuple[Grant, ...] = (
    Grant(
        "",
        ("secrets",),
        ("get", "list", "watch", "create", "update", "patch"),
        "the MAC webhook's CA and serving certificate, one Secret shared by all replicas, and the "
        "dashboard's CA (vmo-dashboard-ca)",
    ),
    Grant(
        "coordination.k8s.io",
        ("leases",),
        ("get", "create", "update", "delete"),
        "the MAC pool's leases: the GC lease (one replica runs the audit and collects orphaned "
        "reservations) and one per replica, which keeps its spare reservations alive",
    ),
)


def component_grants() -> list[Grant]:
    """Reads of every kind a component renders, writes by name, and reads of workloads that block removal."""
    found = inventory.inventory()
    grants: list[Grant] = []
    for component in registry.components():
        for kind in component.owned_kinds:
            why = f"operand {component.name}"
            grants.append(Grant(kind.group, (kind.plural,), READ, why))
            if kind in inventory.PROFILE_NAMED and kind in found.released_kinds:
                continue  # released, never deleted (golden-image DataVolumes): create and patch below
            if kind in inventory.PROFILE_NAMED:
                # Named in the profile, so unnamed here; guards.py keeps these writes to our own objects.
                grants.append(Grant(kind.group, (kind.plural,), WRITE, why))
            else:
                grants.append(Grant(kind.group, (kind.plural,), WRITE, why, found.names_of(kind)))
        for kind in workload_kinds(component):
            grants.append(Grant(kind.group, (kind.plural,), READ, f"{component.name} uninstall guard"))
        # What a component reads before it renders (a foreign install, the StorageClasses): a
        # named query is a GET, any other a LIST.
        if isinstance(component, ObservesCluster):
            for query in component.fact_queries:
                verb = "get" if query.name else "list"
                why = f"{component.name} observes the cluster"
                grants.append(Grant(query.kind.group, (query.kind.plural,), (verb,), why))
    for kind in sorted(found.released_kinds, key=lambda k: k.plural):
        # Named in the profile (VM namespaces, golden-image DataVolumes): created and labelled,
        # released but never deleted, so the operator holds no delete on them at all.
        why = "named in the profile: released, never deleted"
        grants.append(Grant(kind.group, (kind.plural,), ("create", "patch"), why))
    # Before a CRD we installed is removed, the engine lists its instances: one that someone else
    # created (a VolumeSnapshot, a NAD) keeps the CRD. That needs list on every kind our CRDs serve.
    for crd in _installed_crds():
        grants.append(Grant(crd[0], (crd[1],), ("list",), "CRD removal guard"))
    # The MAC allocator commits and releases reservations from what persisted VMs and VMIs carry.
    for kind in (kinds.VIRTUAL_MACHINE, kinds.VIRTUAL_MACHINE_INSTANCE):
        grants.append(Grant(kind.group, (kind.plural,), READ, "MAC allocation"))
    return [*grants, *operand_rbac_grants(found)]


def operand_rbac_grants(found: inventory.Inventory) -> list[Grant]:
    """`escalate` on the operand roles and `bind` on the roles operand bindings refer to, by name.

    Creating a (Cluster)Role that grants more than its creator holds needs `escalate` on it, and
    binding one needs `bind` on it (Kubernetes' escalation rule). The operand operators need broad
    rights the operator itself never uses; copying them into this role would let the operator use
    them directly. `escalate`/`bind` only on the named operand roles is the narrower price: the
    operator can set what those roles grant and bind them (to the operand ServiceAccounts only,
    which `guards` enforces), and it can create no other role beyond its own rights.
    """
    why = "install operand roles and bindings that grant more than the operator holds"
    grants = []
    for kind in (kinds.CLUSTER_ROLE, kinds.ROLE):
        grants.append(Grant(RBAC_GROUP, (kind.plural,), ("escalate",), why, found.names_of(kind)))
        grants.append(Grant(RBAC_GROUP, (kind.plural,), ("bind",), why, found.bound_roles_of(kind)))
    return grants


def _installed_crds() -> list[tuple[str, str]]:
    """(group, plural) of every CRD any component installs, from a rendering with all enabled."""
    return sorted(
        {
            (obj["spec"]["group"], obj["spec"]["names"]["plural"])
            for obj in inventory.renderings()
            if obj["kind"] == "CustomResourceDefinition"
        }
    )


GrantKey = tuple[str, str, tuple[str, ...]]  # (group, resource, names)


def compact(grants: Iterable[Grant]) -> list[tuple[Rule, list[str]]]:
    """Merge grants into one rule per (group, verb set, names), each with the sorted reasons behind it.

    Resources merge into one rule only when they carry the same names: resourceNames apply to every
    resource of a rule, so merging a role's name with a binding's would grant one under the other.
    """
    verbs: dict[GrantKey, set[str]] = {}
    reasons: dict[GrantKey, set[str]] = {}
    for grant in grants:
        unknown = set(grant.verbs) - set(VERB_ORDER)
        if unknown:
            raise ValueError(f"unexpected verbs {sorted(unknown)} in grant for {grant.resources}")
        names = tuple(sorted(set(grant.names)))
        for resource in grant.resources:
            key = (grant.group, resource, names)
            verbs.setdefault(key, set()).update(grant.verbs)
            reasons.setdefault(key, set()).add(grant.why)
    merged: dict[tuple[str, tuple[str, ...], tuple[str, ...]], tuple[list[str], set[str]]] = {}
    for (group, resource, names), verb_set in verbs.items():
        ordered = tuple(v for v in VERB_ORDER if v in verb_set)
        resources, why = merged.setdefault((group, ordered, names), ([], set()))
        resources.append(resource)
        why.update(reasons[(group, resource, names)])
    out = []
    for (group, ordered, names), (resources, why) in sorted(merged.items(), key=_rule_order):
        rule: Rule = {"apiGroups": [group], "resources": sorted(resources)}
        if names:
            rule["resourceNames"] = list(names)
        rule["verbs"] = list(ordered)
        out.append((rule, _merge_reasons(why)))
    return out


def _rule_order(
    item: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], Any],
) -> tuple[str, bool, int, tuple[int, ...], tuple[str, ...]]:
    (group, ordered, names), _ = item
    # Core group first, then by group name; within a group, rules on every object before rules by
    # name, wider verb sets first.
    return (group, bool(names), -len(ordered), tuple(VERB_ORDER.index(v) for v in ordered), names)


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
    return [rule for rule, _ in compact([*component_grants(), *FIXED_GRANTS])]


def namespace_role_rules() -> list[Rule]:
    """The Role the operator holds in its own namespace (Secrets, Leases)."""
    return [rule for rule, _ in compact(NAMESPACE_GRANTS)]


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
            "labels": dict(packaged.KUSTOMIZE_LABELS),
            "annotations": {DESCRIPTION_ANNOTATION: DUPLICATES_DESCRIPTION},
        },
        "rules": duplicates_role_rules(),
    }
