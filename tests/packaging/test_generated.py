"""Generated packaging files are current, and the RBAC they carry says what the code needs.

No cluster here: these read the repository and the pure functions behind the generated files.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest
import yaml

from tests.support.paths import REPO
from tests.unit import test_components_render
from vmo_operator.components import registry, vmroles
from vmo_operator.components.base import workload_kinds
from vmo_operator.kube import kinds
from vmo_operator.kube.objects import released_on_prune
from vmo_operator.macpool import duplicates
from vmo_operator.operator import guards, inventory, packaged, rbac, rbac_output

Permission = tuple[str, str, str]  # (apiGroup, resource, verb)


def permissions(rules: Iterable[dict[str, list[str]]]) -> set[Permission]:
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


# ---------------------------------------------------------------------------------- staleness


def test_generated_rbac_files_are_current() -> None:
    stale = rbac_output.stale_files(REPO)
    assert not stale, f"stale: {stale}; run .venv/bin/python -m vmo_operator.operator.rbac_output --write"


def test_staleness_check_notices_an_edited_file(tmp_path: Path) -> None:
    assert rbac_output.main(["--write", "--root", str(tmp_path)]) == 0
    assert rbac_output.stale_files(tmp_path) == []
    target = tmp_path / packaged.KUSTOMIZE / "clusterrole.yaml"
    target.write_text(target.read_text().replace("- escalate\n", ""))
    assert rbac_output.stale_files(tmp_path) == [packaged.KUSTOMIZE / "clusterrole.yaml"]
    assert rbac_output.main(["--check", "--root", str(tmp_path)]) == 1


@pytest.mark.parametrize("copy_dir", ["charts/vmo-operator/crds", "deploy/base/crds"])
def test_packaged_crds_are_exact_copies_of_crds_dir(copy_dir: str) -> None:
    sources = {p.name: p.read_bytes() for p in sorted((REPO / "crds").glob("*.yaml"))}
    assert sources, "crds/ is empty; run make crds"
    copies = {
        p.name: p.read_bytes()
        for p in sorted((REPO / copy_dir).glob("*.yaml"))
        if p.name != "kustomization.yaml"
    }
    assert copies.keys() == sources.keys(), f"{copy_dir} differs from crds/; run hack/sync-crds.sh"
    for name, content in sources.items():
        assert copies[name] == content, f"{copy_dir}/{name} differs from crds/{name}; run hack/sync-crds.sh"


def test_kustomize_crd_list_names_every_crd() -> None:
    listed = yaml.safe_load((REPO / "deploy/base/crds/kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(p.name for p in (REPO / "crds").glob("*.yaml"))


# ---------------------------------------------------------------------------------- operator role


def test_cluster_role_grants_full_ownership_of_every_component_kind() -> None:
    granted = permissions(rbac.cluster_role_rules())
    released = inventory.inventory().released_kinds
    for component in registry.components():
        for kind in component.owned_kinds:
            for verb in rbac.OWN:
                if verb == "delete" and kind in released and kind in inventory.PROFILE_NAMED:
                    # Golden-image DataVolumes hold users' disks: released, and never deletable.
                    assert (kind.group, kind.plural, verb) not in granted, kind.kind
                    continue
                assert (kind.group, kind.plural, verb) in granted, (component.name, kind.kind, verb)
        for kind in workload_kinds(component):
            assert {(kind.group, kind.plural, v) for v in rbac.READ} <= granted, (component.name, kind.kind)


def test_cluster_role_carries_the_operators_fixed_needs() -> None:
    granted = permissions(rbac.cluster_role_rules())
    expected = {
        ("vmo.dev", "vmoprofiles", "patch"),
        ("vmo.dev", "vmoprofiles/status", "patch"),
        ("vmo.dev", "macreservations", "create"),
        ("vmo.dev", "macreservations", "delete"),
        ("", "events", "create"),
        ("apiextensions.k8s.io", "customresourcedefinitions", "watch"),
        ("kubevirt.io", "virtualmachines", "watch"),
        ("kubevirt.io", "virtualmachineinstances", "list"),
        ("cdi.kubevirt.io", "datavolumes", "list"),
        ("kopf.dev", "clusterkopfpeerings", "patch"),
        ("admissionregistration.k8s.io", "mutatingwebhookconfigurations", "patch"),
        ("admissionregistration.k8s.io", "validatingwebhookconfigurations", "create"),
        ("rbac.authorization.k8s.io", "clusterroles", "escalate"),
        ("rbac.authorization.k8s.io", "roles", "bind"),
        ("authorization.k8s.io", "subjectaccessreviews", "create"),
    }
    assert expected <= granted, expected - granted


def test_the_duplicates_role_grants_only_the_verb_the_webhook_asks_about() -> None:
    role = rbac.duplicates_cluster_role()
    assert role["metadata"]["name"] == duplicates.CLUSTER_ROLE
    assert permissions(role["rules"]) == {(duplicates.GROUP, duplicates.RESOURCE, duplicates.VERB)}
    assert not [label for label in role["metadata"]["labels"] if "aggregate-to" in label]
    # The operator itself never holds it: it asks the authorizer, it does not use duplicates.
    assert (duplicates.GROUP, duplicates.RESOURCE, duplicates.VERB) not in permissions(
        rbac.cluster_role_rules()
    )


def test_cluster_role_is_least_privilege() -> None:
    rules = rbac.cluster_role_rules()
    granted = permissions(rules)
    # No wildcards and nothing the operator never does to a cluster-wide resource.
    assert not any("*" in value for rule in rules for values in rule.values() for value in values)
    for forbidden in [
        ("", "secrets", "get"),
        ("", "secrets", "list"),
        ("", "pods", "create"),
        ("", "nodes", "delete"),
        ("", "persistentvolumeclaims", "delete"),
        ("kubevirt.io", "virtualmachines", "delete"),
        ("kubevirt.io", "virtualmachines", "patch"),
        ("cdi.kubevirt.io", "datavolumes", "delete"),
        ("vmo.dev", "vmoprofiles", "delete"),
        ("vmo.dev", "vmoprofiles", "create"),
        ("coordination.k8s.io", "leases", "update"),
    ]:
        assert forbidden not in granted, forbidden


WRITES = {"create", "update", "patch", "delete", "escalate", "bind", "deletecollection"}
# Unnamed writes the operator keeps, each because no name is known in advance: Events (core, and
# events.k8s.io for the series regarding the profile),
# SubjectAccessReviews (never stored), its own MACReservations (one per MAC) and VMOProfiles, kopf's
# peering, the two kinds the profile names, and the VM namespaces the profile names (create and
# patch only: they are released, never deleted).
UNNAMED_WRITES = {
    ("", "namespaces"),
    ("", "events"),
    ("events.k8s.io", "events"),
    ("authorization.k8s.io", "subjectaccessreviews"),
    ("vmo.dev", "macreservations"),
    ("vmo.dev", "vmoprofiles"),
    ("vmo.dev", "vmoprofiles/status"),
    ("kopf.dev", "clusterkopfpeerings"),
    *((kind.group, kind.plural) for kind in inventory.PROFILE_NAMED),
}


def test_every_other_write_escalate_and_bind_is_by_name() -> None:
    unnamed = {
        (group, resource)
        for rule in rbac.cluster_role_rules()
        if not rule.get("resourceNames") and WRITES & set(rule["verbs"])
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    assert unnamed == UNNAMED_WRITES


def named_writes() -> set[tuple[str, str, str, str]]:
    return {
        (group, resource, verb, name)
        for rule in rbac.cluster_role_rules()
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
        for name in rule.get("resourceNames", ["*"])
    }


@pytest.mark.parametrize("spec", [{}, test_components_render.FULL_SPEC, test_components_render.OLD_SPEC])
def test_every_object_a_profile_renders_may_be_applied_and_deleted_by_name(spec: dict[str, object]) -> None:
    granted = named_writes()
    for obj in test_components_render.render(spec):
        group, _, _ = obj["apiVersion"].rpartition("/")
        kind = next(k for k in registry.owned_kinds() if k.kind == obj["kind"] and k.group == group)
        name = "*" if kind in inventory.PROFILE_NAMED else obj["metadata"]["name"]
        if released_on_prune(obj):
            # A VM namespace: named by the profile, created and labelled, released but never deleted.
            assert {(group, kind.plural, verb, "*") for verb in ("create", "patch")} <= granted
            assert (group, kind.plural, "delete", "*") not in granted
            assert (group, kind.plural, "delete", obj["metadata"]["name"]) not in granted
            continue
        for verb in rbac.WRITE:
            assert (group, kind.plural, verb, name) in granted, (obj["kind"], obj["metadata"]["name"], verb)


def test_escalate_and_bind_name_only_operand_roles() -> None:
    found = inventory.inventory()
    granted = named_writes()
    escalate = {(r, n) for _, r, v, n in granted if v == "escalate"}
    bind = {(r, n) for _, r, v, n in granted if v == "bind"}
    assert escalate == {("clusterroles", n) for n in found.names_of(kinds.CLUSTER_ROLE)} | {
        ("roles", n) for n in found.names_of(kinds.ROLE)
    }
    assert bind <= escalate, "only roles the operator itself installs are bindable"
    assert not {n for _, n in escalate} & {"cluster-admin", "admin", "edit", "view", "*"}


def test_the_namespace_policy_covers_every_namespaced_kind_written_by_name() -> None:
    policy = guards.operand_namespaces_policy(guards.Identity("x", "ns", "sa"), inventory.inventory())[0]
    matched = {
        (group, resource)
        for rule in policy["spec"]["matchConstraints"]["resourceRules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    namespaced = {
        (kind.group, kind.plural)
        for kind in registry.owned_kinds()
        if kind.namespaced and kind not in inventory.PROFILE_NAMED
    }
    assert matched == namespaced
    assert inventory.inventory().namespaces == {"kube-system", "kubevirt", "cdi"}
    assert "'ns'" not in policy["spec"]["validations"][0]["expression"], "not its own namespace"


def test_secrets_are_granted_only_in_the_operator_namespace() -> None:
    local = permissions(rbac.namespace_role_rules())
    assert ("", "secrets", "patch") in local
    assert ("", "secrets", "delete") not in local
    # Leases only here, and only what the MAC pool's leases take (kube.lease): the GC lease and each
    # replica's own, whose spares the GC reclaims when it lapses and then deletes; no list.
    leases = {verb for group, resource, verb in local if group == "coordination.k8s.io"}
    assert leases == {"get", "create", "update", "delete"}


def test_rules_are_compacted_one_per_group_verb_set_and_names() -> None:
    rules = rbac.cluster_role_rules()
    keys = [(tuple(r["apiGroups"]), tuple(r["verbs"]), tuple(r.get("resourceNames", ()))) for r in rules]
    assert len(keys) == len(set(keys))
    assert all(len(r["apiGroups"]) == 1 for r in rules)
    assert rbac.cluster_role_rules() == rules  # deterministic


def test_operator_rbac_manifests_bind_the_same_rules() -> None:
    docs = rbac_output.operator_rbac("vmo-operator", "vmo-system", "vmo-operator")
    by_kind = {d["kind"]: d for d in docs}
    assert by_kind["ClusterRole"]["rules"] == rbac.cluster_role_rules()
    assert by_kind["Role"]["rules"] == rbac.namespace_role_rules()
    assert by_kind["ClusterRoleBinding"]["subjects"] == [
        {"kind": "ServiceAccount", "name": "vmo-operator", "namespace": "vmo-system"}
    ]
    assert by_kind["RoleBinding"]["metadata"]["namespace"] == "vmo-system"


# ---------------------------------------------------------------------------------- VM user roles


def role_permissions() -> dict[str, set[Permission]]:
    return {role.name: permissions(role.rules) for role in vmroles.vm_roles()}


def test_vm_roles_are_nested_from_viewer_to_admin() -> None:
    perms = role_permissions()
    assert perms["vmo-vm-viewer"] < perms["vmo-vm-user"] < perms["vmo-vm-power-user"] < perms["vmo-vm-admin"]


def test_viewer_only_reads() -> None:
    verbs = {verb for _, _, verb in role_permissions()["vmo-vm-viewer"]}
    assert verbs <= {"get", "list", "watch"}
    assert ("subresources.kubevirt.io", "virtualmachineinstances/vnc", "get") not in role_permissions()[
        "vmo-vm-viewer"
    ]


def test_user_operates_but_does_not_create_delete_clone_or_migrate() -> None:
    user = role_permissions()["vmo-vm-user"]
    assert ("subresources.kubevirt.io", "virtualmachines/start", "update") in user
    assert ("subresources.kubevirt.io", "virtualmachineinstances/console", "get") in user
    for denied in [
        ("kubevirt.io", "virtualmachines", "create"),
        ("kubevirt.io", "virtualmachines", "delete"),
        ("kubevirt.io", "virtualmachines", "update"),
        ("clone.kubevirt.io", "virtualmachineclones", "create"),
        ("subresources.kubevirt.io", "virtualmachines/migrate", "update"),
        ("kubevirt.io", "virtualmachineinstancemigrations", "create"),
        ("cdi.kubevirt.io", "datavolumes", "create"),
    ]:
        assert denied not in user, denied


def test_power_user_runs_vms_but_does_not_change_templates() -> None:
    power = role_permissions()["vmo-vm-power-user"]
    admin = role_permissions()["vmo-vm-admin"]
    for allowed in [
        ("kubevirt.io", "virtualmachines", "create"),
        ("subresources.kubevirt.io", "virtualmachines/migrate", "update"),
        ("snapshot.kubevirt.io", "virtualmachinesnapshots", "create"),
        ("upload.cdi.kubevirt.io", "uploadtokenrequests", "create"),
        ("instancetype.kubevirt.io", "virtualmachineinstancetypes", "get"),
    ]:
        assert allowed in power, allowed
    for template in [
        ("instancetype.kubevirt.io", "virtualmachineinstancetypes", "create"),
        ("instancetype.kubevirt.io", "virtualmachineclusterpreferences", "update"),
        ("cdi.kubevirt.io", "datasources", "delete"),
    ]:
        assert template not in power, template
        assert template in admin, template


def test_network_attachment_definitions_are_read_only_for_every_tier() -> None:
    for name, perms in role_permissions().items():
        nad = {verb for group, resource, verb in perms if resource == "network-attachment-definitions"}
        assert nad == {"get", "list", "watch"}, name


def test_aggregation_labels_fold_tiers_into_default_roles() -> None:
    labels = {role.name: vmroles.role_labels(role) for role in vmroles.vm_roles()}
    assert labels == {
        "vmo-vm-admin": {"rbac.authorization.k8s.io/aggregate-to-admin": "true"},
        "vmo-vm-power-user": {"rbac.authorization.k8s.io/aggregate-to-edit": "true"},
        "vmo-vm-user": {},
        "vmo-vm-viewer": {"rbac.authorization.k8s.io/aggregate-to-view": "true"},
    }
