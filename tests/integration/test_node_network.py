"""Multus's node side on the local control plane: the CNI plugins and node agent DaemonSets, and
the profile's status from what nodes report (written here by a test double of a node)."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.kube import condition, get_profile
from tests.support.node_double import NodeDouble
from tests.support.profiles import SharedProfile, kube_of
from tests.support.waiting import eventually
from vmo_operator.components import node_network
from vmo_operator.kube import kinds
from vmo_operator.localenv.controlplane import ControlPlane
from vmo_operator.nodeagent.plan import Finding

pytestmark = pytest.mark.integration

SPEC: dict[str, Any] = {
    "multus": {"networks": [{"name": "vlan-100", "vlan": 100}, {"name": "vlan-200", "vlan": 200}]},
}
DAEMONSETS = ("kube-cni-linux-bridge-plugin", node_network.AGENT)


def _daemonset(api: Any, name: str) -> dict[str, Any] | None:
    return kube_of(api).get(kinds.DAEMON_SET, name, node_network.NAMESPACE)


def _gone(api: Any, name: str) -> bool:
    return _daemonset(api, name) is None


def _ready(api: Any, name: str) -> bool:
    ds = _daemonset(api, name)
    status = (ds or {}).get("status") or {}
    desired = int(status.get("desiredNumberScheduled", 0))
    return desired > 0 and int(status.get("numberReady", 0)) == desired


@pytest.fixture
def reports_cleared(api_client: Any) -> Iterator[None]:
    yield
    kube = kube_of(api_client)
    for item in kube.list(kinds.NODE_BRIDGE_REPORT):
        kube.delete(kinds.NODE_BRIDGE_REPORT, item["metadata"]["name"])


def test_plugins_and_agent_become_ready_on_the_nodes_and_go_with_multus(
    api_client: Any, profile: SharedProfile, control_plane: ControlPlane
) -> None:
    profile.converge(SPEC)
    for name in DAEMONSETS:
        eventually(functools.partial(_ready, api_client, name), timeout=120, what=f"{name} Ready")
        ready = _daemonset(api_client, name)
        assert ready is not None
        assert ready["status"]["numberReady"] == control_plane.node_count
    profile.converge({"multus": {"enabled": False}})
    for name in DAEMONSETS:
        eventually(functools.partial(_gone, api_client, name), timeout=60, what=f"{name} pruned")


def _multus_ready(api: Any) -> dict[str, Any] | None:
    return condition(get_profile(api, "vmo"), "MultusReady")


def test_a_node_without_the_bridge_makes_the_profile_degraded_naming_it(
    api_client: Any, profile: SharedProfile, control_plane: ControlPlane, reports_cleared: None
) -> None:
    profile.converge(SPEC)
    node = NodeDouble(control_plane, kube_of(api_client), "kwok-node-1")
    node.reports(Finding("br0", exists=False))

    def degraded() -> dict[str, Any] | None:
        found = condition(get_profile(api_client, "vmo"), "Degraded")
        return found if found and found["status"] == "True" and "kwok-node-1" in found["message"] else None

    # Reports are read each round; the test operator's resync is 5 s.
    said = eventually(degraded, timeout=60, what="Degraded naming kwok-node-1")
    assert "bridge br0 missing on nodes kwok-node-1" in said["message"]
    multus = _multus_ready(api_client)
    assert multus is not None
    assert (multus["status"], multus["reason"]) == ("False", "BridgeMissing")

    node.reports(
        Finding(
            "br0", exists=True, uplinks=("eth1",), vlan_filtering=True, uplink_vlans=frozenset({100, 200})
        )
    )
    eventually(
        lambda: (_multus_ready(api_client) or {}).get("status") == "True",
        timeout=60,
        what="MultusReady again",
    )

    node.reports(
        Finding(
            "br0",
            exists=True,
            uplinks=("eth1",),
            vlan_filtering=True,
            uplink_vlans=frozenset({100}),
            filtered_vlans=frozenset({200}),
        )
    )
    filtered = eventually(
        lambda: (c := _multus_ready(api_client)) and c["reason"] == "VlanFilteredOut" and c,
        timeout=60,
        what="MultusReady=False VlanFilteredOut",
    )
    assert "VLAN 200 filtered out of br0's uplink on nodes kwok-node-1" in filtered["message"]
