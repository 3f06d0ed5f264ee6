"""The VMOProfile API: spec and status models, the single source of truth.

Validation, defaults and the CRD's OpenAPI schema all come from these classes, so `vmo render`
(pydantic) and `kubectl apply` (schema + CEL in the API server) reject the same input with the same
field named. Every rule that the schema alone cannot express is written twice on purpose: once as
CEL (`x-kubernetes-validations`, carried into the CRD) and once as a pydantic validator next to it,
and the unit tests keep the pair in step.

Docstrings of the model classes and `Field(description=...)` land in the CRD, where
`kubectl explain vmoprofile.spec...` shows them; they are written for cluster admins.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from vmo_operator.api import versions

GROUP = "vmo.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "VMOProfile"
PLURAL = "vmoprofiles"
SINGULAR = "vmoprofile"
SHORT_NAMES = ("vmop",)

# The pseudo-gate that stands for "CPU hotplug": not a KubeVirt gate but a set of config fields.
CPU_HOTPLUG = "CPUHotplug"
DEFAULT_KUBEVIRT_GATES: tuple[str, ...] = (
    "LiveMigration",
    "Snapshot",
    "HotplugVolumes",
    "VMExport",
    "ExpandDisks",
    "HotplugNICs",
    "VMLiveUpdateFeatures",
    CPU_HOTPLUG,
)
MAC_PREFIXES: tuple[str, ...] = ("02", "06", "0A", "0E")

DNS1123_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS1123_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
QUALIFIED_NAME = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
GATE_NAME = r"^[A-Za-z][A-Za-z0-9]*$"
GO_DURATION = r"^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$"
QUANTITY = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$"
REGISTRY = r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]([a-z0-9._-]*[a-z0-9])?)*$"
OVERHEAD = r"^(0(\.[0-9]{1,3})?|1(\.0{1,3})?)$"
BRIDGE_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$"
CSI_DRIVER = r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
CLUSTER_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"
HTTP_URL = r"^https?://[^\s]+$"


def cel(rule: str, message: str, field_path: str | None = None) -> dict[str, str]:
    """One `x-kubernetes-validations` entry; `fieldPath` makes the API server name the field."""
    entry = {"rule": rule, "message": message}
    if field_path:
        entry["fieldPath"] = field_path
    return entry


def _extra(*rules: dict[str, str], **more: Any) -> dict[str, Any]:
    out: dict[str, Any] = dict(more)
    if rules:
        out["x-kubernetes-validations"] = list(rules)
    return out


def _unique(items: Sequence[str], what: str) -> None:
    seen: set[str] = set()
    for item in items:
        if item in seen:
            raise ValueError(f"duplicate {what} {item!r}")
        seen.add(item)


def _in_range(rng: versions.SupportedVersions) -> AfterValidator:
    def check(value: str) -> str:
        if not rng.contains(value):
            raise ValueError(rng.error())
        return value

    return AfterValidator(check)


def _version_field(rng: versions.SupportedVersions) -> Any:
    return Field(
        max_length=32,
        description=(
            f"{rng.component} release to install, as a tag like {rng.default}. Supported minors: "
            f"{rng.described}. The default is pinned per operator release; a profile keeps the version it "
            "was created with until you change it."
        ),
        json_schema_extra=_extra(cel(f"self.matches('{rng.regex}')", rng.error())),
    )


KubeVirtVersion = Annotated[str, _in_range(versions.KUBEVIRT), _version_field(versions.KUBEVIRT)]
CDIVersion = Annotated[str, _in_range(versions.CDI), _version_field(versions.CDI)]
MultusVersion = Annotated[str, _in_range(versions.MULTUS), _version_field(versions.MULTUS)]
DeschedulerVersion = Annotated[str, _in_range(versions.DESCHEDULER), _version_field(versions.DESCHEDULER)]
SnapshotVersion = Annotated[
    str, _in_range(versions.SNAPSHOT_CONTROLLER), _version_field(versions.SNAPSHOT_CONTROLLER)
]

Namespace = Annotated[str, Field(min_length=1, max_length=63, pattern=DNS1123_LABEL)]
GateName = Annotated[str, Field(min_length=1, max_length=64, pattern=GATE_NAME)]
LabelKey = Annotated[str, Field(min_length=1, max_length=317, pattern=QUALIFIED_NAME)]
LabelValue = Annotated[str, Field(max_length=63, pattern=LABEL_VALUE)]


class _Model(BaseModel):
    # strict: YAML `vlan: "10"` must fail here exactly as it fails in the API server.
    # forbid: a misspelt field would be pruned silently by the API server; say so instead.
    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="forbid",
        frozen=True,
        strict=True,
    )


def _registry_field(default_registry: str) -> Any:
    return Field(
        default=None,
        max_length=253,
        pattern=REGISTRY,
        description=(
            f"Image registry (and optional path) to pull this component's images from instead of "
            f"{default_registry}, for air-gapped clusters. Image names and tags are kept, e.g. "
            "registry.example.com:5000/mirror."
        ),
    )


# ---------------------------------------------------------------------------------------------- shared


_TOLERATION_SECONDS_RULE = cel(
    "!has(self.tolerationSeconds) || (has(self.effect) && self.effect == 'NoExecute')",
    "tolerationSeconds is only allowed with effect NoExecute",
    ".tolerationSeconds",
)
_TOLERATION_EXISTS_VALUE_RULE = cel(
    "!(has(self.operator) && self.operator == 'Exists') || !has(self.value) || self.value == ''",
    "value must be empty when operator is Exists",
    ".value",
)
_TOLERATION_EMPTY_KEY_RULE = cel(
    "(has(self.key) && self.key != '') || (has(self.operator) && self.operator == 'Exists')",
    "operator must be Exists when key is empty (a toleration of every taint)",
    ".operator",
)


class Toleration(_Model):
    """A toleration, as in a Pod spec, added to the component's pods."""

    # The rules Kubernetes applies to Pod tolerations, checked here so that a bad toleration is
    # refused at apply time instead of surfacing later as a Deployment the API server rejects.
    model_config = ConfigDict(
        json_schema_extra=_extra(
            _TOLERATION_SECONDS_RULE, _TOLERATION_EXISTS_VALUE_RULE, _TOLERATION_EMPTY_KEY_RULE
        )
    )

    key: LabelKey | None = Field(
        default=None, description="Taint key the toleration applies to; empty matches all keys."
    )
    operator: Literal["Exists", "Equal"] | None = Field(
        default=None, description="Exists or Equal (Kubernetes default when unset: Equal)."
    )
    value: LabelValue | None = Field(default=None, description="Taint value to match when operator is Equal.")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        default=None, description="Taint effect to match; empty matches all effects."
    )
    toleration_seconds: int | None = Field(
        default=None, ge=0, description="For NoExecute: how long the pod stays bound after the taint appears."
    )

    @model_validator(mode="after")
    def _pod_toleration_rules(self) -> Toleration:
        if self.toleration_seconds is not None and self.effect != "NoExecute":
            raise ValueError(_TOLERATION_SECONDS_RULE["message"])
        if self.operator == "Exists" and self.value:
            raise ValueError(_TOLERATION_EXISTS_VALUE_RULE["message"])
        if not self.key and self.operator != "Exists":
            raise ValueError(_TOLERATION_EMPTY_KEY_RULE["message"])
        return self


class NodePlacement(_Model):
    """Where a group of pods may run: node selector, tolerations and affinity, as in a Pod spec."""

    node_selector: dict[str, LabelValue] = Field(
        default_factory=dict,
        max_length=64,
        description="Node labels the pods require (Pod spec nodeSelector).",
    )
    tolerations: list[Toleration] = Field(
        default_factory=list, max_length=32, description="Tolerations added to the pods."
    )
    affinity: dict[str, Any] | None = Field(
        default=None,
        description=(
            "A Kubernetes Affinity object (nodeAffinity, podAffinity, podAntiAffinity), passed through as is."
        ),
    )

    @property
    def empty(self) -> bool:
        return not (self.node_selector or self.tolerations or self.affinity)


# --------------------------------------------------------------------------------------------- kubevirt


class FeatureGates(_Model):
    """Changes to the default KubeVirt feature-gate set.

    The default set is LiveMigration, Snapshot, HotplugVolumes, VMExport, ExpandDisks, HotplugNICs,
    VMLiveUpdateFeatures and CPUHotplug (a pseudo-gate for CPU hotplug, which KubeVirt configures with
    fields rather than a gate). Gates are resolved for the target KubeVirt version: a gate that is GA there
    is not written (status.featureGates.implied lists it), a deprecated gate is replaced by its successor
    (HotplugVolumes becomes DeclarativeHotplugVolumes from v1.9), a removed gate that KubeVirt would
    otherwise turn on goes to disabledFeatureGates (v1.8 and later), and an unknown name is passed through
    and reported in status.featureGates.unknown and a warning condition.
    """

    model_config = ConfigDict(
        json_schema_extra=_extra(
            cel(
                "!has(self.add) || !has(self.remove) || !self.add.exists(g, g in self.remove)",
                "a feature gate cannot be both added and removed",
            )
        )
    )

    add: list[GateName] = Field(
        default_factory=list,
        max_length=64,
        description="Gates to enable on top of the default set.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    remove: list[GateName] = Field(
        default_factory=list,
        max_length=64,
        description=(
            "Gates to drop from the default set (and, where KubeVirt would turn them on anyway, to disable)."
        ),
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )

    @model_validator(mode="after")
    def _add_remove_disjoint(self) -> FeatureGates:
        _unique(self.add, "gate in featureGates.add")
        _unique(self.remove, "gate in featureGates.remove")
        both = sorted(set(self.add) & set(self.remove))
        if both:
            raise ValueError(f"a feature gate cannot be both added and removed: {', '.join(both)}")
        return self


class WorkloadUpdateStrategy(_Model):
    """How KubeVirt moves running VMs onto new virt-launcher pods after an upgrade."""

    workload_update_methods: list[Literal["LiveMigrate", "Evict"]] = Field(
        default=["LiveMigrate"],
        max_length=2,
        description=(
            "Methods KubeVirt may use, in order of preference. Empty means running VMs are never updated."
        ),
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    batch_eviction_size: int = Field(
        default=10, ge=1, le=1000, description="How many VMs are evicted per batch when Evict is used."
    )
    batch_eviction_interval: str = Field(
        default="1m",
        max_length=32,
        pattern=GO_DURATION,
        description="Pause between eviction batches, as a Go duration such as 1m or 30s.",
    )

    @field_validator("workload_update_methods")
    @classmethod
    def _methods_unique(cls, value: list[str]) -> list[str]:
        _unique(value, "workload update method")
        return value


class Migrations(_Model):
    """Live-migration limits and tuning (KubeVirt spec.configuration.migrations)."""

    parallel_migrations_per_cluster: int = Field(
        default=5, ge=1, le=1000, description="Maximum concurrent live migrations in the cluster."
    )
    parallel_outbound_migrations_per_node: int = Field(
        default=2, ge=1, le=100, description="Maximum concurrent outbound live migrations from one node."
    )
    completion_timeout_per_gib: int = Field(
        default=150,
        ge=1,
        alias="completionTimeoutPerGiB",
        description="Seconds per GiB of guest memory before a migration that has not completed is cancelled.",
    )
    progress_timeout: int = Field(
        default=150, ge=1, description="Seconds without progress after which a migration is cancelled."
    )
    bandwidth_per_migration: str | None = Field(
        default=None,
        max_length=32,
        pattern=QUANTITY,
        description="Bandwidth cap per migration as a quantity per second, e.g. 64Mi. Unset means unlimited.",
    )
    allow_auto_converge: bool = Field(
        default=False, description="Let QEMU throttle guest CPUs so a busy VM's migration can converge."
    )
    allow_post_copy: bool = Field(
        default=False,
        description=(
            "Allow post-copy migration; faster to converge, but a network failure mid-way loses the VM."
        ),
    )


class LiveUpdate(_Model):
    """Limits for hot-plugging CPU and memory into running VMs (KubeVirt liveUpdateConfiguration)."""

    max_hotplug_ratio: int = Field(
        default=4,
        ge=1,
        le=64,
        description="Maximum sockets or memory a VM may grow to, as a multiple of what it started with.",
    )
    max_cpu_sockets: int | None = Field(
        default=None,
        ge=1,
        le=4096,
        description="Cluster-wide maximum CPU sockets per VM. Unset: derived from the ratio.",
    )


# The API server also checks these rules against the schema default `{}`, before nested defaults
# exist, so an absent field must pass (it defaults to a value that passes).
_KEEPS_NO_CPU_HOTPLUG = (
    "(has(self.featureGates) && has(self.featureGates.remove) "
    "&& self.featureGates.remove.exists(g, g == 'CPUHotplug'))"
)
_CPU_HOTPLUG_RULE = cel(
    "!has(self.vmRolloutStrategy) || self.vmRolloutStrategy == 'LiveUpdate' || " + _KEEPS_NO_CPU_HOTPLUG,
    "CPU hotplug (the CPUHotplug pseudo-gate, on by default) needs vmRolloutStrategy LiveUpdate; "
    "set it, or add CPUHotplug to featureGates.remove",
    ".vmRolloutStrategy",
)
_CPU_HOTPLUG_MIGRATE_RULE = cel(
    "!has(self.workloadUpdateStrategy) || !has(self.workloadUpdateStrategy.workloadUpdateMethods) || "
    "self.workloadUpdateStrategy.workloadUpdateMethods.exists(m, m == 'LiveMigrate') || "
    + _KEEPS_NO_CPU_HOTPLUG,
    "CPU hotplug (the CPUHotplug pseudo-gate, on by default) needs LiveMigrate in "
    "workloadUpdateStrategy.workloadUpdateMethods; add it, or add CPUHotplug to featureGates.remove",
    ".workloadUpdateStrategy.workloadUpdateMethods",
)


class KubeVirtSpec(_Model):
    """KubeVirt: virt-operator and the KubeVirt CR it reconciles."""

    model_config = ConfigDict(json_schema_extra=_extra(_CPU_HOTPLUG_RULE, _CPU_HOTPLUG_MIGRATE_RULE))

    enabled: bool = Field(
        default=True,
        description=(
            "Install KubeVirt. Disabling it while VMs exist is refused "
            "unless uninstallStrategy is RemoveWorkloads."
        ),
    )
    version: KubeVirtVersion = versions.KUBEVIRT.default
    registry: str | None = _registry_field("quay.io/kubevirt")
    infra: NodePlacement = Field(
        default_factory=NodePlacement,
        description="Placement of virt-operator, virt-api and virt-controller.",
    )
    workloads: NodePlacement = Field(
        default_factory=NodePlacement,
        description="Placement of virt-handler, i.e. the nodes that may run VMs.",
    )
    feature_gates: FeatureGates = Field(
        default_factory=FeatureGates, description="Changes to the default feature-gate set."
    )
    eviction_strategy: Literal["None", "LiveMigrate", "LiveMigrateIfPossible", "External"] = Field(
        default="LiveMigrate",
        description="What happens to a VM when its node is drained; LiveMigrate moves it to another node.",
    )
    vm_rollout_strategy: Literal["Stage", "LiveUpdate"] = Field(
        default="LiveUpdate",
        description=(
            "How VM spec changes reach running VMs; LiveUpdate (needed for CPU hotplug) applies them live."
        ),
    )
    workload_update_strategy: WorkloadUpdateStrategy = Field(
        default_factory=WorkloadUpdateStrategy,
        description="How running VMs are moved to new virt-launcher pods after a KubeVirt upgrade.",
    )
    migrations: Migrations = Field(
        default_factory=Migrations, description="Live-migration limits and tuning."
    )
    live_update: LiveUpdate = Field(
        default_factory=LiveUpdate, description="Limits for CPU and memory hotplug."
    )

    @model_validator(mode="after")
    def _cpu_hotplug_prerequisites(self) -> KubeVirtSpec:
        if CPU_HOTPLUG in self.feature_gates.remove:
            return self
        if self.vm_rollout_strategy != "LiveUpdate":
            raise ValueError(_CPU_HOTPLUG_RULE["message"])
        if "LiveMigrate" not in self.workload_update_strategy.workload_update_methods:
            raise ValueError(_CPU_HOTPLUG_MIGRATE_RULE["message"])
        return self


# ------------------------------------------------------------------------------------------------- cdi


class FilesystemOverhead(_Model):
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


class CDISpec(_Model):
    """Containerized Data Importer: cdi-operator and the CDI CR, for importing and uploading VM disks."""

    enabled: bool = Field(
        default=True,
        description=(
            "Install CDI. Disabling it while DataVolumes exist is refused "
            "unless uninstallStrategy is RemoveWorkloads."
        ),
    )
    version: CDIVersion = versions.CDI.default
    registry: str | None = _registry_field("quay.io/kubevirt")
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

    @field_validator("feature_gates")
    @classmethod
    def _gates_unique(cls, value: list[str]) -> list[str]:
        _unique(value, "CDI feature gate")
        return value


# ---------------------------------------------------------------------------------------------- multus


class Network(_Model):
    """A VLAN on a Linux bridge, offered to VMs as a bridge-CNI NetworkAttachmentDefinition."""

    name: str = Field(
        min_length=1,
        max_length=63,
        pattern=DNS1123_LABEL,
        description="Name of the NetworkAttachmentDefinition; VMs refer to it as multus.networkName.",
    )
    vlan: int = Field(ge=1, le=4094, description="802.1Q VLAN id, 1 to 4094.")
    bridge: str = Field(
        default="br0",
        min_length=1,
        max_length=15,
        pattern=BRIDGE_NAME,
        description="Linux bridge on the nodes that carries the VLAN.",
    )
    namespaces: list[Namespace] = Field(
        default=["default"],
        min_length=1,
        max_length=64,
        description=(
            "Namespaces to create the NetworkAttachmentDefinition in. They must exist; they are not created."
        ),
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    mtu: int | None = Field(
        default=None, ge=576, le=9216, description="MTU of the VM interfaces; unset keeps the bridge's."
    )

    @field_validator("namespaces")
    @classmethod
    def _namespaces_unique(cls, value: list[str]) -> list[str]:
        _unique(value, "namespace")
        return value


class MultusSpec(_Model):
    """Multus (thick plugin) and the VLAN networks VMs can attach to."""

    enabled: bool = Field(default=True, description="Install Multus and the NetworkAttachmentDefinition CRD.")
    version: MultusVersion = versions.MULTUS.default
    registry: str | None = _registry_field("ghcr.io/k8snetworkplumbingwg")
    workloads: NodePlacement = Field(
        default_factory=NodePlacement,
        description=(
            "Placement of the Multus DaemonSet; it must cover every node that runs VMs with VLAN networks."
        ),
    )
    networks: list[Network] = Field(
        default_factory=list,
        max_length=256,
        description="VLAN networks. Removing an entry deletes its NetworkAttachmentDefinitions.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )

    @field_validator("networks")
    @classmethod
    def _names_unique(cls, value: list[Network]) -> list[Network]:
        _unique([n.name for n in value], "network name")
        return value


# ----------------------------------------------------------------------------------------- VM roles


class VMRolesSpec(_Model):
    """The four ClusterRoles for people who use VMs: vmo-vm-admin, -power-user, -user and -viewer."""

    enabled: bool = Field(
        default=True,
        description=(
            "Create the VM user ClusterRoles. Viewer aggregates into view, power user into edit and "
            "admin into admin; bind vmo-vm-user explicitly. They grant nothing until bound."
        ),
    )


# ----------------------------------------------------------------------------------------- descheduler


class DeschedulerSpec(_Model):
    """The descheduler, configured so VMs leave nodes that go into maintenance by live migration."""

    enabled: bool = Field(default=True, description="Install the descheduler.")
    version: DeschedulerVersion = versions.DESCHEDULER.default
    registry: str | None = _registry_field("registry.k8s.io/descheduler")
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
        _unique(value, "taint key")
        return value


# -------------------------------------------------------------------------------------------- snapshot


class VolumeSnapshotClassSpec(_Model):
    """A VolumeSnapshotClass to create for a CSI driver, so VM snapshots work out of the box."""

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
    parameters: dict[str, str] = Field(
        default_factory=dict, max_length=64, description="Driver-specific parameters."
    )
    is_default: bool = Field(
        default=False, description="Mark it as the default class for its driver (one default per driver)."
    )


class SnapshotControllerSpec(_Model):
    """The CSI snapshot controller and the VolumeSnapshot CRDs, needed for VM snapshots."""

    mode: Literal["Enabled", "Disabled", "Auto"] = Field(
        default="Auto",
        description=(
            "Enabled or Auto install the controller and CRDs unless another installation (not labelled as "
            "ours) already exists; then nothing is installed and the status says what was found. Disabled "
            "installs nothing."
        ),
    )
    version: SnapshotVersion = versions.SNAPSHOT_CONTROLLER.default
    registry: str | None = _registry_field("registry.k8s.io/sig-storage")
    infra: NodePlacement = Field(
        default_factory=NodePlacement, description="Placement of the snapshot controller."
    )
    volume_snapshot_class: VolumeSnapshotClassSpec | None = Field(
        default=None, description="Optional VolumeSnapshotClass to create."
    )


# ------------------------------------------------------------------------------------------------ macs


class LabelSelectorRequirement(_Model):
    """One expression of a label selector."""

    model_config = ConfigDict(
        json_schema_extra=_extra(
            cel(
                "self.operator in ['In', 'NotIn'] ? (has(self.values) && size(self.values) > 0)"
                " : (!has(self.values) || size(self.values) == 0)",
                "values must be non-empty for In and NotIn, and empty for Exists and DoesNotExist",
                ".values",
            )
        )
    )

    key: LabelKey = Field(description="Label key the expression applies to.")
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"] = Field(
        description="How the key relates to the values."
    )
    values: list[LabelValue] = Field(
        default_factory=list, max_length=64, description="Values for In and NotIn; empty otherwise."
    )

    @model_validator(mode="after")
    def _values_match_operator(self) -> LabelSelectorRequirement:
        if (self.operator in ("In", "NotIn")) != bool(self.values):
            raise ValueError(
                "values must be non-empty for In and NotIn, and empty for Exists and DoesNotExist"
            )
        return self


class LabelSelector(_Model):
    """A Kubernetes label selector; all terms must match."""

    match_labels: dict[str, str] = Field(
        default_factory=dict, max_length=64, description="Labels that must be equal."
    )
    match_expressions: list[LabelSelectorRequirement] = Field(
        default_factory=list, max_length=16, description="Expressions that must all hold."
    )


def _default_namespace_selector() -> LabelSelector:
    return LabelSelector(
        match_expressions=[
            LabelSelectorRequirement(
                key="kubernetes.io/metadata.name", operator="NotIn", values=["kube-system"]
            )
        ]
    )


class MacPoolSpec(_Model):
    """Cluster-unique MAC addresses for VM interfaces, assigned at admission."""

    enabled: bool = Field(default=True, description="Assign MAC addresses to VM interfaces that have none.")
    prefixes: list[Annotated[str, Field(min_length=2, max_length=2)]] = Field(
        default=list(MAC_PREFIXES),
        min_length=1,
        max_length=4,
        description=(
            "First octets to allocate from. Only locally administered unicast values are allowed: 02, 06, "
            "0A, 0E (case-insensitive)."
        ),
        json_schema_extra=_extra(
            cel(
                "self.all(p, p.matches('^0[26aAeE]$'))",
                "MAC prefixes must be locally administered unicast first octets: 02, 06, 0A or 0E",
            ),
            cel(
                "self.all(p, self.filter(q, q.upperAscii() == p.upperAscii()).size() == 1)",
                "MAC prefixes must be unique (case-insensitive)",
            ),
        ),
    )
    cluster_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        pattern=CLUSTER_ID,
        description=(
            "Stable identifier hashed into octets 2 and 3 of every MAC. Unset: the UID of the kube-system "
            "namespace. Set it when clusters must keep their MAC range across a rebuild."
        ),
    )
    duplicate_policy: Literal["Deny", "Warn"] = Field(
        default="Deny",
        description=(
            "What to do when a VM asks for a MAC another VM already "
            "holds: reject it, or admit it with a warning."
        ),
    )
    namespace_selector: LabelSelector = Field(
        default_factory=_default_namespace_selector,
        description=(
            "Namespaces whose VMs get MACs. Default: every namespace but kube-system. The operator's own "
            "namespace is always excluded."
        ),
    )
    release_grace_period_seconds: int = Field(
        default=300,
        ge=0,
        le=86400,
        description=(
            "Seconds a reserved MAC stays held after its VM is gone or its creation failed, before reuse."
        ),
    )

    @field_validator("prefixes")
    @classmethod
    def _prefixes_allowed(cls, value: list[str]) -> list[str]:
        normalized = [p.upper() for p in value]
        bad = [p for p, n in zip(value, normalized, strict=True) if n not in MAC_PREFIXES]
        if bad:
            raise ValueError(
                f"{', '.join(bad)}: MAC prefixes must be locally "
                f"administered unicast first octets: 02, 06, 0A or 0E"
            )
        _unique(normalized, "MAC prefix")
        return normalized


# ------------------------------------------------------------------------------------------------- spec


class VMOProfileSpec(_Model):
    """Desired state of the virtual-machine platform.

    Every section has defaults: an empty spec installs and configures everything.
    """

    kubevirt: KubeVirtSpec = Field(default_factory=KubeVirtSpec, description="KubeVirt settings.")
    cdi: CDISpec = Field(default_factory=CDISpec, description="CDI settings.")
    multus: MultusSpec = Field(default_factory=MultusSpec, description="Multus and VLAN networks.")
    descheduler: DeschedulerSpec = Field(default_factory=DeschedulerSpec, description="Descheduler settings.")
    snapshot_controller: SnapshotControllerSpec = Field(
        default_factory=SnapshotControllerSpec, description="Snapshot controller and VolumeSnapshot CRDs."
    )
    mac_pool: MacPoolSpec = Field(default_factory=MacPoolSpec, description="MAC address allocation for VMs.")
    vm_roles: VMRolesSpec = Field(default_factory=VMRolesSpec, description="VM user ClusterRoles.")
    uninstall_strategy: Literal["BlockUninstallIfWorkloadsExist", "RemoveWorkloads"] = Field(
        default="BlockUninstallIfWorkloadsExist",
        description=(
            "BlockUninstallIfWorkloadsExist refuses to remove KubeVirt or CDI (or delete the profile) while "
            "VirtualMachines or DataVolumes exist; RemoveWorkloads deletes "
            "them. Also set on the KubeVirt and CDI CRs."
        ),
    )


# ----------------------------------------------------------------------------------------------- status


class _Status(BaseModel):
    # Written by the operator and read back from the API server: tolerate what a newer operator adds.
    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="allow",
    )


class Condition(_Status):
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


class ComponentStatus(_Status):
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


class FeatureGateStatus(_Status):
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


class VMOProfileStatus(_Status):
    """Observed state, written by the operator."""

    observed_generation: int | None = Field(
        default=None, ge=0, description="Generation of the spec last reconciled."
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
    mac_pool: dict[str, Any] | None = Field(
        default=None,
        description=(
            "MAC allocator status: webhook readiness, allocations, free addresses per prefix, collisions."
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
