"""spec.vmNamespaces: validation naming the field, what is rendered, and the status it reports."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from vmo_operator.api import models
from vmo_operator.components import vmnamespaces
from vmo_operator.components.base import ClusterFacts
from vmo_operator.kube.objects import ON_PRUNE_ANNOTATION, RELEASE, ObjectKey, released_on_prune
from vmo_operator.operator import guards, inventory, rbac


def render(vm: dict[str, Any], **more: Any) -> list[dict[str, Any]]:
    spec = models.parse_spec({"vmNamespaces": vm, **more})
    return vmnamespaces.VM_NAMESPACES.render(spec, ClusterFacts())


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (o["metadata"].get("namespace", ""), o["metadata"]["name"]): o for o in objects if o["kind"] == kind
    }


def test_defaults_are_the_packs_vm_enabled_namespaces() -> None:
    spec = models.parse_spec({})
    assert spec.vm_namespaces.namespaces == ["default", "virtual-machines"]
    assert spec.vm_namespaces.golden_image_namespace == "vmo-golden-images"
    assert spec.vm_namespaces.role_bindings == []


def test_namespaces_are_created_labelled_and_marked_for_release_never_deletion() -> None:
    namespaces = by_kind(render({"namespaces": ["vms", "team-a"]}), "Namespace")
    assert set(namespaces) == {("", "vms"), ("", "team-a"), ("", "vmo-golden-images")}
    for (_, name), ns in namespaces.items():
        assert released_on_prune(ns), name
        assert ns["metadata"]["annotations"][ON_PRUNE_ANNOTATION] == RELEASE
    assert namespaces[("", "vms")]["metadata"]["labels"] == {vmnamespaces.VM_NAMESPACE_LABEL: "true"}
    assert vmnamespaces.VM_NAMESPACE_LABEL not in namespaces[("", "vmo-golden-images")]["metadata"]["labels"]


def test_clone_rbac_lets_only_the_vm_namespaces_default_accounts_clone_from_the_golden_namespace() -> None:
    objects = render({"namespaces": ["vms", "team-a"], "goldenImageNamespace": "images"})
    role = by_kind(objects, "Role")[("images", "vmo-cdi-clone-source")]
    assert role["rules"] == [
        {"apiGroups": ["cdi.kubevirt.io"], "resources": ["datavolumes/source"], "verbs": ["create"]}
    ]
    binding = by_kind(objects, "RoleBinding")[("images", "vmo-cdi-clone-source")]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "default", "namespace": "team-a"},
        {"kind": "ServiceAccount", "name": "default", "namespace": "vms"},
    ]


def test_vm_roles_are_bound_only_where_the_profile_says_so() -> None:
    assert not by_kind(render({"namespaces": ["vms"]}), "RoleBinding").keys() - {
        ("vmo-golden-images", "vmo-cdi-clone-source")
    }
    bound = by_kind(
        render(
            {
                "namespaces": ["vms", "team-a"],
                "roleBindings": [{"role": "vmo-vm-user", "groups": ["ops"], "users": ["alice"]}],
            }
        ),
        "RoleBinding",
    )
    assert set(bound) == {
        ("vmo-golden-images", "vmo-cdi-clone-source"),
        ("vms", "vmo-vm-user"),
        ("team-a", "vmo-vm-user"),
    }
    assert bound[("vms", "vmo-vm-user")]["roleRef"]["name"] == "vmo-vm-user"
    assert bound[("vms", "vmo-vm-user")]["subjects"] == [
        {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"},
        {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "ops"},
    ]


def test_an_empty_list_renders_nothing_not_even_the_golden_namespace() -> None:
    assert render({"namespaces": []}) == []


@pytest.mark.parametrize(
    ("vm", "more", "field", "words"),
    [
        ({"namespaces": ["Bad_Name"]}, {}, "vmNamespaces.namespaces.0", "pattern"),
        ({"namespaces": ["a", "a"]}, {}, "vmNamespaces.namespaces", "duplicate namespace"),
        ({"namespaces": ["kube-system"]}, {}, "vmNamespaces.namespaces", "not VM namespaces"),
        ({"namespaces": [f"n{i}" for i in range(65)]}, {}, "vmNamespaces.namespaces", "at most 64"),
        ({"namespaces": ["vms"], "goldenImageNamespace": "vms"}, {}, "vmNamespaces", "goldenImageNamespace"),
        ({"goldenImageNamespace": "kubevirt"}, {}, "vmNamespaces", "goldenImageNamespace"),
        (
            {"roleBindings": [{"role": "cluster-admin", "groups": ["g"]}]},
            {},
            "vmNamespaces.roleBindings.0.role",
            "",
        ),
        (
            {"roleBindings": [{"role": "vmo-vm-user"}]},
            {},
            "vmNamespaces.roleBindings.0",
            "at least one user or group",
        ),
        (
            {"roleBindings": [{"role": "vmo-vm-user", "groups": [" padded"]}]},
            {},
            "vmNamespaces.roleBindings.0.groups.0",
            "",
        ),
        (
            {
                "roleBindings": [
                    {"role": "vmo-vm-user", "groups": ["a"]},
                    {"role": "vmo-vm-user", "users": ["b"]},
                ]
            },
            {},
            "vmNamespaces.roleBindings",
            "duplicate role",
        ),
        (
            {"roleBindings": [{"role": "vmo-vm-user", "groups": ["a"]}]},
            {"vmRoles": {"enabled": False}},
            "",
            "spec.vmRoles.enabled: false",
        ),
    ],
)
def test_bad_input_is_refused_naming_the_field(
    vm: dict[str, Any], more: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        models.parse_spec({"vmNamespaces": vm, **more})
    errors = caught.value.errors()
    located = [".".join(str(p) for p in e["loc"]) for e in errors]
    assert any(loc.startswith(field) for loc in located), located
    assert any(words in e["msg"] for e in errors), [e["msg"] for e in errors]


def test_status_says_managed_pending_and_released() -> None:
    spec = models.parse_spec({"vmNamespaces": {"namespaces": ["vms", "new"]}}).vm_namespaces
    live = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "vms", "labels": {"vmo.dev/vm-namespace": "true"}},
    }
    states = vmnamespaces.namespace_states(
        spec, {ObjectKey("v1", "Namespace", "", "vms"): live}, ["old", "vms"]
    )
    assert {ns: s["state"] for ns, s in states.items()} == {
        "vms": "Managed",
        "new": "Pending",
        "old": "Released",
    }
    assert "never deletes" in states["old"]["message"]


def test_released_namespaces_in_status_are_bounded() -> None:
    spec = models.parse_spec({"vmNamespaces": {"namespaces": []}}).vm_namespaces
    states = vmnamespaces.namespace_states(spec, {}, [f"ns-{i:03}" for i in range(100)])
    assert len(states) == vmnamespaces.MAX_RELEASED


def test_operator_rbac_may_create_and_label_namespaces_but_delete_only_operand_ones() -> None:
    rules = rbac.cluster_role_rules()
    core_ns = [r for r in rules if r["apiGroups"] == [""] and "namespaces" in r["resources"]]
    unnamed = [r for r in core_ns if "resourceNames" not in r]
    assert unnamed
    assert all("delete" not in r["verbs"] for r in unnamed)
    deleting = [r for r in core_ns if "delete" in r["verbs"]]
    assert deleting
    assert all(set(r["resourceNames"]) == {"cdi", "kubevirt"} for r in deleting)


def test_admission_policies_hold_the_operator_to_its_own_labels_and_default_accounts() -> None:
    identity = guards.Identity("vmo", "vmo-system", "vmo")
    policies = {
        p["metadata"]["name"]: p
        for p in guards.admission_policies(identity)
        if p["kind"] == "ValidatingAdmissionPolicy"
    }
    labels = policies["vmo-namespace-labels"]["spec"]["validations"][0]["expression"]
    assert "vmo.dev/vm-namespace" in labels
    assert "pod-security" not in labels
    bindings = policies["vmo-operand-bindings"]["spec"]["validations"][0]["expression"]
    assert "s.name == 'default'" in bindings
    assert inventory.inventory().placed  # the VM role bindings and the clone source are named
