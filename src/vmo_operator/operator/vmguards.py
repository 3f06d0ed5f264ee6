"""The admission-policy rules for what the profile places in namespaces it names (`guards` uses them).

The VM namespaces (`components.vmnamespaces`) are named by the profile, so the operator may create
and patch any namespace and write a few objects, by fixed names, into any namespace. These CEL
expressions narrow that back down in the API server: on a namespace it does not install into it
sets and removes only its own labels and annotations; the clone-source Role grants only the one
permission it is for; a VM user role is bound only under its own name, the clone source only to
`default` ServiceAccounts.
"""

from __future__ import annotations

from collections.abc import Iterable

from vmo_operator.components import vmnamespaces, vmroles
from vmo_operator.engine.diff import HASH_ANNOTATION
from vmo_operator.kube import kinds
from vmo_operator.kube.objects import ON_PRUNE_ANNOTATION, RELEASED_LABEL, managed_labels
from vmo_operator.macpool.admission_config import NAMESPACE_NAME_LABEL
from vmo_operator.operator import inventory


def cel_list(values: Iterable[str]) -> str:
    return "[" + ", ".join(f"'{value}'" for value in sorted(values)) + "]"


def placed(found: inventory.Inventory) -> str:
    """The request is for an object the profile places in namespaces it names."""
    resources = cel_list(kind.plural for kind in found.placed)
    names = cel_list({name for placed in found.placed.values() for name in placed})
    return f"(request.resource.resource in {resources} && request.name in {names})"


def clone_source_role() -> dict[str, str]:
    """The clone-source Role may be placed anywhere, so it must grant nothing but what it is for."""
    name = vmnamespaces.CLONE_SOURCE
    return {
        "expression": (
            "request.operation == 'DELETE' || request.resource.resource != 'roles' || "
            f"request.name != '{name}' || object.rules.all(r, "
            "r.apiGroups == ['cdi.kubevirt.io'] && r.resources == ['datavolumes/source'] && "
            "r.verbs == ['create'] && !has(r.resourceNames))"
        ),
        "message": f"the Role {name} grants only create on datavolumes/source",
    }


def placed_bindings() -> str:
    """A RoleBinding of one VM user ClusterRole named after it (its subjects come from the profile),
    or the golden-image namespace's clone-source binding, to `default` ServiceAccounts only."""
    roles = cel_list(role.name for role in vmroles.vm_roles())
    name = vmnamespaces.CLONE_SOURCE
    vm_role = (
        f"(object.kind == 'RoleBinding' && object.roleRef.kind == 'ClusterRole' && "
        f"object.roleRef.name in {roles} && object.metadata.name == object.roleRef.name)"
    )
    clone_source = (
        f"(object.kind == 'RoleBinding' && object.metadata.name == '{name}' && "
        f"object.roleRef.kind == 'Role' && object.roleRef.name == '{name}' && "
        f"object.subjects.all(s, s.kind == 'ServiceAccount' && s.name == '{vmnamespaces.CLONER}'))"
    )
    return f"{vm_role} || {clone_source}"


def _only_own(own: str, before: str, after: str) -> str:
    """CEL: between two maps, only the keys in `own` were added, changed or removed."""
    return (
        f"variables.{after}.all(k, k in {own} || (k in variables.{before} && "
        f"variables.{before}[k] == variables.{after}[k])) && "
        f"variables.{before}.all(k, k in {own} || k in variables.{after})"
    )


def _map_of(field: str) -> list[dict[str, str]]:
    """Variables: the object's metadata `field` map before (empty on create) and after the request."""
    return [
        {
            "name": f"{field}Before",
            "expression": (
                f"request.operation == 'UPDATE' && has(oldObject.metadata.{field}) ? "
                f"oldObject.metadata.{field} : {{}}"
            ),
        },
        {
            "name": f"{field}After",
            "expression": f"has(object.metadata.{field}) ? object.metadata.{field} : {{}}",
        },
    ]


def own_metadata_only(found: inventory.Inventory) -> tuple[dict[str, str], list[dict[str, str]]]:
    """(validation, variables): on a namespace other than the operand ones, the operator sets and
    removes only its own labels and annotations, so it cannot label one for privileged pods, give it a
    node selector annotation, or take away what someone else's policy relies on."""
    labels = cel_list(
        [
            *managed_labels("x", "x"),
            vmnamespaces.VM_NAMESPACE_LABEL,
            vmnamespaces.GOLDEN_IMAGES_LABEL,
            RELEASED_LABEL,
            NAMESPACE_NAME_LABEL,
        ]
    )
    annotations = cel_list([HASH_ANNOTATION, ON_PRUNE_ANNOTATION])
    operand = cel_list(found.names_of(kinds.NAMESPACE))
    validation = {
        "expression": (
            f"request.name in {operand} || ({_only_own(labels, 'labelsBefore', 'labelsAfter')} && "
            f"{_only_own(annotations, 'annotationsBefore', 'annotationsAfter')})"
        ),
        "messageExpression": (
            "'vmo-operator sets and removes only its own labels and annotations on namespace ' + request.name"
        ),
    }
    return validation, [*_map_of("labels"), *_map_of("annotations")]
