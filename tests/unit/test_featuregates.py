"""Version-aware resolution of KubeVirt feature gates, v1.4 ... v1.9."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vmo_operator.api import featuregates as fg
from vmo_operator.api.models import CPU_HOTPLUG, DEFAULT_KUBEVIRT_GATES

# The default set, resolved for each supported minor release (notes b6).
DEFAULTS_BY_VERSION = [
    (
        "v1.4.0",
        ["ExpandDisks", "HotplugVolumes", "Snapshot", "VMExport", "VMLiveUpdateFeatures"],
        ["HotplugNICs", "LiveMigration"],
        {CPU_HOTPLUG: "VMLiveUpdateFeatures, spec.configuration.vmRolloutStrategy=LiveUpdate"},
    ),
    (
        "v1.5.2",
        ["ExpandDisks", "HotplugVolumes", "Snapshot", "VMExport"],
        ["HotplugNICs", "LiveMigration", "VMLiveUpdateFeatures"],
        {CPU_HOTPLUG: "spec.configuration.vmRolloutStrategy=LiveUpdate"},
    ),
    (
        "v1.6.0",
        ["ExpandDisks", "HotplugVolumes", "Snapshot", "VMExport"],
        ["HotplugNICs", "LiveMigration", "VMLiveUpdateFeatures"],
        {CPU_HOTPLUG: "spec.configuration.vmRolloutStrategy=LiveUpdate"},
    ),
    (
        "v1.7.1",
        ["ExpandDisks", "HotplugVolumes", "Snapshot", "VMExport"],
        ["HotplugNICs", "LiveMigration", "VMLiveUpdateFeatures"],
        {CPU_HOTPLUG: "spec.configuration.vmRolloutStrategy=LiveUpdate"},
    ),
    (
        "v1.8.4",
        ["ExpandDisks", "HotplugVolumes", "Snapshot", "VMExport"],
        ["HotplugNICs", "LiveMigration", "VMLiveUpdateFeatures"],
        {CPU_HOTPLUG: "spec.configuration.vmRolloutStrategy=LiveUpdate"},
    ),
    (
        "v1.9.0",
        ["DeclarativeHotplugVolumes", "Snapshot"],
        ["ExpandDisks", "HotplugNICs", "LiveMigration", "VMExport", "VMLiveUpdateFeatures"],
        {
            CPU_HOTPLUG: "spec.configuration.vmRolloutStrategy=LiveUpdate",
            "HotplugVolumes": "DeclarativeHotplugVolumes",
        },
    ),
]


@pytest.mark.parametrize(("version", "enabled", "implied", "translated"), DEFAULTS_BY_VERSION)
def test_default_set_per_version(
    version: str, enabled: list[str], implied: list[str], translated: dict[str, str]
) -> None:
    result = fg.resolve(version)
    assert list(result.enabled) == enabled
    assert list(result.implied) == implied
    assert dict(result.translated) == translated
    assert result.disabled == ()
    assert result.unknown == ()
    assert result.cpu_hotplug is True


# (version, remove, expected disabled, gate expected absent from enabled)
REMOVALS = [
    # Beta is on by default only from v1.9, so only there does removal need disabledFeatureGates.
    ("v1.9.0", ["Snapshot"], ["Snapshot"], "Snapshot"),
    ("v1.8.0", ["Snapshot"], [], "Snapshot"),
    ("v1.6.0", ["Snapshot"], [], "Snapshot"),
    # Removing a deprecated gate removes (and disables) its successor.
    ("v1.9.0", ["HotplugVolumes"], ["DeclarativeHotplugVolumes"], "DeclarativeHotplugVolumes"),
    ("v1.8.0", ["HotplugVolumes"], [], "HotplugVolumes"),
    # Alpha gates are off unless listed: nothing to disable.
    ("v1.8.0", ["ExpandDisks"], [], "ExpandDisks"),
    ("v1.9.0", ["VMExport"], [], "VMExport"),
]


@pytest.mark.parametrize(("version", "remove", "disabled", "absent"), REMOVALS)
def test_removal(version: str, remove: list[str], disabled: list[str], absent: str) -> None:
    result = fg.resolve(version, remove=remove)
    assert list(result.disabled) == disabled
    assert absent not in result.enabled


def test_ga_gate_cannot_be_disabled_and_is_reported() -> None:
    result = fg.resolve("v1.9.0", remove=["VMExport"])
    assert "VMExport" in result.implied
    assert "VMExport" not in result.disabled
    assert any("VMExport" in w and "cannot be disabled" in w for w in result.warnings)


@pytest.mark.parametrize(
    ("version", "disabled"),
    [("v1.9.0", ["NotARealGate"]), ("v1.8.0", ["NotARealGate"]), ("v1.7.0", [])],
)
def test_unknown_gates_pass_through_and_are_reported(version: str, disabled: list[str]) -> None:
    added = fg.resolve(version, add=["FancyNewGate"])
    assert "FancyNewGate" in added.enabled
    assert added.unknown == ("FancyNewGate",)
    assert any("FancyNewGate" in w for w in added.warnings)
    removed = fg.resolve(version, remove=["NotARealGate"])
    assert removed.unknown == ("NotARealGate",)
    assert list(removed.disabled) == disabled


def test_gate_newer_than_target_version_is_unknown_there() -> None:
    assert fg.resolve("v1.5.0", add=["DeclarativeHotplugVolumes"]).unknown == ("DeclarativeHotplugVolumes",)
    assert fg.resolve("v1.6.0", add=["DeclarativeHotplugVolumes"]).unknown == ()


def test_declarative_hotplug_replaces_legacy_hotplug_when_added_explicitly() -> None:
    result = fg.resolve("v1.7.0", add=["DeclarativeHotplugVolumes"])
    assert "DeclarativeHotplugVolumes" in result.enabled
    assert "HotplugVolumes" not in result.enabled
    assert result.translated["HotplugVolumes"] == "DeclarativeHotplugVolumes"


def test_discontinued_and_deprecated_without_successor_are_dropped() -> None:
    result = fg.resolve("v1.8.0", add=["Macvtap", "MultiArchitecture"])
    assert set(result.dropped) == {"Macvtap", "MultiArchitecture"}
    assert not {"Macvtap", "MultiArchitecture"} & set(result.enabled)


def test_cpu_hotplug_before_v1_5_keeps_its_gate() -> None:
    result = fg.resolve("v1.4.0", remove=["VMLiveUpdateFeatures"])
    assert "VMLiveUpdateFeatures" in result.enabled
    assert any("CPUHotplug keeps VMLiveUpdateFeatures" in w for w in result.warnings)


def test_removing_cpu_hotplug_removes_its_translation() -> None:
    result = fg.resolve("v1.4.0", remove=[CPU_HOTPLUG, "VMLiveUpdateFeatures"])
    assert result.cpu_hotplug is False
    assert CPU_HOTPLUG not in result.translated
    assert "VMLiveUpdateFeatures" not in result.enabled
    assert CPU_HOTPLUG not in result.unknown


def test_output_does_not_depend_on_input_order() -> None:
    one = fg.resolve("v1.9.0", add=["CPUManager", "HostDevices"], remove=["Snapshot", "HotplugVolumes"])
    two = fg.resolve("v1.9.0", add=["HostDevices", "CPUManager"], remove=["HotplugVolumes", "Snapshot"])
    assert one == two


def test_status_shape() -> None:
    status = fg.resolve("v1.9.0", add=["Foo"]).status()
    assert set(status) == {"enabled", "disabled", "implied", "translated", "unknown", "dropped"}
    assert status["unknown"] == ["Foo"]


KNOWN = sorted(fg.GATES)
VERSIONS = [f"v1.{minor}.{patch}" for minor in range(4, 10) for patch in (0, 3)]


@settings(max_examples=200, deadline=None)
@given(
    version=st.sampled_from(VERSIONS),
    add=st.lists(st.sampled_from([*KNOWN, "Unknown1"]), unique=True, max_size=6),
    remove=st.lists(st.sampled_from([*DEFAULT_KUBEVIRT_GATES, *KNOWN, "Unknown2"]), unique=True, max_size=6),
)
def test_invariants(version: str, add: list[str], remove: list[str]) -> None:
    remove = [g for g in remove if g not in add]
    result = fg.resolve(version, add=add, remove=remove)
    minor = fg.minor_version(version)
    assert not set(result.enabled) & set(result.disabled)
    if minor < fg.DISABLED_GATES_SINCE:
        assert result.disabled == ()
    for gate in result.enabled:
        stage = fg.phase_at(gate, minor)
        # Never write a GA gate (warning on every edit) or a deprecated one (it has a successor).
        assert stage is None or stage.phase in (fg.Phase.ALPHA, fg.Phase.BETA)
    assert not ("HotplugVolumes" in result.enabled and "DeclarativeHotplugVolumes" in result.enabled)
    assert list(result.enabled) == sorted(result.enabled)
