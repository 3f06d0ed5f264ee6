"""`spec.cdi`, `spec.vmRoles`, `spec.descheduler` and `spec.snapshotController`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from vmo_operator.api import versions
from vmo_operator.api.models.base import (
    CSI_DRIVER,
    DNS1123_SUBDOMAIN,
    GO_DURATION,
    HTTP_URL,
    OVERHEAD,
    CDIVersion,
    DeschedulerVersion,
    GateName,
    LabelKey,
    Model,
    SnapshotVersion,
    cel,
    registry_field,
    require_unique,
    schema_extra,
)
from vmo_operator.api.models.cdiimport import REGISTRY_HOST, ImporterResources, ImportProxy
from vmo_operator.api.models.overrides import Override, overrides_field, within_size
from vmo_operator.api.models.placement import (
    NodePlacement,
)

# ------------------------------------------------------------------------------------------------- cdi


class FilesystemOverhead(Model):
    """Fraction of a filesystem PVC reserved for filesystem metadata when CDI sizes disk images."""

    global_: str = Field(
        default="0.06",
        alias="global",
        max_length=5,
        pattern=OVERHEAD,
        description=(
            "Overhead for every storage class without its own entry, as a decimal string from 0 to 1."
        ),
    )
    storage_class: dict[str, Annotated[str, Field(max_length=5, pattern=OVERHEAD)]] = Field(
        default_factory=dict,
        max_length=64,
        description="Overhead per storage class name, as decimal strings from 0 to 1.",
    )


class CDISpec(Model):
    """Containerized Data Importer: cdi-operator and the CDI CR, for importing and uploading VM disks."""

    enabled: bool = Field(
        default=True,
        description=(
            "Install CDI. Disabling it while DataVolumes exist is refused "
            "unless uninstallStrategy is RemoveWorkloads."
        ),
    )
    version: CDIVersion = versions.CDI.default
    registry: str | None = registry_field("quay.io/kubevirt")
    infra: NodePlacement = Field(
        default_factory=NodePlacement,
        description="Placement of cdi-operator, cdi-apiserver, cdi-deployment and cdi-uploadproxy.",
    )
    workloads: NodePlacement = Field(
        default_factory=NodePlacement, description="Placement of importer, uploader and cloner pods."
    )
    upload_proxy_url_override: str | None = Field(
        default=None,
        alias="uploadProxyURLOverride",
        max_length=2048,
        pattern=HTTP_URL,
        description=(
            "External base URL of the upload proxy (without "
            "/v1beta1/upload), when it is exposed by an ingress."
        ),
    )
    scratch_space_storage_class: str | None = Field(
        default=None,
        max_length=253,
        pattern=DNS1123_SUBDOMAIN,
        description="Storage class for scratch space during imports; unset uses the default storage class.",
    )
    filesystem_overhead: FilesystemOverhead = Field(
        default_factory=FilesystemOverhead, description="Filesystem overhead used when sizing disk images."
    )
    feature_gates: list[GateName] = Field(
        default=["HonorWaitForFirstConsumer"],
        max_length=32,
        description="CDI feature gates (CDI spec.config.featureGates).",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    insecure_registries: list[Annotated[str, Field(max_length=261, pattern=REGISTRY_HOST)]] = Field(
        default_factory=list,
        max_length=8,
        description=(
            "Registries, as host or host:port, that importers reach without TLS verification (CDI "
            "spec.config.insecureRegistries). Prefer importProxy.trustedCAConfigMap for a registry "
            "with a private CA."
        ),
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    import_proxy: ImportProxy | None = Field(
        default=None, description="The proxy, and the CA bundle, importer pods use."
    )
    importer_resources: ImporterResources | None = Field(
        default=None,
        description="Requests and limits of CDI's importer, uploader and cloner pods.",
    )
    overrides: list[Override] = overrides_field("CDI")

    @field_validator("overrides")
    @classmethod
    def _overrides_fit(cls, value: list[Override]) -> list[Override]:
        return within_size(value)

    @field_validator("feature_gates")
    @classmethod
    def _gates_unique(cls, value: list[str]) -> list[str]:
        require_unique(value, "CDI feature gate")
        return value

    @field_validator("insecure_registries")
    @classmethod
    def _registries_unique(cls, value: list[str]) -> list[str]:
        require_unique(value, "insecure registry")
        return value


# ----------------------------------------------------------------------------------------- VM roles


class VMRolesSpec(Model):
    """The four ClusterRoles for people who use VMs: vmo-vm-admin, -power-user, -user and -viewer."""

    enabled: bool = Field(
        default=True,
        description=(
            "Create the VM user ClusterRoles. Viewer aggregates into view, power user into edit and "
            "admin into admin; bind vmo-vm-user explicitly. They grant nothing until bound."
        ),
    )


# ----------------------------------------------------------------------------------------- descheduler


class DeschedulerSpec(Model):
    """The descheduler, configured so VMs leave nodes that go into maintenance by live migration."""

    enabled: bool = Field(default=True, description="Install the descheduler.")
    version: DeschedulerVersion = versions.DESCHEDULER.default
    registry: str | None = registry_field("registry.k8s.io/descheduler")
    infra: NodePlacement = Field(
        default_factory=NodePlacement, description="Placement of the descheduler pod."
    )
    interval: str = Field(
        default="5m",
        max_length=32,
        pattern=GO_DURATION,
        description="How often the descheduler runs, as a Go duration such as 5m.",
    )
    maintenance_taint_keys: list[LabelKey] = Field(
        default_factory=list,
        max_length=32,
        description=(
            "Extra taint keys that mark a node as in maintenance. node.kubernetes.io/unschedulable "
            "(a cordon) and kubevirt.io/drain are always included."
        ),
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )

    @field_validator("maintenance_taint_keys")
    @classmethod
    def _keys_unique(cls, value: list[str]) -> list[str]:
        require_unique(value, "taint key")
        return value


# -------------------------------------------------------------------------------------------- snapshot


# Velero's CSI support picks, per driver, the first VolumeSnapshotClass carrying this label (any value).
VELERO_CLASS_LABEL = "velero.io/csi-volumesnapshot-class"
MAX_PARAMETER_KEY = 253
# Bounds that keep a profile with every class full small enough for etcd; CSI drivers take a few
# short parameters (a pool, a cluster ID, a secret's name and namespace).
MAX_PARAMETERS = 16
MAX_PARAMETER_VALUE = 512
_PARAMETER_KEYS_RULE = cel(
    f"self.all(k, size(k) <= {MAX_PARAMETER_KEY})",
    f"parameter names are at most {MAX_PARAMETER_KEY} characters",
)


class VolumeSnapshotClassSpec(Model):
    """A VolumeSnapshotClass to create for a CSI driver, so VM snapshots and backups work out of the box."""

    name: str = Field(
        min_length=1, max_length=253, pattern=DNS1123_SUBDOMAIN, description="Name of the class."
    )
    driver: str = Field(
        min_length=1,
        max_length=63,
        pattern=CSI_DRIVER,
        description="CSI driver name; it must match the provisioner of the storage class VM disks use.",
    )
    deletion_policy: Literal["Delete", "Retain"] = Field(
        default="Delete", description="Whether deleting a VolumeSnapshot deletes the underlying snapshot."
    )
    parameters: dict[str, Annotated[str, Field(max_length=MAX_PARAMETER_VALUE)]] = Field(
        default_factory=dict,
        max_length=MAX_PARAMETERS,
        description=(
            f"Driver-specific parameters: at most {MAX_PARAMETERS}, names of at most {MAX_PARAMETER_KEY} "
            f"and values of at most {MAX_PARAMETER_VALUE} characters, so a full profile fits in etcd."
        ),
        json_schema_extra=schema_extra(_PARAMETER_KEYS_RULE),
    )
    is_default: bool = Field(
        default=False,
        description=(
            "Mark it as the default class for its driver (snapshot.storage.kubernetes.io/is-default-class); "
            "at most one class per driver may be the default."
        ),
    )

    @field_validator("parameters")
    @classmethod
    def _parameter_keys(cls, value: dict[str, str]) -> dict[str, str]:
        if any(len(key) > MAX_PARAMETER_KEY for key in value):
            raise ValueError(_PARAMETER_KEYS_RULE["message"])
        return value


MAX_SNAPSHOT_CLASSES = 8
_ONE_DEFAULT_PER_DRIVER = cel(
    "self.all(c, !(has(c.isDefault) && c.isDefault) || "
    "self.exists_one(d, has(d.isDefault) && d.isDefault && d.driver == c.driver))",
    "at most one class per driver may set isDefault",
)
_ONE_CLASS_FIELD = cel(
    "!has(self.volumeSnapshotClass) || !has(self.volumeSnapshotClasses) || "
    "size(self.volumeSnapshotClasses) == 0",
    "set volumeSnapshotClasses or the older volumeSnapshotClass, not both",
    ".volumeSnapshotClasses",
)


def one_default_per_driver(classes: Sequence[VolumeSnapshotClassSpec]) -> None:
    defaults = [c.driver for c in classes if c.is_default]
    twice = sorted({d for d in defaults if defaults.count(d) > 1})
    if twice:
        raise ValueError(f"{_ONE_DEFAULT_PER_DRIVER['message']} (driver {', '.join(twice)})")


class SnapshotControllerSpec(Model):
    """The CSI snapshot controller and the VolumeSnapshot CRDs, needed for VM snapshots."""

    model_config = Model.model_config | {"json_schema_extra": schema_extra(_ONE_CLASS_FIELD)}

    mode: Literal["Enabled", "Disabled", "Auto"] = Field(
        default="Auto",
        description=(
            "Enabled or Auto install the controller and CRDs unless another installation (not labelled as "
            "ours) already exists; then neither is installed (the volumeSnapshotClasses still are, where its "
            "CRDs serve them) and the status says what was found. Disabled installs nothing."
        ),
    )
    version: SnapshotVersion = versions.SNAPSHOT_CONTROLLER.default
    registry: str | None = registry_field("registry.k8s.io/sig-storage")
    infra: NodePlacement = Field(
        default_factory=NodePlacement, description="Placement of the snapshot controller."
    )
    volume_snapshot_class: VolumeSnapshotClassSpec | None = Field(
        default=None,
        description=(
            "One VolumeSnapshotClass to create: the older form of volumeSnapshotClasses, kept for "
            "existing profiles and treated as a one-entry list. Set one or the other."
        ),
    )
    volume_snapshot_classes: list[VolumeSnapshotClassSpec] = Field(
        default_factory=list,
        max_length=MAX_SNAPSHOT_CLASSES,
        description=(
            f"VolumeSnapshotClasses to create, at most {MAX_SNAPSHOT_CLASSES}, typically one per CSI driver "
            "whose storage classes hold VM disks. Per driver, one class is labelled "
            f"{VELERO_CLASS_LABEL}=true for Velero's CSI support: the one marked isDefault, else the first "
            "listed (Velero takes the first labelled class of a driver, so only one carries the label). A "
            "class someone else created under the same name is left alone and reported in status. Removing "
            "an entry deletes the class; status.storageClassesWithoutSnapshotClass lists the storage classes "
            "whose provisioner no class serves."
        ),
        json_schema_extra=schema_extra(
            _ONE_DEFAULT_PER_DRIVER,
            **{"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
        ),
    )
    min_ready_seconds: int = Field(
        default=35,
        ge=0,
        le=600,
        description=(
            "Seconds a new controller pod must stay Ready before it counts as available. Upstream's 35 is "
            "just above the 30 s the controller waits for the VolumeSnapshot CRDs before it exits, so a pod "
            "about to exit is never counted available. This operator installs the CRDs first; lower it only "
            "where a faster rollout matters more than that margin, such as a test cluster."
        ),
    )

    @field_validator("volume_snapshot_classes")
    @classmethod
    def _classes_valid(cls, value: list[VolumeSnapshotClassSpec]) -> list[VolumeSnapshotClassSpec]:
        require_unique([c.name for c in value], "VolumeSnapshotClass name")
        one_default_per_driver(value)
        return value

    @model_validator(mode="after")
    def _one_class_field(self) -> SnapshotControllerSpec:
        if self.volume_snapshot_class is not None and self.volume_snapshot_classes:
            raise ValueError(f"volumeSnapshotClasses: {_ONE_CLASS_FIELD['message']}")
        return self

    def snapshot_classes(self) -> list[VolumeSnapshotClassSpec]:
        """Every class to create: the list, or the older single field."""
        single = [self.volume_snapshot_class] if self.volume_snapshot_class is not None else []
        return [*single, *self.volume_snapshot_classes]
