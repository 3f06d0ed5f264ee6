"""`spec.kubevirt`: the KubeVirt version, feature gates, migrations, live update and placement."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from vmo_operator.api import versions
from vmo_operator.api.models.base import (
    CPU_HOTPLUG,
    DNS1123_SUBDOMAIN,
    GO_DURATION,
    QUANTITY,
    GateName,
    KubeVirtVersion,
    Model,
    cel,
    registry_field,
    require_unique,
    schema_extra,
)
from vmo_operator.api.models.density import Density
from vmo_operator.api.models.overrides import Override, overrides_field, within_size
from vmo_operator.api.models.placement import (
    NodePlacement,
)

# --------------------------------------------------------------------------------------------- kubevirt


class FeatureGates(Model):
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
        json_schema_extra=schema_extra(
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
        require_unique(self.add, "gate in featureGates.add")
        require_unique(self.remove, "gate in featureGates.remove")
        both = sorted(set(self.add) & set(self.remove))
        if both:
            raise ValueError(f"a feature gate cannot be both added and removed: {', '.join(both)}")
        return self


class WorkloadUpdateStrategy(Model):
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
        require_unique(value, "workload update method")
        return value


class Migrations(Model):
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


class LiveUpdate(Model):
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


class CommonInstancetypes(Model):
    """KubeVirt's common instance types and preferences (the kubevirt/common-instancetypes bundle,
    e.g. u1.medium and fedora), deployed by virt-operator as VirtualMachineClusterInstancetypes and
    VirtualMachineClusterPreferences (KubeVirt spec.configuration.commonInstancetypesDeployment)."""

    enabled: bool = Field(
        default=True,
        description=(
            "Deploy the common cluster instance types and preferences, so a VM can say "
            "`instancetype: {name: u1.medium}` and `preference: {name: fedora}` instead of sizing "
            "itself. False removes them (VMs already created keep a copy in a ControllerRevision)."
        ),
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


def _minor_patch(side: str) -> tuple[str, str]:
    return (f"int({side}.version.split('.')[1])", f"int({side}.version.split('.')[2])")


_NEW, _OLD = _minor_patch("self"), _minor_patch("oldSelf")
# A transition rule: checked on updates only, against the stored value. KubeVirt refuses nothing
# itself when its version goes down, and running VMs may not survive it, so the profile asks for an
# acknowledgement that names the version being left.
_DOWNGRADE_RULE = {
    "rule": (
        "!has(self.version) || !has(oldSelf.version) || self.version == oldSelf.version || "
        f"{_NEW[0]} > {_OLD[0]} || ({_NEW[0]} == {_OLD[0]} && {_NEW[1]} >= {_OLD[1]}) || "
        "(has(self.acceptDowngradeFrom) && self.acceptDowngradeFrom == oldSelf.version)"
    ),
    "messageExpression": (
        "'downgrading KubeVirt from ' + oldSelf.version + ' to ' + self.version + ' is refused: KubeVirt "
        "does not support downgrades and running VMs may not survive one. To downgrade anyway, set "
        "spec.kubevirt.acceptDowngradeFrom: ' + oldSelf.version + ' in the same edit'"
    ),
    "message": (
        "downgrading KubeVirt is refused: KubeVirt does not support downgrades. To downgrade anyway, "
        "set spec.kubevirt.acceptDowngradeFrom to the version being left, in the same edit"
    ),
    "fieldPath": ".version",
    "reason": "FieldValueForbidden",
}
SEMVER_TAG = r"^v[0-9]+[.][0-9]+[.][0-9]+$"


class KubeVirtSpec(Model):
    """KubeVirt: virt-operator and the KubeVirt CR it reconciles."""

    model_config = ConfigDict(
        json_schema_extra=schema_extra(_CPU_HOTPLUG_RULE, _CPU_HOTPLUG_MIGRATE_RULE, _DOWNGRADE_RULE)
    )

    enabled: bool = Field(
        default=True,
        description=(
            "Install KubeVirt. Disabling it while VMs exist is refused "
            "unless uninstallStrategy is RemoveWorkloads."
        ),
    )
    version: KubeVirtVersion = versions.KUBEVIRT.default
    accept_downgrade_from: str | None = Field(
        default=None,
        max_length=32,
        pattern=SEMVER_TAG,
        description=(
            "Accept lowering version from exactly this version, e.g. v1.9.0. A lower version is "
            "otherwise refused, since KubeVirt does not support downgrades."
        ),
    )
    registry: str | None = registry_field("quay.io/kubevirt")
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
    vm_state_storage_class: str | None = Field(
        default=None,
        max_length=253,
        pattern=DNS1123_SUBDOMAIN,
        description=(
            "Storage class of the small PVCs KubeVirt creates to keep a VM's persistent state (a "
            "persistent TPM or EFI variable store) across restarts and migrations. It should offer "
            "ReadWriteMany so such VMs can live-migrate. Unset: the default storage class. Before "
            "KubeVirt v1.6, VMs may ask for persistent state only with the VMPersistentState feature "
            "gate (add it to featureGates.add)."
        ),
    )
    use_emulation: bool = Field(
        default=False,
        description=(
            "Run VMs under QEMU software emulation where a node has no /dev/kvm (KubeVirt "
            "developerConfiguration.useEmulation), e.g. in nested clouds without virtualization "
            "extensions. VMs then run many times slower; meant for tests and demos. The KVMAvailable "
            "condition tells whether any schedulable node offers KVM."
        ),
    )
    density: Density = Field(
        default_factory=Density, description="Memory and CPU overcommit, and KSM, to run more VMs per node."
    )
    common_instancetypes: CommonInstancetypes = Field(
        default_factory=CommonInstancetypes,
        description="KubeVirt's common cluster instance types and preferences.",
    )
    overrides: list[Override] = overrides_field("KubeVirt")

    @field_validator("overrides")
    @classmethod
    def _overrides_fit(cls, value: list[Override]) -> list[Override]:
        return within_size(value)

    @model_validator(mode="after")
    def _cpu_hotplug_prerequisites(self) -> KubeVirtSpec:
        if CPU_HOTPLUG in self.feature_gates.remove:
            return self
        if self.vm_rollout_strategy != "LiveUpdate":
            raise ValueError(_CPU_HOTPLUG_RULE["message"])
        if "LiveMigrate" not in self.workload_update_strategy.workload_update_methods:
            raise ValueError(_CPU_HOTPLUG_MIGRATE_RULE["message"])
        return self
