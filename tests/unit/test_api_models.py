"""The VMOProfile models: defaults, and errors that name the field and the reason."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from vmo_operator.api import models


def test_empty_spec_defaults() -> None:
    spec = models.parse_spec({})
    kv = spec.kubevirt
    assert (kv.enabled, kv.version, kv.registry) == (True, "v1.9.0", None)
    assert kv.eviction_strategy == "LiveMigrate"
    assert kv.vm_rollout_strategy == "LiveUpdate"
    assert kv.workload_update_strategy.workload_update_methods == ["LiveMigrate"]
    assert kv.workload_update_strategy.batch_eviction_size == 10
    assert kv.workload_update_strategy.batch_eviction_interval == "1m"
    assert kv.migrations.parallel_migrations_per_cluster == 5
    assert kv.migrations.parallel_outbound_migrations_per_node == 2
    assert spec.cdi.version == "v1.65.0"
    assert spec.cdi.feature_gates == ["HonorWaitForFirstConsumer"]
    assert spec.cdi.filesystem_overhead.global_ == "0.06"
    assert spec.multus.networks == []
    assert spec.descheduler.interval == "5m"
    assert spec.snapshot_controller.mode == "Auto"
    assert spec.uninstall_strategy == "BlockUninstallIfWorkloadsExist"
    assert spec.mac_pool.prefixes == ["02", "06", "0A", "0E"]
    assert spec.mac_pool.duplicate_policy == "Deny"
    assert spec.mac_pool.release_grace_period_seconds == 300
    expr = spec.mac_pool.namespace_selector.match_expressions[0]
    assert (expr.key, expr.operator, expr.values) == ("kubernetes.io/metadata.name", "NotIn", ["kube-system"])


def test_network_defaults() -> None:
    net = models.parse_spec({"multus": {"networks": [{"name": "vlan-10", "vlan": 10}]}}).multus.networks[0]
    assert (net.bridge, net.namespaces, net.mtu) == ("br0", ["default"], None)


def test_mac_prefixes_are_normalised_to_upper_case() -> None:
    assert models.parse_spec({"macPool": {"prefixes": ["0a", "02"]}}).mac_pool.prefixes == ["0A", "02"]


def test_dump_uses_json_names() -> None:
    dumped = models.parse_spec({}).model_dump(mode="json")
    assert "snapshotController" in dumped
    assert "completionTimeoutPerGiB" in dumped["kubevirt"]["migrations"]
    assert "uploadProxyURLOverride" in dumped["cdi"]
    assert "global" in dumped["cdi"]["filesystemOverhead"]


def _errors(spec: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as info:
        models.parse_spec(spec)
    return [(".".join(str(p) for p in e["loc"]), e["msg"]) for e in info.value.errors()]


def _net(**kw: Any) -> dict[str, Any]:
    return {"multus": {"networks": [{"name": "n1", "vlan": 10, **kw}]}}


# (spec, field location, words the message must contain)
INVALID: list[tuple[str, dict[str, Any], str, str]] = [
    ("vlan 0", _net(vlan=0), "multus.networks.0.vlan", "greater than or equal to 1"),
    ("vlan 4095", _net(vlan=4095), "multus.networks.0.vlan", "less than or equal to 4094"),
    ("vlan as string", _net(vlan="10"), "multus.networks.0.vlan", "valid integer"),
    ("bridge too long", _net(bridge="a-very-long-bridge"), "multus.networks.0.bridge", "at most 15"),
    ("network name not DNS-1123", _net(name="Vlan_10"), "multus.networks.0.name", "pattern"),
    (
        "duplicate network names",
        {"multus": {"networks": [{"name": "a", "vlan": 1}, {"name": "a", "vlan": 2}]}},
        "multus.networks",
        "duplicate network name 'a'",
    ),
    (
        "duplicate namespaces",
        _net(namespaces=["x", "x"]),
        "multus.networks.0.namespaces",
        "duplicate namespace",
    ),
    (
        "mac prefix 03",
        {"macPool": {"prefixes": ["02", "03"]}},
        "macPool.prefixes",
        "locally administered unicast",
    ),
    (
        "mac prefix 0a twice",
        {"macPool": {"prefixes": ["0a", "0A"]}},
        "macPool.prefixes",
        "duplicate MAC prefix",
    ),
    ("no mac prefixes", {"macPool": {"prefixes": []}}, "macPool.prefixes", "at least 1"),
    (
        "gate added and removed",
        {"kubevirt": {"featureGates": {"add": ["Snapshot"], "remove": ["Snapshot"]}}},
        "kubevirt.featureGates",
        "cannot be both added and removed: Snapshot",
    ),
    (
        "gate name",
        {"kubevirt": {"featureGates": {"add": ["not a gate"]}}},
        "kubevirt.featureGates.add.0",
        "pattern",
    ),
    ("kubevirt too old", {"kubevirt": {"version": "v1.3.0"}}, "kubevirt.version", "v1.4.x, v1.5.x"),
    ("kubevirt too new", {"kubevirt": {"version": "v1.10.0"}}, "kubevirt.version", "supported minors"),
    ("cdi version", {"cdi": {"version": "1.65.0"}}, "cdi.version", "v1.61.x, v1.65.x"),
    ("cdi minor without a served release", {"cdi": {"version": "v1.63.0"}}, "cdi.version", "v1.65.x"),
    ("descheduler version", {"descheduler": {"version": "v0.31.0"}}, "descheduler.version", "v0.35.x"),
    (
        "descheduler minor without a served release",
        {"descheduler": {"version": "v0.34.0"}},
        "descheduler.version",
        "v0.35.x",
    ),
    ("multus version", {"multus": {"version": "v3.9.0"}}, "multus.version", "v4.0.x"),
    ("snapshot version", {"snapshotController": {"version": "v7.0.0"}}, "snapshotController.version", "v8"),
    ("unknown field", {"kubevirt": {"featureGate": {}}}, "kubevirt.featureGate", "Extra inputs"),
    ("snake_case name", {"uninstall_strategy": "RemoveWorkloads"}, "uninstall_strategy", "Extra inputs"),
    ("enum", {"uninstallStrategy": "Never"}, "uninstallStrategy", "'BlockUninstallIfWorkloadsExist'"),
    (
        "stage rollout keeps CPU hotplug",
        {"kubevirt": {"vmRolloutStrategy": "Stage"}},
        "kubevirt",
        "needs vmRolloutStrategy LiveUpdate",
    ),
    (
        "no live migration for workload updates",
        {"kubevirt": {"workloadUpdateStrategy": {"workloadUpdateMethods": ["Evict"]}}},
        "kubevirt",
        "needs LiveMigrate",
    ),
    ("duration", {"descheduler": {"interval": "5 minutes"}}, "descheduler.interval", "pattern"),
    (
        "overhead",
        {"cdi": {"filesystemOverhead": {"global": "1.5"}}},
        "cdi.filesystemOverhead.global",
        "pattern",
    ),
    (
        "upload proxy url",
        {"cdi": {"uploadProxyURLOverride": "cdi.example"}},
        "cdi.uploadProxyURLOverride",
        "pattern",
    ),
    (
        "selector In without values",
        {"macPool": {"namespaceSelector": {"matchExpressions": [{"key": "a", "operator": "In"}]}}},
        "macPool.namespaceSelector.matchExpressions.0",
        "values must be non-empty for In and NotIn",
    ),
    ("registry", {"kubevirt": {"registry": "https://quay.io"}}, "kubevirt.registry", "pattern"),
    ("snapshot mode", {"snapshotController": {"mode": "On"}}, "snapshotController.mode", "'Auto'"),
    (
        "tolerationSeconds without NoExecute",
        {"cdi": {"infra": {"tolerations": [{"key": "k", "effect": "NoSchedule", "tolerationSeconds": 5}]}}},
        "cdi.infra.tolerations.0",
        "tolerationSeconds is only allowed with effect NoExecute",
    ),
    (
        "Exists with a value",
        {"cdi": {"infra": {"tolerations": [{"key": "k", "operator": "Exists", "value": "v"}]}}},
        "cdi.infra.tolerations.0",
        "value must be empty when operator is Exists",
    ),
    (
        "empty key with Equal",
        {"kubevirt": {"workloads": {"tolerations": [{"value": "v"}]}}},
        "kubevirt.workloads.tolerations.0",
        "operator must be Exists when key is empty",
    ),
]


@pytest.mark.parametrize(("spec", "location", "words"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_specs_name_the_field(spec: dict[str, Any], location: str, words: str) -> None:
    errors = _errors(spec)
    assert any(loc == location and words in msg for loc, msg in errors), errors


def test_removing_cpu_hotplug_allows_stage_rollouts() -> None:
    spec = models.parse_spec(
        {"kubevirt": {"vmRolloutStrategy": "Stage", "featureGates": {"remove": ["CPUHotplug"]}}}
    )
    assert spec.kubevirt.vm_rollout_strategy == "Stage"


def test_parse_profile_requires_kind_and_short_name() -> None:
    profile = models.parse_profile(
        {"apiVersion": "vmo.dev/v1alpha1", "kind": "VMOProfile", "metadata": {"name": "default", "uid": "x"}}
    )
    assert profile.metadata.name == "default"
    assert profile.spec == models.VMOProfileSpec()
    with pytest.raises(ValidationError) as info:
        models.parse_profile(
            {"apiVersion": "vmo.dev/v1", "kind": "VMOProfile", "metadata": {"name": "x" * 64}}
        )
    locations = {".".join(str(p) for p in e["loc"]) for e in info.value.errors()}
    assert locations == {"apiVersion", "metadata.name"}


def test_status_tolerates_unknown_fields() -> None:
    status = models.VMOProfileStatus.model_validate(
        {"conditions": [{"type": "Available", "status": "True", "extra": 1}], "kopf": {"progress": {}}}
    )
    assert status.conditions[0].type == "Available"
    assert status.model_dump(exclude_none=True)["kopf"] == {"progress": {}}
