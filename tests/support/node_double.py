"""A TEST DOUBLE of a node's `vmo node-agent`: writes the report a real agent would write.

kwok's nodes have no kernel of their own, so no agent runs on them. `NodeDouble` stands in for
one: it reads the agent settings the operator rendered (the ConfigMap a real agent mounts), hashes
them as the agent does, and writes the node's `NodeBridgeReport` with the agent's own ServiceAccount
credentials, so the rendered RBAC is what lets it write. What it reports is whatever the test says,
not what any kernel found; tests/integration/test_node_agent.py runs the real agent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vmo_operator.components import node_network, node_reports
from vmo_operator.kube import kinds
from vmo_operator.kube.client import KubeClient
from vmo_operator.kube.connect import connect_kubeconfig
from vmo_operator.localenv.controlplane import ControlPlane
from vmo_operator.nodeagent.main import FIELD_MANAGER, report
from vmo_operator.nodeagent.plan import Finding


def agent_settings(kube: KubeClient) -> str | None:
    """The rendered agent settings text, as a node would see it mounted; None before it exists."""
    found = kube.get(kinds.CONFIG_MAP, node_network.AGENT, node_network.NAMESPACE)
    return None if found is None else str(found["data"][node_reports.CONFIG_KEY])


class NodeDouble:
    """Stands in for node `node`'s agent (see the module docstring)."""

    def __init__(self, plane: ControlPlane, admin: KubeClient, node: str) -> None:
        self.node = node
        self.admin = admin
        config = plane.service_account_kubeconfig(node_network.NAMESPACE, node_network.AGENT)
        self.as_agent = KubeClient(connect_kubeconfig(config), FIELD_MANAGER)

    def settings_path(self, directory: Path) -> Path:
        """The settings written to a file, where a real agent reads its mounted ConfigMap."""
        text = agent_settings(self.admin)
        assert text is not None, "the agent's ConfigMap is not rendered"
        path = directory / node_reports.CONFIG_KEY
        path.write_text(text)
        return path

    def reports(self, *findings: Finding) -> dict[str, Any]:
        text = agent_settings(self.admin)
        assert text is not None, "the agent's ConfigMap is not rendered"
        return self.as_agent.apply(
            kinds.NODE_BRIDGE_REPORT, report(self.node, node_reports.config_hash(text), findings)
        )
