"""Multus's node side: the CNI plugins and node agent it renders, and the reports it folds in."""

from __future__ import annotations

import json
from typing import Any

from vmo_operator.api import models
from vmo_operator.components import node_network, node_reports
from vmo_operator.components.base import ClusterFacts, ComponentHealth
from vmo_operator.components.multus import MULTUS
from vmo_operator.kube.objects import Manifest, ObjectKey

NETWORKS = [
    {"name": "vlan-100", "vlan": 100},
    {"name": "vlan-200", "vlan": 200},
    {"name": "vlan-300", "vlan": 300, "bridge": "br1"},
]


def _spec(**multus: Any) -> models.VMOProfileSpec:
    return models.parse_spec({"multus": {"networks": NETWORKS, **multus}})


def _kinds(spec: models.VMOProfileSpec) -> dict[str, str]:
    return {o["metadata"]["name"]: o["kind"] for o in MULTUS.render(spec, ClusterFacts())}


def _daemonset(spec: models.VMOProfileSpec, name: str) -> Manifest:
    (found,) = [
        o
        for o in MULTUS.render(spec, ClusterFacts())
        if o["metadata"]["name"] == name and o["kind"] == "DaemonSet"
    ]
    return found


def test_multus_renders_the_plugins_and_the_agent_and_options_remove_them() -> None:
    names = _kinds(_spec())
    assert names["kube-cni-linux-bridge-plugin"] == "DaemonSet"
    assert names[node_network.AGENT] in ("DaemonSet", "ConfigMap")
    assert "nodebridgereports.vmo.dev" in names
    off = _kinds(_spec(cniPlugins={"enabled": False}, nodeAgent={"enabled": False}))
    assert "kube-cni-linux-bridge-plugin" not in off
    assert node_network.AGENT not in off
    assert "nodebridgereports.vmo.dev" not in off
    assert MULTUS.render(models.parse_spec({"multus": {"enabled": False}}), ClusterFacts()) == []


def test_plugins_are_pinned_mirrored_and_copied_into_the_configured_dir() -> None:
    ds = _daemonset(
        _spec(registry="mirror.example.com/m", cniPlugins={"binDir": "/var/lib/cni/bin"}),
        "kube-cni-linux-bridge-plugin",
    )
    pod = ds["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert (
        container["image"]
        == f"mirror.example.com/m/cni-default-plugins:{models.networking.CNI_PLUGINS_VERSION}"
    )
    assert pod["volumes"] == [{"name": "cnibin", "hostPath": {"path": "/var/lib/cni/bin"}}]
    script = container["command"][-1]
    assert "for plugin in bridge tuning" in script
    assert "sha256sum -c" in script
    own = _daemonset(_spec(cniPlugins={"registry": "own.example.com"}), "kube-cni-linux-bridge-plugin")
    assert own["spec"]["template"]["spec"]["containers"][0]["image"].startswith(
        "own.example.com/cni-default-plugins:"
    )


def test_the_agent_has_host_network_and_net_admin_only() -> None:
    pod = _daemonset(_spec(workloads={"nodeSelector": {"vms": "yes"}}), node_network.AGENT)["spec"][
        "template"
    ]["spec"]
    (container,) = pod["containers"]
    assert pod["hostNetwork"] is True
    assert "hostPID" not in pod
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["NET_ADMIN"]}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert "privileged" not in container["securityContext"]
    assert container["args"][0] == "node-agent"
    assert container["image"] == node_network.AGENT_IMAGE
    assert pod["nodeSelector"] == {"vms": "yes"}
    rules = next(
        o
        for o in MULTUS.render(_spec(), ClusterFacts())
        if o["kind"] == "ClusterRole" and o["metadata"]["name"] == node_network.AGENT
    )["rules"]
    assert rules == [
        {"apiGroups": ["vmo.dev"], "resources": ["nodebridgereports"], "verbs": ["get", "create", "patch"]}
    ]


def test_agent_config_opens_exactly_the_networks_vlans_by_default() -> None:
    config = json.loads(node_network.agent_config(_spec().multus))
    assert [(b["name"], b["allowedVlans"]) for b in config["bridges"]] == [
        ("br0", ["100", "200"]),
        ("br1", ["300"]),
    ]
    fewer = json.loads(
        node_network.agent_config(models.parse_spec({"multus": {"networks": NETWORKS[1:]}}).multus)
    )
    assert fewer["bridges"][0]["allowedVlans"] == ["200"]
    explicit = _spec(
        bridges=[
            {"name": "br0", "allowedVlans": ["100-102"], "hostVlans": ["7"], "create": True, "uplink": "eth1"}
        ]
    )
    br0 = json.loads(node_network.agent_config(explicit.multus))["bridges"][0]
    assert (br0["allowedVlans"], br0["hostVlans"], br0["create"], br0["uplink"]) == (
        ["100-102"],
        ["7"],
        True,
        "eth1",
    )


def _report(node: str, digest: str, *bridges: dict[str, Any]) -> Manifest:
    return {"metadata": {"name": node}, "status": {"configHash": digest, "bridges": list(bridges)}}


def _health_with(spec: models.VMOProfileSpec, reports: list[Manifest], ready: bool = True) -> ComponentHealth:
    base = ComponentHealth("multus", True, ready, reason="Ready" if ready else "NotReady", message="base")
    digest = node_reports.config_hash(node_network.agent_config(spec.multus))
    return node_reports.fold(base, spec.multus, node_reports.reports_from(reports), digest)


GOOD = {
    "name": "br0",
    "exists": True,
    "uplinks": ["eth1"],
    "vlanFiltering": True,
    "vlanFilteringSupported": True,
}


def test_a_missing_bridge_is_degraded_naming_the_nodes() -> None:
    spec = _spec()
    digest = node_reports.config_hash(node_network.agent_config(spec.multus))
    health = _health_with(
        spec,
        [
            _report("node-a", digest, GOOD),
            _report("node-b", digest, {"name": "br0", "exists": False}),
            _report("node-c", digest, {"name": "br0", "exists": False}),
        ],
    )
    assert (health.ready, health.degraded, health.reason) == (False, True, "BridgeMissing")
    assert "bridge br0 missing on nodes node-b, node-c" in health.message


def test_a_filtered_network_vlan_is_not_ready_and_a_lonely_bridge_is_only_noted() -> None:
    spec = _spec()
    digest = node_reports.config_hash(node_network.agent_config(spec.multus))
    filtered = _health_with(spec, [_report("node-a", digest, {**GOOD, "filteredVlans": ["200", "900"]})])
    assert (filtered.ready, filtered.degraded, filtered.reason) == (False, False, "VlanFilteredOut")
    assert filtered.message == "VLAN 200 filtered out of br0's uplink on nodes node-a"
    lonely = _health_with(spec, [_report("node-a", digest, {**GOOD, "uplinks": []})])
    assert lonely.ready
    assert "bridge br0 has no uplink on nodes node-a" in lonely.message


def test_a_kernel_without_vlan_filtering_is_degraded() -> None:
    spec = _spec()
    digest = node_reports.config_hash(node_network.agent_config(spec.multus))
    health = _health_with(
        spec, [_report("n", digest, {**GOOD, "vlanFilteringSupported": False, "vlanFiltering": False})]
    )
    assert (health.ready, health.degraded, health.reason) == (False, True, "VlanFilteringUnsupported")


def test_reports_for_another_configuration_are_left_out() -> None:
    health = _health_with(_spec(), [_report("node-b", "old-hash", {"name": "br0", "exists": False})])
    assert health.ready
    assert health.details["reportingNodes"] == []


def test_node_problems_add_to_a_component_already_not_ready() -> None:
    spec = _spec()
    digest = node_reports.config_hash(node_network.agent_config(spec.multus))
    health = _health_with(spec, [_report("n", digest, {"name": "br0", "exists": False})], ready=False)
    assert (health.reason, health.degraded) == ("NotReady", True)
    assert health.message == "base; bridge br0 missing on nodes n"


def test_multus_assess_reads_the_reports_from_its_facts() -> None:
    spec = _spec()
    digest = node_reports.config_hash(node_network.agent_config(spec.multus))
    facts = ClusterFacts(
        by_component={
            "multus": MULTUS.facts_from([[_report("w1", digest, {"name": "br0", "exists": False})]])
        }
    )
    rendered = MULTUS.render(spec, facts)
    observed = {ObjectKey.of(o): _ready(o) for o in rendered}
    health = MULTUS.assess(spec, facts, rendered, observed)
    assert (health.ready, health.degraded) == (False, True)
    assert "w1" in health.message


def _ready(obj: Manifest) -> Manifest:
    if obj["kind"] == "DaemonSet":
        return {**obj, "status": {"desiredNumberScheduled": 1, "numberReady": 1, "updatedNumberScheduled": 1}}
    if obj["kind"] == "CustomResourceDefinition":
        return {**obj, "status": {"conditions": [{"type": "Established", "status": "True"}]}}
    return obj


def test_vmo_render_of_the_example_holds_both_daemonsets() -> None:
    from pathlib import Path

    from vmo_operator.cli import load_profile
    from vmo_operator.components import registry

    example = load_profile(str(Path(__file__).parents[2] / "examples" / "vmoprofile.yaml"))
    rendered = registry.render_all(example.spec, ClusterFacts(), example.metadata.name)
    daemonsets = {o["metadata"]["name"] for o in rendered if o["kind"] == "DaemonSet"}
    assert {"kube-cni-linux-bridge-plugin", node_network.AGENT} <= daemonsets
