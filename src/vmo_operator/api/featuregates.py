"""Version-aware KubeVirt feature-gate table and resolution.

KubeVirt gates move through Alpha -> Beta -> GA (or Deprecated -> successor) from release to release,
and the meaning of the CR fields changed with them: listing a GA gate only produces a warning on every
edit, `disabledFeatureGates` exists only from v1.8, and from v1.9 Beta gates are on unless disabled.
The profile states intent ("these gates on, those off"); `resolve` turns it into exactly what the
target KubeVirt version needs, and records every decision so the status can explain it.

Lifecycle source: the state each gate is registered with in KubeVirt's pkg/virt-config/featuregate
(pkg/virt-config and its deprecation package in v1.4) at every release that proves a supported minor;
tests/conformance/test_kubevirt.py compares this table with that source. Gates v1.4 declares without a
state are off unless listed, recorded here as Alpha or Beta as the next release registers them. A gate
missing here is passed through and reported as unknown, never dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from vmo_operator.api import versions
from vmo_operator.api.models import CPU_HOTPLUG, DEFAULT_KUBEVIRT_GATES

Version = tuple[int, int]

# disabledFeatureGates was added to the KubeVirt CR in v1.8.0. Older virt-operators do not know the
# field (upstream's CRD would prune it; ours keeps unknown fields and virt-operator ignores them), so
# `resolve` never writes it for them, and the CRD schema declares it only from this release.
DISABLED_GATES_SINCE: Version = (1, 8)
# From v1.9.0 Beta gates are on unless listed in disabledFeatureGates.
BETA_ON_BY_DEFAULT_SINCE: Version = (1, 9)
# Before v1.5, CPU hotplug needed the VMLiveUpdateFeatures gate in addition to LiveUpdate rollouts.
LIVE_UPDATE_GATE_GA: Version = (1, 5)


class Phase(StrEnum):
    ALPHA = "Alpha"
    BETA = "Beta"
    GA = "GA"
    DEPRECATED = "Deprecated"
    DISCONTINUED = "Discontinued"


@dataclass(frozen=True)
class Stage:
    since: Version
    phase: Phase
    successor: str | None = None


def _gate(*stages: tuple[Version, Phase] | tuple[Version, Phase, str]) -> tuple[Stage, ...]:
    return tuple(Stage(*s) for s in stages)


A, B, GA, DEP, DIS = Phase.ALPHA, Phase.BETA, Phase.GA, Phase.DEPRECATED, Phase.DISCONTINUED
EARLY: Version = (0, 0)  # "before the oldest release we support"

# name -> lifecycle, oldest stage first; EARLY is the state at v1.4, the oldest supported minor.
GATES: Mapping[str, tuple[Stage, ...]] = {
    # The default (Palette VMO) set.
    "LiveMigration": _gate((EARLY, GA)),
    "Snapshot": _gate((EARLY, A), ((1, 6), B)),
    "HotplugVolumes": _gate((EARLY, A), ((1, 9), DEP, "DeclarativeHotplugVolumes")),
    "VMExport": _gate((EARLY, A), ((1, 6), B), ((1, 9), GA)),
    "ExpandDisks": _gate((EARLY, A), ((1, 9), GA)),
    "HotplugNICs": _gate((EARLY, GA)),
    "VMLiveUpdateFeatures": _gate((EARLY, A), ((1, 5), GA)),
    # Every other gate KubeVirt registers at a supported release.
    "AlignCPUs": _gate((EARLY, A)),
    "AutoResourceLimitsGate": _gate((EARLY, A), ((1, 5), GA)),
    "BochsDisplayForEFIGuests": _gate((EARLY, GA)),
    "ClusterProfiler": _gate((EARLY, A), ((1, 6), GA)),
    "CommonInstancetypesDeploymentGate": _gate((EARLY, GA)),
    "ConfigurableHypervisor": _gate(((1, 8), A)),
    "ContainerPathVolumes": _gate(((1, 8), A)),
    "CPUManager": _gate((EARLY, A)),
    "CPUNodeDiscovery": _gate((EARLY, GA)),
    "CrossArchitectureVirtualization": _gate(((1, 9), A)),
    "DecentralizedLiveMigration": _gate(((1, 6), A)),
    "DeclarativeHotplugVolumes": _gate(((1, 6), A), ((1, 9), B)),
    "DisableCustomSELinuxPolicy": _gate((EARLY, A), ((1, 5), GA)),
    "DisableMDEVConfiguration": _gate((EARLY, A), ((1, 8), DEP)),
    "DockerSELinuxMCSWorkaround": _gate((EARLY, DEP)),
    "DownwardMetrics": _gate((EARLY, A)),
    "DynamicPodInterfaceNaming": _gate((EARLY, B), ((1, 5), GA)),
    "EnableVirtioFsConfigVolumes": _gate(((1, 5), A), ((1, 8), GA)),
    "EnableVirtioFsStorageVolumes": _gate(((1, 5), A)),
    "ExperimentalIgnitionSupport": _gate((EARLY, A)),
    "ExperimentalVirtiofsSupport": _gate((EARLY, A), ((1, 5), DEP), ((1, 8), DIS)),
    "ExternalNetResourceInjection": _gate(((1, 8), B)),
    "FirmwareAutoSelection": _gate(((1, 9), A)),
    "GPU": _gate((EARLY, GA)),
    "GPUsWithDRA": _gate(((1, 6), A), ((1, 9), B)),
    "GraceIOVirtualization": _gate(((1, 9), A)),
    "HostDevices": _gate((EARLY, A)),
    "HostDevicesWithDRA": _gate(((1, 6), A), ((1, 9), B)),
    "HostDisk": _gate((EARLY, A)),
    "HypervStrictCheck": _gate((EARLY, A)),
    "ImageVolume": _gate(((1, 6), A), ((1, 7), B)),
    "IncrementalBackup": _gate(((1, 7), A)),
    "InstancetypeReferencePolicy": _gate((EARLY, B), ((1, 6), GA)),
    "IOMMUFD": _gate(((1, 9), A)),
    "KubevirtSeccompProfile": _gate((EARLY, A), ((1, 7), B)),
    "LibvirtHooksServerAndClient": _gate(((1, 8), A), ((1, 9), B)),
    "LiveUpdateNADRef": _gate(((1, 8), B), ((1, 9), GA)),
    "Macvtap": _gate((EARLY, DIS)),
    "MigrationPriorityQueue": _gate(((1, 7), A), ((1, 8), B), ((1, 9), GA)),
    "MigrationStallDetection": _gate(((1, 9), A)),
    "MultiArchitecture": _gate((EARLY, A), ((1, 8), DEP)),
    "NetworkBindingPlugins": _gate((EARLY, B), ((1, 5), GA)),
    "NetworkDevicesWithDRA": _gate(((1, 9), A)),
    "NodeRestriction": _gate((EARLY, A), ((1, 6), B)),
    "NonRoot": _gate((EARLY, GA)),
    "NUMA": _gate((EARLY, GA)),
    "ObjectGraph": _gate(((1, 6), A)),
    "OCIExport": _gate(((1, 9), A)),
    "OptOutRoleAggregation": _gate(((1, 8), A), ((1, 9), B)),
    "PanicDevices": _gate(((1, 6), A), ((1, 7), B), ((1, 9), GA)),
    "Passt": _gate((EARLY, DIS)),
    "PasstBinding": _gate(((1, 8), B)),
    "PasstIPStackMigration": _gate(((1, 6), A), ((1, 8), DIS)),
    "PCINUMAAwareTopology": _gate(((1, 8), A)),
    "PersistentReservation": _gate((EARLY, A), ((1, 9), GA)),
    "Plugins": _gate(((1, 9), A)),
    "PodSecondaryInterfaceNamingUpgrade": _gate(((1, 8), B)),
    "PortRangesSpec": _gate(((1, 9), A)),
    "PSA": _gate((EARLY, GA)),
    "RebootPolicy": _gate(((1, 8), A), ((1, 9), B)),
    "ReservedOverheadMemlock": _gate(((1, 8), A)),
    "Root": _gate((EARLY, A)),
    "SecureExecution": _gate(((1, 6), B), ((1, 9), GA)),
    "Sidecar": _gate((EARLY, A)),
    "SRIOVLiveMigration": _gate((EARLY, GA)),
    "Template": _gate(((1, 8), A), ((1, 9), B)),
    "UtilityVolumes": _gate(((1, 8), A)),
    "VGPULiveMigration": _gate(((1, 9), A)),
    "VideoConfig": _gate(((1, 6), A), ((1, 7), B), ((1, 9), GA)),
    "VmiMemoryOverheadReport": _gate(((1, 8), A), ((1, 9), B)),
    "VMPersistentState": _gate((EARLY, A), ((1, 6), GA)),
    "VMStatsCollector": _gate(((1, 9), A)),
    "VolumeMigration": _gate((EARLY, A), ((1, 5), GA)),
    "VolumesUpdateStrategy": _gate((EARLY, A), ((1, 5), GA)),
    "VSOCK": _gate((EARLY, A)),
    "WorkloadEncryptionSEV": _gate((EARLY, A), ((1, 9), B)),
    "WorkloadEncryptionTDX": _gate(((1, 7), A)),
}

# Pairs that must not be on together: with both, KubeVirt ignores the second (b3 in the notes).
EXCLUSIVE: tuple[tuple[str, str], ...] = (("HotplugVolumes", "DeclarativeHotplugVolumes"),)


def minor_version(version: str) -> Version:
    major, minor, _ = versions.parse(version)
    return major, minor


def phase_at(gate: str, version: Version) -> Stage | None:
    """The gate's stage in `version`, or None when KubeVirt does not know it there."""
    current: Stage | None = None
    for stage in GATES.get(gate, ()):
        if stage.since <= version:
            current = stage
    return current


@dataclass(frozen=True)
class Resolution:
    """What to write into the KubeVirt CR, and why, for one target version."""

    version: str
    enabled: tuple[str, ...]
    disabled: tuple[str, ...]
    implied: tuple[str, ...]
    translated: Mapping[str, str]
    unknown: tuple[str, ...]
    dropped: tuple[str, ...]
    cpu_hotplug: bool
    warnings: tuple[str, ...] = field(default=())

    def status(self) -> dict[str, object]:
        """The `status.featureGates` value (see models.FeatureGateStatus)."""
        return {
            "enabled": list(self.enabled),
            "disabled": list(self.disabled),
            "implied": list(self.implied),
            "translated": dict(self.translated),
            "unknown": list(self.unknown),
            "dropped": list(self.dropped),
        }


class _Resolver:
    """Accumulates decisions; a class only to keep the bookkeeping out of `resolve`'s signature."""

    def __init__(self, version: str) -> None:
        self.version = version
        self.v = minor_version(version)
        self.enabled: list[str] = []
        self.disabled: list[str] = []
        self.implied: list[str] = []
        self.translated: dict[str, str] = {}
        self.unknown: list[str] = []
        self.dropped: list[str] = []
        self.warnings: list[str] = []
        self.cpu_hotplug = False

    def enable(self, gate: str) -> None:
        stage = phase_at(gate, self.v)
        if stage is None:
            _append(self.unknown, gate)
            _append(self.enabled, gate)
            self.warnings.append(
                f"feature gate {gate!r} is not known to KubeVirt {self.version}; passed through"
            )
        elif stage.phase is Phase.GA:
            _append(self.implied, gate)
        elif stage.phase is Phase.DEPRECATED and stage.successor:
            self.translated[gate] = stage.successor
            self.enable(stage.successor)
        elif stage.phase in (Phase.DEPRECATED, Phase.DISCONTINUED):
            _append(self.dropped, gate)
            self.warnings.append(
                f"feature gate {gate!r} is {stage.phase.value.lower()} in "
                f"KubeVirt {self.version}; not written"
            )
        else:
            _append(self.enabled, gate)

    def disable(self, gate: str) -> None:
        stage = phase_at(gate, self.v)
        if stage is None:
            _append(self.unknown, gate)
            if self.v >= DISABLED_GATES_SINCE:
                _append(self.disabled, gate)
            return
        if stage.phase is Phase.DEPRECATED and stage.successor:
            self.translated[gate] = stage.successor
            self.disable(stage.successor)
        elif stage.phase is Phase.GA:
            _append(self.implied, gate)
            self.warnings.append(
                f"feature gate {gate!r} is GA in KubeVirt {self.version} and cannot be disabled"
            )
        elif stage.phase is Phase.BETA and self.v >= BETA_ON_BY_DEFAULT_SINCE and gate not in self.enabled:
            _append(self.disabled, gate)
        # Alpha (and Beta before v1.9) gates are off unless listed: not writing them is enough.

    def exclusive(self, explicitly_added: set[str]) -> None:
        for old, new in EXCLUSIVE:
            if old in self.enabled and new in self.enabled:
                self.enabled.remove(old)
                self.translated[old] = new
                why = "explicitly added" if new in explicitly_added else "enabled"
                self.warnings.append(
                    f"{old} is not written because {new} is {why}; KubeVirt ignores {new} when both are on"
                )

    def result(self) -> Resolution:
        return Resolution(
            version=self.version,
            enabled=tuple(sorted(self.enabled)),
            disabled=tuple(sorted(self.disabled)),
            implied=tuple(sorted(self.implied)),
            translated=dict(sorted(self.translated.items())),
            unknown=tuple(sorted(self.unknown)),
            dropped=tuple(sorted(self.dropped)),
            cpu_hotplug=self.cpu_hotplug,
            warnings=tuple(self.warnings),
        )


def _append(items: list[str], item: str) -> None:
    if item not in items:
        items.append(item)


def requested_gates(add: Iterable[str] = (), remove: Iterable[str] = ()) -> list[str]:
    """The default set minus removals plus additions, in a stable order."""
    removed = set(remove)
    out = [g for g in DEFAULT_KUBEVIRT_GATES if g not in removed]
    for gate in add:
        _append(out, gate)
    return out


def resolve(version: str, add: Sequence[str] = (), remove: Sequence[str] = ()) -> Resolution:
    """Resolve the default set plus `add` minus `remove` for KubeVirt `version` (e.g. "v1.9.0").

    Output lists are sorted so that reordering gates in the profile never rewrites the KubeVirt CR.
    """
    r = _Resolver(version)
    for gate in requested_gates(add, remove):
        if gate == CPU_HOTPLUG:
            r.cpu_hotplug = True
            continue
        r.enable(gate)
    for gate in dict.fromkeys(remove):
        if gate != CPU_HOTPLUG and gate not in add:
            r.disable(gate)
    r.exclusive(set(add))
    if r.cpu_hotplug:
        target = "spec.configuration.vmRolloutStrategy=LiveUpdate"
        if r.v < LIVE_UPDATE_GATE_GA:
            # CPU hotplug is driven by this gate before v1.5, whatever the user removed.
            if "VMLiveUpdateFeatures" not in r.enabled:
                r.enabled.append("VMLiveUpdateFeatures")
                r.warnings.append(f"CPUHotplug keeps VMLiveUpdateFeatures enabled on KubeVirt {version}")
            target = f"VMLiveUpdateFeatures, {target}"
        r.translated[CPU_HOTPLUG] = target
    return r.result()
