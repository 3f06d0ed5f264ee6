"""Version-aware KubeVirt feature-gate table and resolution.

KubeVirt gates move through Alpha -> Beta -> GA (or Deprecated -> successor) from release to release,
and the meaning of the CR fields changed with them: listing a GA gate only produces a warning on every
edit, `disabledFeatureGates` exists only from v1.8, and from v1.9 Beta gates are on unless disabled.
The profile states intent ("these gates on, those off"); `resolve` turns it into exactly what the
target KubeVirt version needs, and records every decision so the status can explain it.

Lifecycle sources: for the gates Palette VMO enables (the default set) the registration code at each
KubeVirt tag v1.4.0 ... v1.9.0 (see docs/notes: kubevirt-stack-anchors b6); for the others the
"Alpha/Beta/GA: vX" markers in pkg/virt-config/featuregate. A gate missing here is passed through and
reported as unknown, never dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from vmo_operator.api import versions
from vmo_operator.api.models import CPU_HOTPLUG, DEFAULT_KUBEVIRT_GATES

Version = tuple[int, int]

# disabledFeatureGates was added to the KubeVirt CR in v1.8.0; older releases prune it.
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

# name -> lifecycle, oldest stage first. Only releases >= v1.4 matter to resolution.
GATES: Mapping[str, tuple[Stage, ...]] = {
    # The default (Palette VMO) set.
    "LiveMigration": _gate((EARLY, GA)),
    "Snapshot": _gate((EARLY, A), ((1, 6), B)),
    "HotplugVolumes": _gate((EARLY, A), ((1, 9), DEP, "DeclarativeHotplugVolumes")),
    "DeclarativeHotplugVolumes": _gate(((1, 6), A), ((1, 9), B)),
    "VMExport": _gate((EARLY, A), ((1, 6), B), ((1, 9), GA)),
    "ExpandDisks": _gate((EARLY, A), ((1, 9), GA)),
    "HotplugNICs": _gate((EARLY, B), ((1, 4), GA)),
    "VMLiveUpdateFeatures": _gate((EARLY, A), ((1, 5), GA)),
    # Other gates, so that common additions are not reported as unknown.
    "CPUManager": _gate((EARLY, A)),
    "HostDevices": _gate((EARLY, A)),
    "Sidecar": _gate((EARLY, A)),
    "HostDisk": _gate((EARLY, A)),
    "DownwardMetrics": _gate((EARLY, A)),
    "Root": _gate((EARLY, A)),
    "WorkloadEncryptionSEV": _gate((EARLY, A)),
    "WorkloadEncryptionTDX": _gate(((1, 7), A)),
    "VSOCK": _gate((EARLY, A)),
    "ExperimentalIgnitionSupport": _gate((EARLY, A)),
    "HypervStrictCheck": _gate((EARLY, A)),
    "AlignCPUs": _gate((EARLY, A)),
    "KubevirtSeccompProfile": _gate((EARLY, B)),
    "PersistentReservation": _gate((EARLY, A), ((1, 9), GA)),
    "DisableMDEVConfiguration": _gate((EARLY, A), ((1, 8), DEP)),
    "MultiArchitecture": _gate((EARLY, A), ((1, 8), DEP)),
    "NodeRestriction": _gate((EARLY, A), ((1, 6), B)),
    "ImageVolume": _gate(((1, 6), A), ((1, 7), B)),
    "VideoConfig": _gate(((1, 6), A), ((1, 7), B), ((1, 9), GA)),
    "PanicDevices": _gate(((1, 6), A), ((1, 7), B), ((1, 9), GA)),
    "SecureExecution": _gate(((1, 6), A), ((1, 7), B), ((1, 9), GA)),
    "LiveUpdateNADRef": _gate(((1, 8), B), ((1, 9), GA)),
    "MigrationPriorityQueue": _gate(((1, 7), A), ((1, 8), B), ((1, 9), GA)),
    "DecentralizedLiveMigration": _gate(((1, 6), A)),
    "ObjectGraph": _gate(((1, 6), A)),
    "IncrementalBackup": _gate(((1, 6), A)),
    "GPUsWithDRA": _gate(((1, 6), A)),
    "HostDevicesWithDRA": _gate(((1, 6), A)),
    "UtilityVolumes": _gate(((1, 7), A)),
    "ContainerPathVolumes": _gate(((1, 8), A)),
    "EnableVirtioFsStorageVolumes": _gate(((1, 5), A)),
    "EnableVirtioFsConfigVolumes": _gate(((1, 5), A), ((1, 6), B), ((1, 8), GA)),
    "VolumesUpdateStrategy": _gate((EARLY, A), ((1, 6), GA)),
    "VolumeMigration": _gate((EARLY, A), ((1, 6), GA)),
    "VMPersistentState": _gate((EARLY, A), ((1, 7), GA)),
    "InstancetypeReferencePolicy": _gate((EARLY, A), ((1, 5), B), ((1, 6), GA)),
    "NetworkBindingPlugins": _gate((EARLY, B), ((1, 5), GA)),
    "DynamicPodInterfaceNaming": _gate((EARLY, B), ((1, 5), GA)),
    "AutoResourceLimitsGate": _gate((EARLY, A), ((1, 5), GA)),
    "CommonInstancetypesDeploymentGate": _gate((EARLY, GA)),
    "BochsDisplayForEFIGuests": _gate((EARLY, GA)),
    "DisableCustomSELinuxPolicy": _gate((EARLY, A), ((1, 6), GA)),
    "GPU": _gate((EARLY, A), ((1, 6), GA)),
    "NUMA": _gate((EARLY, A), ((1, 6), GA)),
    "SRIOVLiveMigration": _gate((EARLY, GA)),
    "NonRoot": _gate((EARLY, GA)),
    "PSA": _gate((EARLY, GA)),
    "CPUNodeDiscovery": _gate((EARLY, GA)),
    "ClusterProfiler": _gate((EARLY, GA)),
    "DockerSELinuxMCSWorkaround": _gate((EARLY, DEP)),
    "Passt": _gate((EARLY, DIS)),
    "Macvtap": _gate((EARLY, DIS)),
    "ExperimentalVirtiofsSupport": _gate((EARLY, A), ((1, 7), DIS)),
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
