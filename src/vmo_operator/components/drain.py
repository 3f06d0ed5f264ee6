"""Drain readiness: what `kubectl drain` of each node would do to the VMs running on it (pure).

A VMI's fate on eviction follows KubeVirt's own rule (pkg/util/migrations, `VMIEvictionStrategy` and
`VMIMigratableOnEviction`): the VMI's `spec.evictionStrategy`, else the cluster-wide one in the
KubeVirt CR's `spec.configuration.evictionStrategy`; with neither, nothing is migrated. Then

- LiveMigrate: live-migrated; when the VMI is not live-migratable (its `LiveMigratable` condition
  is not True) the migration cannot happen and the drain waits on it;
- LiveMigrateIfPossible: live-migrated when live-migratable, otherwise shut down;
- External: the eviction is refused until an external controller moves the VM, so the drain waits;
- None, or no strategy at all: shut down (its VM restarts elsewhere only if its run strategy says so).

Only VMIs placed on a node (`status.nodeName`) and not finished count. The output is bounded: at most
`MAX_NODES` nodes (those with VMs a drain would block on or shut down first) and `MAX_NAMES` VMI
names per list (each cut at `MAX_ENTRY` characters), with how many more.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vmo_operator.components.base import FactQuery
from vmo_operator.kube import kinds
from vmo_operator.kube.objects import Manifest

VMI_QUERY = FactQuery(kinds.VIRTUAL_MACHINE_INSTANCE)
LIVE_MIGRATABLE = "LiveMigratable"
FINISHED = frozenset({"Succeeded", "Failed"})
# The status shares etcd's object limit with the spec: at most 32 nodes x 2 lists x 3 entries of
# 160 characters, about 31 KB, whatever the cluster's size.
MAX_NODES = 32
MAX_NAMES = 3
MAX_ENTRY = 160
MIGRATE, BLOCK, SHUT_DOWN = "migrate", "block", "shutDown"


@dataclass(frozen=True)
class VMIOnNode:
    """The little of a running VMI that decides its fate on a drain."""

    node: str
    name: str  # namespace/name
    strategy: str  # the VMI's own evictionStrategy, "" when unset
    migratable: bool
    why_not: str = ""  # the LiveMigratable condition's message or reason when not migratable


def _live_migratable(vmi: Mapping[str, Any]) -> tuple[bool, str]:
    for condition in (vmi.get("status") or {}).get("conditions") or []:
        if condition.get("type") == LIVE_MIGRATABLE:
            if condition.get("status") == "True":
                return True, ""
            return False, str(condition.get("reason") or condition.get("message") or "")
    return False, "no LiveMigratable condition"


def on_nodes(vmis: Sequence[Manifest]) -> tuple[VMIOnNode, ...]:
    """The VMIs that run (or are starting) on a node, in a stable order."""
    out = []
    for vmi in vmis:
        status = vmi.get("status") or {}
        node = str(status.get("nodeName") or "")
        if not node or status.get("phase") in FINISHED:
            continue
        meta = vmi.get("metadata") or {}
        migratable, why_not = _live_migratable(vmi)
        out.append(
            VMIOnNode(
                node=node,
                name=f"{meta.get('namespace', '')}/{meta.get('name', '')}",
                strategy=str((vmi.get("spec") or {}).get("evictionStrategy") or ""),
                migratable=migratable,
                why_not=why_not,
            )
        )
    return tuple(sorted(out, key=lambda v: (v.node, v.name)))


def fate(vmi: VMIOnNode, cluster_strategy: str) -> tuple[str, str]:
    """(MIGRATE | BLOCK | SHUT_DOWN, why) for one VMI under the cluster-wide strategy."""
    strategy = vmi.strategy or cluster_strategy
    source = "" if vmi.strategy else " (cluster default)"
    if strategy == "LiveMigrate":
        if vmi.migratable:
            return MIGRATE, ""
        return BLOCK, f"LiveMigrate{source} but not live-migratable: {vmi.why_not}"
    if strategy == "LiveMigrateIfPossible":
        if vmi.migratable:
            return MIGRATE, ""
        return SHUT_DOWN, f"LiveMigrateIfPossible{source}, not live-migratable: {vmi.why_not}"
    if strategy == "External":
        return BLOCK, f"External{source}: waits for an external controller"
    if strategy:
        return SHUT_DOWN, f"evictionStrategy {strategy}{source}"
    return SHUT_DOWN, "no evictionStrategy on the VMI or the KubeVirt CR"


def _names(entries: list[str]) -> dict[str, Any]:
    shown = [e if len(e) <= MAX_ENTRY else e[: MAX_ENTRY - 3] + "..." for e in entries[:MAX_NAMES]]
    return {"names": shown, "more": max(0, len(entries) - MAX_NAMES)}


def readiness(vmis: Sequence[VMIOnNode], cluster_strategy: str) -> dict[str, Any]:
    """`status.drainReadiness`: per node, how many VMIs a drain migrates, blocks on and shuts down."""
    per_node: dict[str, dict[str, list[str]]] = {}
    for vmi in vmis:
        outcome, why = fate(vmi, cluster_strategy)
        lists = per_node.setdefault(vmi.node, {MIGRATE: [], BLOCK: [], SHUT_DOWN: []})
        lists[outcome].append(vmi.name if outcome == MIGRATE else f"{vmi.name}: {why}")
    nodes: dict[str, dict[str, Any]] = {
        node: {
            "liveMigrate": len(lists[MIGRATE]),
            "blockedBy": len(lists[BLOCK]),
            "shutDown": len(lists[SHUT_DOWN]),
            **({"blocking": _names(lists[BLOCK])} if lists[BLOCK] else {}),
            **({"shuttingDown": _names(lists[SHUT_DOWN])} if lists[SHUT_DOWN] else {}),
        }
        for node, lists in per_node.items()
    }
    # Nodes a drain would hurt come first, so the cap never hides one of them behind a harmless node.
    order = sorted(nodes, key=lambda n: (-int(nodes[n]["blockedBy"]), -int(nodes[n]["shutDown"]), n))
    shown = order[:MAX_NODES]
    return {
        "clusterEvictionStrategy": cluster_strategy or "None",
        "nodes": {node: nodes[node] for node in sorted(shown)},
        "moreNodes": len(order) - len(shown),
    }
