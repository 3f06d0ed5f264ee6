"""The real `vmo node-agent` against a network namespace this test makes, reporting to the real API.

The agent runs as a process with its own ServiceAccount's credentials (so only the rendered RBAC
lets it write) and looks at the test's namespace (`--netns`) while it talks to the API server on
loopback. Its settings file is the rendered ConfigMap, written where the kubelet would mount it.
The namespace first has no bridge, then the bridge with an uplink and a VM-like port. This
machine's kernel has no bridge VLAN filtering, and the agent must say so; on a kernel that has it
the filtering is reported on (make netproof is where that part runs).
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pyroute2 import IPRoute, netns  # type: ignore[import-untyped]

from tests.support.kube import condition, get_profile
from tests.support.node_double import agent_settings
from tests.support.profiles import SharedProfile, kube_of
from tests.support.waiting import eventually
from vmo_operator.components import node_network, node_reports
from vmo_operator.kube import kinds
from vmo_operator.localenv.controlplane import ControlPlane

pytestmark = pytest.mark.integration

NODE = "kwok-node-2"
NETWORKS = [{"name": "vlan-100", "vlan": 100}, {"name": "vlan-200", "vlan": 200}]


@dataclass
class RealAgent:
    api: Any
    namespace: str
    settings: Path
    log: Path

    def write_settings(self) -> str:
        """The rendered settings into the agent's file (what the kubelet does); returns their hash."""
        text = eventually(lambda: agent_settings(kube_of(self.api)), timeout=30, what="agent settings")
        self.settings.write_text(text)
        return node_reports.config_hash(text)

    def report(self, digest: str) -> dict[str, Any]:
        """The node's report once it answers the settings `digest`."""

        def current() -> dict[str, Any] | None:
            found = kube_of(self.api).get(kinds.NODE_BRIDGE_REPORT, NODE)
            return found if found and found["status"]["configHash"] == digest else None

        return eventually(current, timeout=30, what=f"report for {digest}")

    def bridge(self, digest: str, name: str = "br0") -> dict[str, Any]:
        return next(b for b in self.report(digest)["status"]["bridges"] if b["name"] == name)


@pytest.fixture
def real_agent(api_client: Any, control_plane: ControlPlane, tmp_path: Path) -> Iterator[RealAgent]:
    name = f"vmo-agent-{uuid.uuid4().hex[:8]}"
    netns.create(name)
    agent = RealAgent(api_client, name, tmp_path / node_reports.CONFIG_KEY, tmp_path / "agent.log")
    kubeconfig = control_plane.service_account_kubeconfig(node_network.NAMESPACE, node_network.AGENT)
    vmo = Path(sys.executable).with_name("vmo")
    argv = [str(vmo), "node-agent", "--config", str(agent.settings), "--node", NODE, "--interval", "1"]
    argv += ["--kubeconfig", str(kubeconfig), "--netns", name]
    process: subprocess.Popen[bytes] | None = None
    try:
        with agent.log.open("wb") as log:
            process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
            yield agent
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
        netns.remove(name)
        kube = kube_of(api_client)
        if kube.get(kinds.NODE_BRIDGE_REPORT, NODE) is not None:
            kube.delete(kinds.NODE_BRIDGE_REPORT, NODE)


def _degraded_naming(api: Any, node: str) -> dict[str, Any] | None:
    found = condition(get_profile(api, "vmo"), "Degraded")
    return found if found and found["status"] == "True" and node in found["message"] else None


def _multus(api: Any) -> dict[str, Any]:
    return condition(get_profile(api, "vmo"), "MultusReady") or {}


def test_the_real_agent_reports_a_missing_bridge_then_the_bridge_and_its_uplink(
    api_client: Any, profile: SharedProfile, real_agent: RealAgent
) -> None:
    profile.converge({"multus": {"networks": NETWORKS, "bridges": [{"name": "br0", "uplink": "up0"}]}})
    digest = real_agent.write_settings()
    assert real_agent.bridge(digest) == {
        "name": "br0",
        "exists": False,
        "created": False,
        "uplinks": [],
        "vlanFilteringSupported": True,
        "vlanFiltering": False,
        "uplinkVlans": [],
        "filteredVlans": [],
    }, real_agent.log.read_text()
    said = eventually(lambda: _degraded_naming(api_client, NODE), timeout=60, what=f"Degraded naming {NODE}")
    assert f"bridge br0 missing on nodes {NODE}" in said["message"]

    # The bridge is built under another name and renamed once its ports are on it: the agent
    # reports every second, so a br0 that appeared before its ports could be reported bare.
    with IPRoute(netns=real_agent.namespace) as ipr:
        ipr.link("add", ifname="br0-building", kind="bridge")
        ipr.link("add", ifname="up0", kind="veth", peer="up0-peer")
        ipr.link("add", ifname="vm0", kind="veth", peer="vm0-peer")
        bridge = ipr.link_lookup(ifname="br0-building")[0]
        for port in ("up0", "vm0"):
            ipr.link("set", index=ipr.link_lookup(ifname=port)[0], master=bridge)
        ipr.link("set", index=bridge, ifname="br0")

    def present() -> dict[str, Any] | None:
        found = real_agent.bridge(digest)
        return found if found["exists"] else None

    found = eventually(present, timeout=30, what="br0 reported present")
    assert found["uplinks"] == ["up0"]
    if found["vlanFilteringSupported"]:  # a kernel with VLAN filtering: the agent turned it on
        assert found["vlanFiltering"] is True
        assert found["uplinkVlans"] == ["100", "200"]
        eventually(lambda: _multus(api_client).get("status") == "True", timeout=60, what="MultusReady")
    else:  # this machine's kernel: the VLAN networks cannot work here, and the status says why
        assert "operation not supported" in found["message"]
        unsupported = eventually(
            lambda: _multus(api_client).get("reason") == "VlanFilteringUnsupported" and _multus(api_client),
            timeout=60,
            what="MultusReady=False VlanFilteringUnsupported",
        )
        assert NODE in unsupported["message"]
        assert "missing" not in unsupported["message"]


def test_the_real_agent_creates_a_bridge_only_when_asked_and_enslaves_only_the_named_nic(
    api_client: Any, profile: SharedProfile, real_agent: RealAgent
) -> None:
    with IPRoute(netns=real_agent.namespace) as ipr:
        for nic in ("eth1", "eth2"):
            ipr.link("add", ifname=nic, kind="veth", peer=f"{nic}-peer")
    bridges = [{"name": "br7", "create": True, "uplink": "eth1", "vlanFiltering": False}]
    profile.converge(
        {"multus": {"networks": [{"name": "v7", "vlan": 7, "bridge": "br7"}], "bridges": bridges}}
    )
    digest = real_agent.write_settings()
    found = eventually(
        lambda: (b := real_agent.bridge(digest, "br7"))["exists"] and b, timeout=30, what="br7"
    )
    assert (found["created"] or found["exists"], found["uplinks"]) == (True, ["eth1"])
    with IPRoute(netns=real_agent.namespace) as ipr:
        (eth2,) = ipr.get_links(ipr.link_lookup(ifname="eth2")[0])
        assert eth2.get("IFLA_MASTER") is None
    eventually(lambda: _multus(api_client).get("status") == "True", timeout=60, what="MultusReady")
