"""The pack's remaining knobs (issue 14, items 5-7): VM state storage, CDI import settings, density,
emulation, their version checks and the KVMAvailable condition."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from pydantic import ValidationError

from vmo_operator.api import kubevirtfields, models
from vmo_operator.components import cdi, kubevirt, kubevirt_config, kvm
from vmo_operator.components.base import ClusterFacts, ComponentHealth, ConditionSpec

DENSITY = {
    "memoryOvercommitPercent": 150,
    "cpuAllocationRatio": 4,
    "ksm": {"enabled": True, "nodeLabelSelector": {"matchLabels": {"ksm": "on"}}},
}


def configuration(kubevirt_spec: dict[str, Any]) -> dict[str, Any]:
    spec = models.parse_spec({"kubevirt": kubevirt_spec})
    result: dict[str, Any] = kubevirt.kubevirt_cr(spec)["spec"]["configuration"]
    return result


def supported(kubevirt_spec: dict[str, Any]) -> ConditionSpec:
    return kubevirt_config.configuration_supported(models.parse_spec({"kubevirt": kubevirt_spec}).kubevirt)


# ------------------------------------------------------------------------------------ KubeVirt CR


def test_the_kubevirt_cr_carries_state_density_and_emulation() -> None:
    config = configuration({"vmStateStorageClass": "rwx", "useEmulation": True, "density": DENSITY})
    assert config["vmStateStorageClass"] == "rwx"
    developer = config["developerConfiguration"]
    assert (developer["memoryOvercommit"], developer["cpuAllocationRatio"], developer["useEmulation"]) == (
        150,
        4,
        True,
    )
    assert config["ksmConfiguration"] == {"nodeLabelSelector": {"matchLabels": {"ksm": "on"}}}


def test_unset_settings_are_not_written_so_kubevirts_defaults_hold() -> None:
    config = configuration({})
    assert "vmStateStorageClass" not in config
    assert "ksmConfiguration" not in config
    assert set(config["developerConfiguration"]) == {"featureGates"}


def test_ksm_without_a_selector_selects_every_node() -> None:
    """virt-handler reads a missing selector as no node at all, so enabled writes an empty one."""
    assert configuration({"density": {"ksm": {"enabled": True}}})["ksmConfiguration"] == {
        "nodeLabelSelector": {}
    }
    assert "ksmConfiguration" not in configuration({"density": {"ksm": {"enabled": False}}})


@pytest.mark.parametrize(
    ("density", "field"),
    [
        ({"memoryOvercommitPercent": 99}, "memoryOvercommitPercent"),
        ({"memoryOvercommitPercent": 401}, "memoryOvercommitPercent"),
        ({"cpuAllocationRatio": 0}, "cpuAllocationRatio"),
        ({"ksm": {"nodeLabelSelector": {"matchExpressions": [{"key": "a", "operator": "In"}]}}}, "values"),
    ],
)
def test_density_out_of_bounds_is_refused_naming_the_field(density: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        models.parse_spec({"kubevirt": {"density": density}})


# ----------------------------------------------------------------------------- version checks


def test_every_setting_is_supported_by_every_supported_release() -> None:
    """Upstream's types have each field from v1.4.1 on (see api.kubevirtfields)."""
    for minor in (4, 5, 6, 7, 8, 9):
        assert kubevirtfields.missing(f"v1.{minor}.0", kubevirtfields.FIELDS) == []


def test_a_field_the_release_lacks_is_not_written_and_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """The mechanism for the next such field: pretend memoryOvercommit arrived in v1.9."""
    later = dataclasses.replace(kubevirtfields.MEMORY_OVERCOMMIT, since=(1, 9))
    monkeypatch.setattr(kubevirtfields, "MEMORY_OVERCOMMIT", later)
    monkeypatch.setattr(kubevirtfields, "FIELDS", (later, *kubevirtfields.FIELDS[2:]))
    old = {"version": "v1.8.4", "density": {"memoryOvercommitPercent": 150, "cpuAllocationRatio": 2}}
    developer = configuration(old)["developerConfiguration"]
    assert "memoryOvercommit" not in developer
    assert developer["cpuAllocationRatio"] == 2
    condition = supported(old)
    assert (condition.status, condition.reason) == ("False", "FieldsNotSupported")
    assert "spec.kubevirt.density.memoryOvercommitPercent" in condition.message
    assert "from v1.9" in condition.message
    assert "v1.8.4" in condition.message
    assert "memoryOvercommit" in configuration({**old, "version": "v1.9.0"})["developerConfiguration"]


@pytest.mark.parametrize(
    ("kubevirt_spec", "status", "reason"),
    [
        ({}, "True", "AllFieldsSupported"),
        ({"version": "v1.5.3", "vmStateStorageClass": "rwx"}, "False", "FeatureGateNeeded"),
        (
            {
                "version": "v1.5.3",
                "vmStateStorageClass": "rwx",
                "featureGates": {"add": ["VMPersistentState"]},
            },
            "True",
            "AllFieldsSupported",
        ),
        ({"version": "v1.6.1", "vmStateStorageClass": "rwx"}, "True", "AllFieldsSupported"),
        ({"version": "v1.4.1", "density": DENSITY, "useEmulation": True}, "True", "AllFieldsSupported"),
    ],
)
def test_persistent_state_before_v1_6_needs_its_gate(
    kubevirt_spec: dict[str, Any], status: str, reason: str
) -> None:
    condition = supported(kubevirt_spec)
    assert (condition.type, condition.status, condition.reason) == (
        "KubeVirtConfigurationSupported",
        status,
        reason,
    )
    if reason == "FeatureGateNeeded":
        assert "VMPersistentState" in condition.message
        assert "featureGates.add" in condition.message


# --------------------------------------------------------------------------------------- CDI CR


def test_the_cdi_cr_carries_registries_proxy_and_importer_resources() -> None:
    spec = models.parse_spec(
        {
            "cdi": {
                "insecureRegistries": ["registry.lab:5000"],
                "importProxy": {"httpsProxy": "http://proxy:3128", "trustedCAConfigMap": "private-ca"},
                "importerResources": {"requests": {"cpu": "500m"}, "limits": {"memory": "2Gi"}},
            }
        }
    )
    config = cdi.cdi_cr(spec)["spec"]["config"]
    assert config["insecureRegistries"] == ["registry.lab:5000"]
    assert config["importProxy"] == {"HTTPSProxy": "http://proxy:3128", "trustedCAProxy": "private-ca"}
    assert config["podResourceRequirements"] == {"requests": {"cpu": "500m"}, "limits": {"memory": "2Gi"}}
    default = cdi.cdi_cr(models.parse_spec({}))["spec"]["config"]
    assert not {"insecureRegistries", "importProxy", "podResourceRequirements"} & set(default)


@pytest.mark.parametrize(
    ("cdi_spec", "named"),
    [
        ({"importerResources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1500m"}}}, "cpu limit"),
        (
            {"importerResources": {"requests": {"memory": "1Gi"}, "limits": {"memory": "1000Mi"}}},
            "memory limit",
        ),
        ({"importerResources": {"requests": {"cpu": "1.5Gi"}}}, "cpu"),
        ({"insecureRegistries": ["https://registry.lab"]}, "insecureRegistries"),
        ({"insecureRegistries": ["a.lab", "a.lab"]}, "duplicate"),
        ({"importProxy": {"httpProxy": "proxy:3128"}}, "httpProxy"),
        ({"importProxy": {"trustedCAConfigMap": "Not_A_Name"}}, "trustedCAConfigMap"),
    ],
)
def test_bad_cdi_import_settings_are_refused(cdi_spec: dict[str, Any], named: str) -> None:
    with pytest.raises(ValidationError, match=named):
        models.parse_spec({"cdi": cdi_spec})


def test_quantities_compare_across_suffixes() -> None:
    from vmo_operator.api.models.cdiimport import quantity

    assert quantity("1500m") < quantity("2")
    assert quantity("1Gi") > quantity("1000Mi")
    assert quantity("1G") < quantity("1Gi")


# ---------------------------------------------------------------------------------- KVMAvailable


def node(name: str, kvm_count: str | None = None, *, cordoned: bool = False) -> dict[str, Any]:
    allocatable = {"cpu": "32"} if kvm_count is None else {"cpu": "32", kvm.KVM_DEVICE: kvm_count}
    return {
        "metadata": {"name": name},
        "spec": {"unschedulable": True} if cordoned else {},
        "status": {"allocatable": allocatable},
    }


def test_only_schedulable_nodes_with_the_device_count() -> None:
    found = kvm.kvm_nodes(
        [node("a"), node("b", "1k"), node("c", "0"), node("d", "110", cordoned=True), node("e", "junk")]
    )
    assert found == kvm.KVMNodes(with_kvm=("b",), schedulable=4, cordoned_with_kvm=1)


def kvm_condition(
    spec: dict[str, Any], nodes: list[dict[str, Any]] | None, ready: bool = True
) -> ConditionSpec:
    """KVMAvailable as the component reports it, through assess and extra_conditions."""
    parsed = models.parse_spec(spec)
    component = kubevirt.KUBEVIRT
    facts = ClusterFacts(
        by_component={} if nodes is None else {"kubevirt": component.facts_from([nodes, []])}
    )
    judged = component.assess(parsed, facts, [], {})
    health = ComponentHealth("kubevirt", True, ready, details=judged.details)
    conditions = {c.type: c for c in component.extra_conditions(parsed, health)}
    return conditions[kvm.KVM_AVAILABLE]


@pytest.mark.parametrize(
    ("spec", "nodes", "ready", "status", "reason"),
    [
        ({}, [node("a", "1000"), node("b")], True, "True", "KVMDeviceAllocatable"),
        ({}, [node("a"), node("b", "1000", cordoned=True)], True, "False", "NoKVMDevice"),
        ({"kubevirt": {"useEmulation": True}}, [node("a")], True, "False", "NoKVMDeviceEmulating"),
        ({}, [node("a")], False, "Unknown", "KubeVirtNotReady"),
        ({}, [node("a", "1000")], False, "True", "KVMDeviceAllocatable"),
        ({}, None, True, "Unknown", "NodesNotObserved"),
    ],
)
def test_kvm_available(
    spec: dict[str, Any], nodes: list[dict[str, Any]] | None, ready: bool, status: str, reason: str
) -> None:
    condition = kvm_condition(spec, nodes, ready)
    assert (condition.status, condition.reason) == (status, reason)


def test_no_kvm_suggests_emulation_and_names_cordoned_nodes() -> None:
    message = kvm_condition({}, [node("a", "1000", cordoned=True)]).message
    assert "spec.kubevirt.useEmulation: true" in message
    assert "1 cordoned nodes do" in message


def test_kvm_available_names_a_few_nodes_and_counts_the_rest() -> None:
    message = kvm_condition({}, [node(f"n{i}", "1000") for i in range(7)]).message
    assert message.endswith("n0, n1, n2, n3, n4 and 2 more")
    assert "7 of 7" in message


def test_a_disabled_kubevirt_reports_no_kvm_condition() -> None:
    spec = models.parse_spec({"kubevirt": {"enabled": False}})
    assert kubevirt.KUBEVIRT.extra_conditions(spec, ComponentHealth("kubevirt", False, True)) == []


def test_the_pack_knobs_example_is_valid_and_reaches_the_crs() -> None:
    from pathlib import Path

    import yaml

    text = (Path(__file__).parents[2] / "examples/vmoprofile-pack-knobs.yaml").read_text()
    spec = models.parse_spec(yaml.safe_load(text)["spec"])
    assert kubevirt.kubevirt_cr(spec)["spec"]["configuration"]["vmStateStorageClass"] == "rwx-state"
    assert cdi.cdi_cr(spec)["spec"]["config"]["importProxy"]["trustedCAProxy"] == "private-ca"
    assert [c.driver for c in spec.snapshot_controller.snapshot_classes()] == [
        "rbd.csi.ceph.com",
        "nfs.csi.k8s.io",
    ]
    assert spec.monitoring.rule_labels == {"release": "kube-prometheus-stack"}
    assert "team-a" in spec.vm_namespaces.namespaces
    assert [s.name for s in spec.golden_images.sources] == ["fedora", "centos-stream9", "cirros"]
    assert kubevirt.kubevirt_cr(spec)["spec"]["configuration"]["commonInstancetypesDeployment"] == {
        "enabled": True
    }
    assert spec.mac_pool.namespace_selector.match_labels == {"vmo.dev/vm-namespace": "true"}


def test_no_kvm_is_a_warning_event_unless_emulation_is_on() -> None:
    from vmo_operator.operator.reporting import condition_events

    def status(reason: str) -> dict[str, Any]:
        return {"conditions": [{"type": "KVMAvailable", "status": "False", "reason": reason, "message": "m"}]}

    assert condition_events({}, status("NoKVMDevice")) == [("Warning", "NoKVMDevice", "m")]
    assert condition_events({}, status("NoKVMDeviceEmulating")) == [("Normal", "NoKVMDeviceEmulating", "m")]
