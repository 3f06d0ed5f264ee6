"""What node agents report about the bridges, and how the Multus component folds it into its health.

Each node's agent writes one cluster-scoped `NodeBridgeReport` named after the node. A small object
of our own rather than node annotations: annotating Nodes would need `patch nodes`, which lets a
compromised agent relabel or untaint any node in the cluster; this kind can say nothing but what a
node found, and `kubectl get nodebridgereports` lists every node's findings in one table.

A report answers one agent configuration, named by `status.configHash` (the hash of the rendered
ConfigMap's text, which the agent re-reads each round). Reports for an older configuration are
left out of the verdict: the node has not seen the current bridges yet.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from vmo_operator.api import models, vlans
from vmo_operator.components import _workloads as w
from vmo_operator.components.base import ComponentHealth
from vmo_operator.kube.objects import Manifest

GROUP = models.GROUP
KIND = "NodeBridgeReport"
PLURAL = "nodebridgereports"
CONFIG_KEY = "bridges.json"


def config_hash(text: str) -> str:
    """The hash a report carries to say which agent configuration it answers."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _strings(description: str, max_items: int = 64) -> dict[str, Any]:
    return {
        "type": "array",
        "maxItems": max_items,
        "description": description,
        "items": {"type": "string", "maxLength": 64},
    }


_BRIDGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "exists"],
    "properties": {
        "name": {"type": "string", "maxLength": 15},
        "exists": {"type": "boolean", "description": "Whether the bridge exists on the node."},
        "created": {"type": "boolean", "description": "Whether the agent created it (create: true)."},
        "uplinks": _strings("Ports that lead off the node: not veth, tap or tun.", 32),
        "vlanFilteringSupported": {
            "type": "boolean",
            "description": "Whether the node's kernel offers bridge VLAN filtering.",
        },
        "vlanFiltering": {"type": "boolean", "description": "Whether VLAN filtering is on."},
        "uplinkVlans": _strings("VLANs the uplinks carry (ids and ranges)."),
        "filteredVlans": _strings("Allowed VLANs the uplinks do not carry (ids and ranges)."),
        "message": {"type": "string", "maxLength": 1024, "description": "What went wrong, if anything."},
    },
}

REPORT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "One node's bridges, as its vmo node agent found them; named after the node.",
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "status": {
            "type": "object",
            "properties": {
                "configHash": {"type": "string", "maxLength": 64},
                "bridges": {"type": "array", "maxItems": 16, "items": _BRIDGE_SCHEMA},
            },
        },
    },
}


def crd() -> Manifest:
    return w.crd(
        group=GROUP,
        kind=KIND,
        plural=PLURAL,
        singular=KIND.lower(),
        scope="Cluster",
        short_names=("nbr",),
        versions=[
            w.crd_version(
                "v1alpha1",
                REPORT_SCHEMA,
                status=False,
                printer_columns=[
                    {"name": "Bridges", "type": "string", "jsonPath": ".status.bridges[*].name"},
                    {"name": "Exists", "type": "string", "jsonPath": ".status.bridges[*].exists"},
                    {"name": "Uplinks", "type": "string", "jsonPath": ".status.bridges[*].uplinks"},
                    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                ],
            )
        ],
    )


@dataclass(frozen=True)
class BridgeFinding:
    node: str
    bridge: str
    exists: bool
    uplinks: tuple[str, ...] = ()
    vlan_filtering_supported: bool = True
    vlan_filtering: bool = False
    filtered_vlans: frozenset[int] = frozenset()
    message: str = ""


@dataclass(frozen=True)
class NodeReports:
    """Every node's findings, keyed by (config hash), as the Multus component's cluster facts."""

    by_hash: Mapping[str, tuple[BridgeFinding, ...]] = field(default_factory=dict)
    nodes_by_hash: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def current(self, digest: str) -> tuple[tuple[BridgeFinding, ...], tuple[str, ...]]:
        """Findings and reporting nodes for the configuration `digest`; other hashes are stale."""
        return self.by_hash.get(digest, ()), self.nodes_by_hash.get(digest, ())


def _entries(value: Any) -> frozenset[int]:
    try:
        return vlans.parse([str(v) for v in value or []])
    except vlans.VlanListError:
        return frozenset()


def reports_from(objects: Sequence[Manifest]) -> NodeReports:
    by_hash: dict[str, list[BridgeFinding]] = {}
    nodes: dict[str, list[str]] = {}
    for obj in sorted(objects, key=lambda o: str(o.get("metadata", {}).get("name", ""))):
        node = str(obj.get("metadata", {}).get("name", ""))
        status = obj.get("status") or {}
        digest = str(status.get("configHash", ""))
        nodes.setdefault(digest, []).append(node)
        for b in status.get("bridges") or []:
            by_hash.setdefault(digest, []).append(
                BridgeFinding(
                    node=node,
                    bridge=str(b.get("name", "")),
                    exists=bool(b.get("exists")),
                    uplinks=tuple(str(u) for u in b.get("uplinks") or []),
                    vlan_filtering_supported=bool(b.get("vlanFilteringSupported", True)),
                    vlan_filtering=bool(b.get("vlanFiltering")),
                    filtered_vlans=_entries(b.get("filteredVlans")),
                    message=str(b.get("message", "")),
                )
            )
    return NodeReports({k: tuple(v) for k, v in by_hash.items()}, {k: tuple(v) for k, v in nodes.items()})


def _nodes(findings: Sequence[BridgeFinding]) -> str:
    names = sorted({f.node for f in findings})
    shown = ", ".join(names[:8])
    return f"{shown} and {len(names) - 8} more" if len(names) > 8 else shown


def _by_bridge(findings: Sequence[BridgeFinding]) -> dict[str, list[BridgeFinding]]:
    out: dict[str, list[BridgeFinding]] = {}
    for finding in findings:
        out.setdefault(finding.bridge, []).append(finding)
    return dict(sorted(out.items()))


def problems(spec: models.MultusSpec, findings: Sequence[BridgeFinding]) -> tuple[list[str], list[str], bool]:
    """(reasons, messages, degraded) for the nodes' findings against the profile's networks.

    A missing bridge, or a kernel without the VLAN filtering the networks' bridge-CNI configs need,
    is `Degraded`: waiting will not fix it. A network VLAN that a node's uplink filters out is not
    ready. A bridge without an uplink is only noted: VMs on the same node still reach each other.
    """
    network_vlans: dict[str, set[int]] = {}
    for network in spec.networks:
        network_vlans.setdefault(network.bridge, set()).add(network.vlan)
    reasons: list[str] = []
    messages: list[str] = []
    notes: list[str] = []
    degraded = False
    for bridge, found in _by_bridge(findings).items():
        missing = [f for f in found if not f.exists]
        if missing:
            reasons.append("BridgeMissing")
            messages.append(f"bridge {bridge} missing on nodes {_nodes(missing)}")
            degraded = True
        present = [f for f in found if f.exists]
        unsupported = [f for f in present if not f.vlan_filtering_supported and network_vlans.get(bridge)]
        if unsupported:
            reasons.append("VlanFilteringUnsupported")
            messages.append(
                f"no bridge VLAN filtering in the kernel for {bridge} on nodes {_nodes(unsupported)}"
            )
            degraded = True
        vlan_holes: dict[int, list[BridgeFinding]] = {}
        for f in present:
            for vlan in sorted(f.filtered_vlans & network_vlans.get(bridge, set())):
                vlan_holes.setdefault(vlan, []).append(f)
        for vlan, where in vlan_holes.items():
            reasons.append("VlanFilteredOut")
            messages.append(f"VLAN {vlan} filtered out of {bridge}'s uplink on nodes {_nodes(where)}")
        lonely = [f for f in present if not f.uplinks]
        if lonely:
            notes.append(f"bridge {bridge} has no uplink on nodes {_nodes(lonely)}")
    return reasons, messages + notes if messages else notes, degraded


def fold(
    health: ComponentHealth, spec: models.MultusSpec, reports: NodeReports | None, digest: str
) -> ComponentHealth:
    """The Multus health with what the nodes reported for the current agent configuration."""
    if reports is None or not health.enabled:
        return health
    findings, nodes = reports.current(digest)
    reasons, messages, degraded = problems(spec, findings)
    details = {**health.details, "reportingNodes": list(nodes)}
    if not messages:
        return replace(health, details=details)
    text = "; ".join(messages)
    if not reasons:  # only notes
        return replace(health, message=f"{health.message}; {text}", details=details)
    if not health.ready:
        return replace(
            health, message=f"{health.message}; {text}", degraded=health.degraded or degraded, details=details
        )
    return replace(
        health,
        ready=False,
        reason=reasons[0],
        message=text,
        degraded=degraded,
        progressing=False,
        details=details,
    )
