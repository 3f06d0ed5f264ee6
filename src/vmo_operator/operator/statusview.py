"""`vmo status`: a readable summary of a VMOProfile's status for a terminal."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def render_status(profile: Mapping[str, Any]) -> str:
    status = profile.get("status") or {}
    name = profile.get("metadata", {}).get("name", "?")
    lines = [
        f"VMOProfile {name} (generation {profile.get('metadata', {}).get('generation')}, "
        f"observed {status.get('observedGeneration', '-')}, phase {status.get('phase') or '-'})",
        "",
    ]
    conditions = status.get("conditions") or []
    if conditions:
        lines.append(
            _table(
                [("CONDITION", "STATUS", "REASON", "MESSAGE")]
                + [
                    (c.get("type", ""), c.get("status", ""), c.get("reason", ""), c.get("message", "")[:100])
                    for c in conditions
                ]
            )
        )
        lines.append("")
    components = status.get("components") or {}
    if components:
        lines.append(
            _table(
                [("COMPONENT", "ENABLED", "READY", "VERSION", "MESSAGE")]
                + [
                    (
                        name,
                        _yes(c.get("enabled")),
                        "skipped" if c.get("skipped") else _yes(c.get("ready")),
                        c.get("version") or "-",
                        (c.get("message") or "")[:80],
                    )
                    for name, c in components.items()
                ]
            )
        )
        lines.append("")
    gates = status.get("featureGates") or {}
    if gates:
        for label, key in (
            ("enabled", "enabled"),
            ("disabled", "disabled"),
            ("implied (GA)", "implied"),
            ("unknown", "unknown"),
            ("dropped (not written)", "dropped"),
        ):
            values = gates.get(key) or []
            if values:
                lines.append(f"feature gates {label}: {', '.join(values)}")
        translated = gates.get("translated") or {}
        if translated:
            lines.append(
                "feature gates translated: " + ", ".join(f"{k} -> {v}" for k, v in translated.items())
            )
        lines.append("")
    lines += _vm_namespaces(status.get("vmNamespaces") or {})
    lines += _golden_images(status.get("goldenImages") or {})
    lines += _drain_readiness(status.get("drainReadiness") or {})
    mac = status.get("macPool") or {}
    if mac:
        lines.append(
            "MAC allocator: " + ", ".join(f"{k}={v}" for k, v in mac.items() if not isinstance(v, dict))
        )
        free = mac.get("freePerPrefix") or {}
        if free:
            lines.append("  free per prefix: " + ", ".join(f"{k}: {v}" for k, v in free.items()))
    return "\n".join(lines).rstrip() + "\n"


def _yes(value: Any) -> str:
    return "yes" if value else "no"


def _vm_namespaces(namespaces: Mapping[str, Any]) -> list[str]:
    if not namespaces:
        return []
    rows = [("VM NAMESPACE", "STATE", "WHY")] + [
        (name, str(entry.get("state", "")), str(entry.get("message", ""))[:100])
        for name, entry in namespaces.items()
    ]
    return [_table(rows), ""]


def _golden_images(images: Mapping[str, Any]) -> list[str]:
    if not images:
        return []
    rows = [("GOLDEN IMAGE", "STATE", "LAST SUCCESS", "WHY")] + [
        (name, str(e.get("state", "")), str(e.get("lastSuccess", "-")), str(e.get("message", ""))[:80])
        for name, e in images.items()
    ]
    return [_table(rows), ""]


def _drain_readiness(drain: Mapping[str, Any]) -> list[str]:
    """What a drain of each node would do to its VMs, the nodes it would hurt first."""
    if not drain:
        return []
    nodes = drain.get("nodes") or {}
    lines = [f"drain readiness (cluster eviction strategy {drain.get('clusterEvictionStrategy', '-')}):"]
    if not nodes:
        return [*lines, "  no VMIs run on any node", ""]
    rows = [("NODE", "LIVE-MIGRATE", "BLOCKS DRAIN", "SHUT DOWN")] + [
        (node, str(n.get("liveMigrate", 0)), str(n.get("blockedBy", 0)), str(n.get("shutDown", 0)))
        for node, n in nodes.items()
    ]
    lines.append(_table(rows))
    for node, n in nodes.items():
        for key, verb, verbs in (
            ("blocking", "blocks the drain", "block it"),
            ("shuttingDown", "is shut down", "are shut down"),
        ):
            listed = n.get(key) or {}
            lines += [f"  {node}: {name} ({verb})" for name in listed.get("names") or []]
            if listed.get("more"):
                lines.append(f"  {node}: {listed['more']} more that {verbs}")
    if drain.get("moreNodes"):
        lines.append(f"  {drain['moreNodes']} more nodes, none of which a drain would hurt more")
    return [*lines, ""]
