"""The whole VMOProfile: its spec, its status as the operator writes it, and the parse entry points."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from vmo_operator.api.models.base import (
    DNS1123_SUBDOMAIN,
    Model,
    cel,
    schema_extra,
)
from vmo_operator.api.models.dashboard import DashboardSpec
from vmo_operator.api.models.goldenimages import GoldenImagesSpec
from vmo_operator.api.models.kubevirt import (
    KubeVirtSpec,
)
from vmo_operator.api.models.macpool import (
    MacPoolSpec,
)
from vmo_operator.api.models.monitoring import MonitoringSpec
from vmo_operator.api.models.networking import MultusSpec
from vmo_operator.api.models.operands import (
    CDISpec,
    DeschedulerSpec,
    SnapshotControllerSpec,
    VMRolesSpec,
)
from vmo_operator.api.models.vmnamespaces import VMNamespacesSpec

_BINDINGS_NEED_ROLES = cel(
    "!has(self.vmNamespaces) || !has(self.vmNamespaces.roleBindings) || "
    "size(self.vmNamespaces.roleBindings) == 0 || !has(self.vmRoles) || !has(self.vmRoles.enabled) || "
    "self.vmRoles.enabled",
    "vmNamespaces.roleBindings bind the VM user roles, which spec.vmRoles.enabled: false does not create",
    ".vmNamespaces.roleBindings",
)
_GOLDEN_IMAGES_NEED_CDI = cel(
    "!has(self.goldenImages) || !has(self.goldenImages.sources) || size(self.goldenImages.sources) == 0 || "
    "!has(self.cdi) || !has(self.cdi.enabled) || self.cdi.enabled",
    "goldenImages.sources are imported by CDI, which spec.cdi.enabled: false does not install",
    ".goldenImages.sources",
)

# ------------------------------------------------------------------------------------------------- spec


class VMOProfileSpec(Model):
    """Desired state of the virtual-machine platform.

    Every section has defaults: an empty spec installs and configures everything.
    """

    model_config = Model.model_config | {
        "json_schema_extra": schema_extra(_BINDINGS_NEED_ROLES, _GOLDEN_IMAGES_NEED_CDI)
    }

    kubevirt: KubeVirtSpec = Field(default_factory=KubeVirtSpec, description="KubeVirt settings.")
    cdi: CDISpec = Field(default_factory=CDISpec, description="CDI settings.")
    multus: MultusSpec = Field(default_factory=MultusSpec, description="Multus and VLAN networks.")
    descheduler: DeschedulerSpec = Field(default_factory=DeschedulerSpec, description="Descheduler settings.")
    snapshot_controller: SnapshotControllerSpec = Field(
        default_factory=SnapshotControllerSpec, description="Snapshot controller and VolumeSnapshot CRDs."
    )
    mac_pool: MacPoolSpec = Field(default_factory=MacPoolSpec, description="MAC address allocation for VMs.")
    vm_roles: VMRolesSpec = Field(default_factory=VMRolesSpec, description="VM user ClusterRoles.")
    monitoring: MonitoringSpec = Field(
        default_factory=MonitoringSpec, description="Prometheus alerts (a PrometheusRule) for the platform."
    )
    vm_namespaces: VMNamespacesSpec = Field(
        default_factory=VMNamespacesSpec, description="Namespaces VMs run in, and what they are given."
    )
    golden_images: GoldenImagesSpec = Field(
        default_factory=GoldenImagesSpec,
        description=(
            "Golden images (boot sources) CDI imports into spec.vmNamespaces.goldenImageNamespace, "
            "for VMs to clone."
        ),
    )
    dashboard: DashboardSpec = Field(
        default_factory=DashboardSpec, description="The VM dashboard, acting as each logged-in user."
    )
    uninstall_strategy: Literal["BlockUninstallIfWorkloadsExist", "RemoveWorkloads"] = Field(
        default="BlockUninstallIfWorkloadsExist",
        description=(
            "BlockUninstallIfWorkloadsExist refuses to remove KubeVirt or CDI (or delete the profile) while "
            "VirtualMachines or DataVolumes exist; RemoveWorkloads deletes "
            "them. Also set on the KubeVirt and CDI CRs."
        ),
    )

    @model_validator(mode="after")
    def _sections_agree(self) -> VMOProfileSpec:
        if self.vm_namespaces.role_bindings and not self.vm_roles.enabled:
            raise ValueError(
                "vmNamespaces.roleBindings bind the VM user roles, which spec.vmRoles.enabled: false "
                "does not create"
            )
        if self.golden_images.sources and not self.cdi.enabled:
            raise ValueError(_GOLDEN_IMAGES_NEED_CDI["message"])
        return self


# ----------------------------------------------------------------------------------------------- status


class StatusModel(BaseModel):
    # Written by the operator and read back from the API server: tolerate what a newer operator adds.
    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="allow",
    )


class Condition(StatusModel):
    """A condition in the standard Kubernetes shape."""

    type: str = Field(max_length=316, description="Condition type, e.g. Available, Progressing, Degraded.")
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: str = Field(
        default="", max_length=1024, description="CamelCase reason naming the component involved."
    )
    message: str = Field(default="", max_length=32768, description="Human-readable details.")
    last_transition_time: str | None = Field(
        default=None,
        description="When the status last changed (RFC 3339).",
        json_schema_extra={"format": "date-time"},
    )
    observed_generation: int | None = Field(
        default=None, ge=0, description="metadata.generation of the profile this condition was computed for."
    )


class ComponentStatus(StatusModel):
    """Health of one component, judged from its live objects."""

    enabled: bool = Field(description="Whether the component is installed by this profile.")
    ready: bool = Field(description="Whether all its objects exist and its workloads are ready.")
    version: str = Field(default="", description="Version the component reports running.")
    reason: str = Field(default="", description="CamelCase reason for the current state.")
    message: str = Field(default="", description="What is missing or not ready, or why it was skipped.")
    skipped: bool = Field(
        default=False,
        description=(
            "True when the component chose not to install, e.g. a foreign snapshot controller exists."
        ),
    )


class FeatureGateStatus(StatusModel):
    """The KubeVirt feature gates in effect after version-aware resolution."""

    enabled: list[str] = Field(default_factory=list, description="Written to the KubeVirt CR's featureGates.")
    disabled: list[str] = Field(
        default_factory=list, description="Written to the KubeVirt CR's disabledFeatureGates."
    )
    implied: list[str] = Field(
        default_factory=list,
        description="Requested gates that are GA in the target version: always on, not written.",
    )
    translated: dict[str, str] = Field(
        default_factory=dict, description="Requested names that were replaced, and what replaced them."
    )
    unknown: list[str] = Field(
        default_factory=list,
        description="Names KubeVirt's gate table does not know for the target version; passed through.",
    )
    dropped: list[str] = Field(
        default_factory=list, description="Deprecated or discontinued gates with no successor; not written."
    )


class VMOProfileStatus(StatusModel):
    """Observed state, written by the operator."""

    observed_generation: int | None = Field(
        default=None, ge=0, description="Generation of the spec last reconciled."
    )
    phase: str = Field(
        default="",
        max_length=32,
        description=(
            "One word for `kubectl get`: Deploying, Deployed, Degraded, RemovalBlocked, Deleting, "
            "Inactive or InvalidSpec. The conditions say why."
        ),
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Available, Progressing, Degraded, ReconcileComplete and per-component conditions.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    components: dict[str, ComponentStatus] = Field(
        default_factory=dict, description="Per-component health, keyed by component name."
    )
    feature_gates: FeatureGateStatus | None = Field(
        default=None, description="Effective KubeVirt feature gates."
    )
    kubevirt_version: str = Field(default="", description="KubeVirt version reported by the KubeVirt CR.")
    storage_classes_without_snapshot_class: list[str] | None = Field(
        default=None,
        description=(
            "StorageClasses whose provisioner no VolumeSnapshotClass serves: snapshots and backups of VMs "
            "on them would fail."
        ),
    )
    vm_namespaces: dict[str, Any] | None = Field(
        default=None,
        description=(
            "Per namespace of spec.vmNamespaces, and per namespace released from it: Managed, Pending or "
            "Released, and why. Released namespaces are kept with their VMs and PVCs."
        ),
    )
    golden_images: dict[str, Any] | None = Field(
        default=None,
        description=(
            "Per source of spec.goldenImages: its import state (Pending, Importing, Ready, Failed, "
            "Waiting), the last successful import's time, and the objects that hold it."
        ),
    )
    drain_readiness: dict[str, Any] | None = Field(
        default=None,
        description=(
            "Per node running VMs: how many VMIs a drain would live-migrate, and which it would block on "
            "or shut down (their eviction strategy, or not live-migratable)."
        ),
    )
    mac_pool: dict[str, Any] | None = Field(
        default=None,
        description=(
            "MAC allocator status: webhook readiness, allocations, free addresses per prefix, the number of "
            "MACs carried by more than one object (collisions) and, for the first 20, the MAC and who "
            "carries it (collidingMACs)."
        ),
    )


# ---------------------------------------------------------------------------------------------- object


class ObjectMeta(BaseModel):
    """The part of metadata the operator relies on; everything else is kept as is."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str = Field(min_length=1, max_length=63, pattern=DNS1123_SUBDOMAIN)


class VMOProfile(BaseModel):
    """A whole VMOProfile object as read from a file or the API server."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        frozen=True,
    )

    api_version: Literal["vmo.dev/v1alpha1"]
    kind: Literal["VMOProfile"]
    metadata: ObjectMeta
    spec: VMOProfileSpec = Field(default_factory=VMOProfileSpec)
    status: VMOProfileStatus | None = None


# The profile name is stamped on every managed object as a label value, which allows 63 characters.
PROFILE_NAME_RULE = cel(
    "size(self.metadata.name) <= 63",
    "metadata.name: VMOProfile names are used as label values and must be at most 63 characters",
)


def parse_profile(obj: Any) -> VMOProfile:
    """Validate a VMOProfile object (e.g. loaded from YAML); raises pydantic.ValidationError."""
    return VMOProfile.model_validate(obj, by_name=False)


def parse_spec(spec: Any) -> VMOProfileSpec:
    """Validate just a spec mapping, by its JSON (camelCase) names as the API server stores them."""
    return VMOProfileSpec.model_validate(spec if spec is not None else {}, by_name=False)
