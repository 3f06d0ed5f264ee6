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
