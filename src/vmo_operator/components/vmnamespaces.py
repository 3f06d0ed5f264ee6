"""The namespaces VMs run in (`spec.vmNamespaces`, the pack's vmEnabledNamespaces).

Each VM namespace is created when missing and labelled `vmo.dev/vm-namespace=true`, a label the MAC
pool's namespaceSelector (and any other selector) can pick VM namespaces by. The golden-image
namespace gets a Role allowing `create` on CDI's `datavolumes/source` (what CDI authorizes a clone
from another namespace against, in the source namespace) and a RoleBinding to the `default`
ServiceAccount of every VM namespace, the account KubeVirt clones a VM's DataVolumeTemplates as. The
VM user roles are bound in each VM namespace only as `roleBindings` lists them.

Every subject comes from the spec, never from a label: whoever can label a namespace (a RoleBinding
in it can grant that) gains nothing in the golden-image namespace by copying our label.

Namespaces are rendered with the engine's release marker (`kube.objects.ON_PRUNE_ANNOTATION`): when
one leaves the list, or the profile is deleted, the engine takes off what the operator wrote and
keeps the namespace, with every VM and PVC in it. Pruning deletes only the role bindings. The
released ones stay marked (`kube.objects.RELEASED_LABEL`), which this component reads back to say
so in `status.vmNamespaces`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from vmo_operator.components import _health as health
from vmo_operator.components import _workloads as w
from vmo_operator.components.base import ClusterFacts, ComponentHealth, ConditionSpec, FactQuery, Observed
from vmo_operator.kube import kinds
from vmo_operator.kube.kinds import Kind
from vmo_operator.kube.objects import (
    ON_PRUNE_ANNOTATION,
    RELEASE,
    RELEASED_LABEL,
    Manifest,
    ObjectKey,
    labels_of,
)

if TYPE_CHECKING:
    from vmo_operator.api.models import VMNamespacesSpec, VMOProfileSpec

VM_NAMESPACE_LABEL = "vmo.dev/vm-namespace"
GOLDEN_IMAGES_LABEL = "vmo.dev/golden-images"
CLONE_SOURCE = "vmo-cdi-clone-source"  # the pack's name for the Role and RoleBinding
CLONER = "default"  # the ServiceAccount KubeVirt creates a VM's DataVolumes as
RBAC_GROUP = "rbac.authorization.k8s.io"
RELEASED_QUERY = FactQuery(kinds.NAMESPACE, label_selector=RELEASED_LABEL)
MAX_RELEASED = 32  # released namespaces named in status; the rest are counted
DETAIL = "vmNamespaces"
MANAGED, PENDING, RELEASED = "Managed", "Pending", "Released"


@dataclass(frozen=True)
class Released:
    """Namespaces the engine released (a name was dropped from the list, or a profile deleted)."""

    names: tuple[str, ...] = ()


def _namespace(name: str, label: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": w.meta(name, labels={label: "true"}, annotations={ON_PRUNE_ANNOTATION: RELEASE}),
    }


def clone_source(vm: VMNamespacesSpec) -> list[Manifest]:
    """The golden-image namespace's Role and RoleBinding: VM namespaces' default accounts may clone."""
    golden = vm.golden_image_namespace
    rules = [{"apiGroups": ["cdi.kubevirt.io"], "resources": ["datavolumes/source"], "verbs": ["create"]}]
    binding = {
        "apiVersion": w.RBAC_API,
        "kind": "RoleBinding",
        "metadata": w.meta(CLONE_SOURCE, golden),
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": CLONE_SOURCE},
        "subjects": [
            {"kind": "ServiceAccount", "name": CLONER, "namespace": ns} for ns in sorted(vm.namespaces)
        ],
    }
    return [w.role(CLONE_SOURCE, golden, rules), binding]


def role_bindings(spec: VMOProfileSpec) -> list[Manifest]:
    """One RoleBinding per VM namespace and listed role, named after the role it binds."""
    if not spec.vm_roles.enabled:
        return []
    out = []
    for ns in sorted(spec.vm_namespaces.namespaces):
        for entry in sorted(spec.vm_namespaces.role_bindings, key=lambda b: b.role):
            subjects = [{"kind": "User", "apiGroup": RBAC_GROUP, "name": u} for u in entry.users]
            subjects += [{"kind": "Group", "apiGroup": RBAC_GROUP, "name": g} for g in entry.groups]
            out.append(
                {
                    "apiVersion": w.RBAC_API,
                    "kind": "RoleBinding",
                    "metadata": w.meta(entry.role, ns),
                    "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": entry.role},
                    "subjects": subjects,
                }
            )
    return out


def namespace_states(
    spec: VMNamespacesSpec, observed: Observed, released: Sequence[str]
) -> dict[str, dict[str, str]]:
    """`status.vmNamespaces`: each listed namespace Managed or Pending, each released one Released."""
    out: dict[str, dict[str, str]] = {}
    for ns in spec.namespaces:
        live = observed.get(ObjectKey("v1", "Namespace", "", ns))
        if live is not None and labels_of(live).get(VM_NAMESPACE_LABEL) == "true":
            out[ns] = {"state": MANAGED, "message": f"labelled {VM_NAMESPACE_LABEL}=true"}
        else:
            out[ns] = {"state": PENDING, "message": "not created or labelled yet (see the conditions)"}
    gone = sorted(n for n in released if n not in out and n != spec.golden_image_namespace)
    for ns in gone[:MAX_RELEASED]:
        out[ns] = {
            "state": RELEASED,
            "message": (
                "no longer in spec.vmNamespaces: the operator's labels and role bindings were taken off; "
                "the namespace and its VMs and PVCs are kept (the operator never deletes a namespace)"
            ),
        }
    return out


@dataclass(frozen=True)
class VMNamespacesComponent:
    name: str = "vmNamespaces"
    title: str = "VMNamespaces"
    owned_kinds: tuple[Kind, ...] = (kinds.NAMESPACE, kinds.ROLE, kinds.ROLE_BINDING)
    # Released namespaces, read before each round for the status (see base.ObservesCluster).
    fact_queries: tuple[FactQuery, ...] = (RELEASED_QUERY,)

    def facts_from(self, found: Sequence[Sequence[Manifest]]) -> Released:
        return Released(tuple(sorted(str(ns["metadata"]["name"]) for ns in found[0])))

    def enabled(self, spec: VMOProfileSpec, facts: ClusterFacts) -> bool:
        # Golden images need their namespace even where no VM namespace is listed.
        return bool(spec.vm_namespaces.namespaces) or bool(spec.golden_images.sources)

    def render(self, spec: VMOProfileSpec, facts: ClusterFacts) -> list[Manifest]:
        if not self.enabled(spec, facts):
            return []
        vm = spec.vm_namespaces
        return [
            *(_namespace(ns, VM_NAMESPACE_LABEL) for ns in sorted(vm.namespaces)),
            _namespace(vm.golden_image_namespace, GOLDEN_IMAGES_LABEL),
            *(clone_source(vm) if vm.namespaces else []),
            *role_bindings(spec),
        ]

    def assess(
        self, spec: VMOProfileSpec, facts: ClusterFacts, rendered: Sequence[Manifest], observed: Observed
    ) -> ComponentHealth:
        released = facts.of(self.name, Released) or Released()
        states = namespace_states(spec.vm_namespaces, observed, released.names)
        judged = (
            health.assess_rendered(self.name, rendered, observed)
            if self.enabled(spec, facts)
            else health.disabled(self.name)
        )
        return replace(judged, details={**judged.details, DETAIL: states})

    def status_fields(self, spec: VMOProfileSpec, health: ComponentHealth) -> Mapping[str, Any]:
        states = health.details.get(DETAIL)
        return {"vmNamespaces": dict(states)} if isinstance(states, Mapping) and states else {}

    def extra_conditions(self, spec: VMOProfileSpec, health: ComponentHealth) -> Sequence[ConditionSpec]:
        return []


VM_NAMESPACES = VMNamespacesComponent()
