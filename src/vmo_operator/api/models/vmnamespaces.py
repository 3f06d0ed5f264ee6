"""`spec.vmNamespaces`: the namespaces VMs run in, what the operator sets up there, and who may use them.

The Palette pack's `vmEnabledNamespaces`: each listed namespace is created when missing, labelled
as a VM namespace, allowed to clone disks from the golden-image namespace, and (only where a
binding says so) bound to the VM user roles. Dropping a namespace from the list never deletes it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from vmo_operator.api.models.base import DNS1123_LABEL, Model, Namespace, cel, require_unique, schema_extra

DEFAULT_VM_NAMESPACES: tuple[str, ...] = ("default", "virtual-machines")
DEFAULT_GOLDEN_IMAGE_NAMESPACE = "vmo-golden-images"
MAX_VM_NAMESPACES = 64
# The VM user ClusterRoles of components/vmroles.py, by the name they are created with.
VMRoleName = Literal["vmo-vm-admin", "vmo-vm-power-user", "vmo-vm-user", "vmo-vm-viewer"]
# A user or group name as the authenticator hands it over: free text, so only its size and the
# absence of control characters and spaces at its ends are checked.
SUBJECT_NAME = r"^[^\s\x00-\x1f\x7f](.*[^\s\x00-\x1f\x7f])?$"
SubjectName = Annotated[str, Field(min_length=1, max_length=128, pattern=SUBJECT_NAME)]
# Namespaces the operator installs into or Kubernetes keeps for itself: never VM namespaces.
RESERVED = ("kube-system", "kube-public", "kube-node-lease", "kubevirt", "cdi")


class VMRoleBinding(Model):
    """One VM user role, bound to users and groups in every VM namespace."""

    model_config = Model.model_config | {
        "json_schema_extra": schema_extra(
            cel(
                "(has(self.users) && size(self.users) > 0) || (has(self.groups) && size(self.groups) > 0)",
                "a role binding needs at least one user or group",
            )
        )
    }

    role: VMRoleName = Field(description="The VM user ClusterRole to bind (see spec.vmRoles).")
    users: list[SubjectName] = Field(
        default_factory=list,
        max_length=8,
        description="User names to bind, as your authenticator reports them.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    groups: list[SubjectName] = Field(
        default_factory=list,
        max_length=8,
        description="Group names to bind, e.g. an OIDC group.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )

    @model_validator(mode="after")
    def _someone(self) -> VMRoleBinding:
        if not self.users and not self.groups:
            raise ValueError("a role binding needs at least one user or group")
        require_unique(self.users, "user")
        require_unique(self.groups, "group")
        return self


_RESERVED_RULE = cel(
    f"!has(self.namespaces) || !self.namespaces.exists(n, n in {list(RESERVED)})",
    f"namespaces: {', '.join(RESERVED)} are not VM namespaces",
    ".namespaces",
)
_GOLDEN_RULE = cel(
    "!has(self.goldenImageNamespace) || ((!has(self.namespaces) || "
    f"!(self.goldenImageNamespace in self.namespaces)) && !(self.goldenImageNamespace in {list(RESERVED)}))",
    f"goldenImageNamespace must be neither a VM namespace nor one of {', '.join(RESERVED)}",
    ".goldenImageNamespace",
)


class VMNamespacesSpec(Model):
    """Namespaces VMs run in (the pack's vmEnabledNamespaces): created when missing, labelled
    vmo.dev/vm-namespace=true (use it in spec.macPool.namespaceSelector), allowed to clone disks from
    the golden-image namespace, and bound to the VM user roles listed in roleBindings. Removing a
    namespace from the list never deletes it: the operator takes its labels and bindings off and
    reports it as Released in status.vmNamespaces."""

    model_config = Model.model_config | {"json_schema_extra": schema_extra(_RESERVED_RULE, _GOLDEN_RULE)}

    namespaces: list[Namespace] = Field(
        default=list(DEFAULT_VM_NAMESPACES),
        max_length=MAX_VM_NAMESPACES,
        description=(
            f"VM namespaces, at most {MAX_VM_NAMESPACES}. An empty list manages none (the golden-image "
            f"namespace is still created while spec.goldenImages has sources). Never {', '.join(RESERVED)}."
        ),
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    golden_image_namespace: str = Field(
        default=DEFAULT_GOLDEN_IMAGE_NAMESPACE,
        min_length=1,
        max_length=63,
        pattern=DNS1123_LABEL,
        description=(
            "Namespace holding the golden images (source disks). Created when missing; the default "
            "ServiceAccount of every VM namespace may clone DataVolumes from it (CDI checks create on "
            "datavolumes/source there), nobody else gains anything in it."
        ),
    )
    role_bindings: list[VMRoleBinding] = Field(
        default_factory=list,
        max_length=4,
        description=(
            "VM user roles to bind in every VM namespace, one entry per role. Needs spec.vmRoles.enabled."
        ),
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["role"]},
    )

    @field_validator("namespaces")
    @classmethod
    def _namespaces_allowed(cls, value: list[str]) -> list[str]:
        require_unique(value, "namespace")
        reserved = [n for n in value if n in RESERVED]
        if reserved:
            raise ValueError(f"{', '.join(RESERVED)} are not VM namespaces: {', '.join(reserved)}")
        return value

    @field_validator("role_bindings")
    @classmethod
    def _one_entry_per_role(cls, value: list[VMRoleBinding]) -> list[VMRoleBinding]:
        require_unique([b.role for b in value], "role")
        return value

    @model_validator(mode="after")
    def _golden_apart(self) -> VMNamespacesSpec:
        if self.golden_image_namespace in [*self.namespaces, *RESERVED]:
            raise ValueError(
                f"goldenImageNamespace must be neither a VM namespace nor one of {', '.join(RESERVED)}"
            )
        return self
