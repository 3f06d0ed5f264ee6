"""The stack health page: the active VMOProfile's status, as the operator wrote it (pure).

Nothing is recomputed here: conditions, components, feature gates, the MAC pool and drain readiness
are the status fields the operator already keeps (`vmo status` prints the same), so the page and the
command line cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vmo_operator.dashboard.pages import Html, el, join, layout, table

GATE_KINDS = (
    ("Enabled", "enabled"),
    ("Disabled", "disabled"),
    ("Implied by the version (GA)", "implied"),
    ("Unknown to this version", "unknown"),
    ("Dropped (not written)", "dropped"),
)


# Conditions whose True is bad news (the rest: True is good), as engine/status writes them.
NEGATIVE = frozenset({"Degraded", "Progressing", "TaintedConfiguration"})


def _verdict(condition: Mapping[str, Any]) -> str:
    """ "good", "bad" or "unknown": how the condition reads, its polarity considered."""
    status = condition.get("status")
    if status not in ("True", "False"):
        return "unknown"
    good = (status == "True") != (condition.get("type") in NEGATIVE)
    return "good" if good else "bad"


def _yes(value: Any) -> str:
    return "yes" if value else "no"


def _drain(drain: Mapping[str, Any]) -> Html:
    nodes: Mapping[str, Any] = drain.get("nodes") or {}
    rows = []
    for node, entry in nodes.items():
        blocking = (entry.get("blocking") or {}).get("names") or []
        shutting = (entry.get("shuttingDown") or {}).get("names") or []
        rows.append(
            (
                node,
                str(entry.get("liveMigrate", 0)),
                str(entry.get("blockedBy", 0)),
                str(entry.get("shutDown", 0)),
                "; ".join([*blocking, *shutting]),
            )
        )
    parts: list[object] = [
        el("p", None, f"Cluster eviction strategy: {drain.get('clusterEvictionStrategy') or 'None'}."),
        table(
            ("Node", "Live-migrate", "Block the drain", "Shut down", "VMs a drain would hurt"),
            rows,
            "No VMIs run on any node.",
        ),
    ]
    if drain.get("moreNodes"):
        parts.append(el("p", None, f"{drain['moreNodes']} more nodes, none a drain would hurt more."))
    return join(parts)


def _mac_pool(mac: Mapping[str, Any]) -> Html:
    plain = [(str(k), str(v)) for k, v in mac.items() if not isinstance(v, Mapping | list)]
    parts: list[object] = [table(("Field", "Value"), plain, "The MAC allocator reported nothing yet.")]
    free = mac.get("freePerPrefix") or {}
    if free:
        parts += [el("h3", None, "Free addresses per prefix"), table(("Prefix", "Free"), free.items(), "")]
    listed = [c for c in mac.get("collidingMACs") or [] if isinstance(c, Mapping)]
    if listed:
        rows = [
            (
                str(c.get("mac", "")),
                ", ".join(map(str, c.get("carriers") or [])),
                ", ".join(c.get("namespaces") or []),
            )
            for c in listed
        ]
        parts += [el("h3", None, "Collisions"), table(("MAC", "Carried by", "Namespaces"), rows, "")]
        more = int(mac.get("collisions") or 0) - len(listed)
        if more > 0:
            parts.append(
                el("p", None, f"{more} more colliding MACs; the Events on the VMs involved name them.")
            )
    return join(parts)


MAX_DRIFT_EVENTS = 10


def bridge_rows(reports: Sequence[Mapping[str, Any]]) -> list[tuple[str, ...]]:
    """Per node and bridge, what the node agent found (its NodeBridgeReport), by node name."""
    rows: list[tuple[str, ...]] = []
    for report in sorted(reports, key=lambda r: str((r.get("metadata") or {}).get("name", ""))):
        node = str((report.get("metadata") or {}).get("name", ""))
        for bridge in (report.get("status") or {}).get("bridges") or []:
            filtering = "on" if bridge.get("vlanFiltering") else "off"
            if bridge.get("vlanFilteringSupported") is False:
                filtering = "unsupported"
            rows.append(
                (
                    node,
                    str(bridge.get("name", "")),
                    "yes" if bridge.get("exists") else "no",
                    filtering,
                    ", ".join(bridge.get("uplinks") or []),
                    ", ".join(bridge.get("filteredVlans") or []),
                    str(bridge.get("message") or ""),
                )
            )
    return rows


def drift_events(events: Sequence[Mapping[str, Any]], profile: str) -> list[tuple[str, str, str]]:
    """The newest `Overwritten` events about `profile` (when, count, note): someone changed what
    the operator owns, and the operator put it back."""
    mine = [
        e
        for e in events
        if e.get("reason") == "Overwritten"
        and (e.get("regarding") or {}).get("kind") == "VMOProfile"
        and (e.get("regarding") or {}).get("name") == profile
    ]

    def when(event: Mapping[str, Any]) -> str:
        series = event.get("series") or {}
        return str(series.get("lastObservedTime") or event.get("eventTime") or "")

    mine.sort(key=when, reverse=True)
    return [
        (when(e), str((e.get("series") or {}).get("count") or 1), str(e.get("note") or ""))
        for e in mine[:MAX_DRIFT_EVENTS]
    ]


def health_page(
    profiles: Sequence[Mapping[str, Any]],
    active: Mapping[str, Any] | None,
    *,
    user: str,
    csrf: str,
    drift: Sequence[tuple[str, str, str]] | None = None,
    bridges: Sequence[tuple[str, ...]] | None = (),
) -> Html:
    """`drift`: the recent Overwritten events; `bridges`: the node agents' findings (`bridge_rows`);
    each None when the user may not read them."""
    if active is None:
        body = join(
            [
                el("h1", None, "Stack health"),
                el("p", {"class": "empty"}, "No VMOProfile exists (or you may not read one)."),
            ]
        )
        return layout("Stack health", body, user=user, csrf=csrf, active="health")
    status: Mapping[str, Any] = active.get("status") or {}
    meta = active.get("metadata") or {}
    components: Mapping[str, Any] = status.get("components") or {}
    gates: Mapping[str, Any] = status.get("featureGates") or {}
    parts: list[object] = [
        el("h1", None, f"Stack health: {meta.get('name', '?')}"),
        el(
            "p",
            None,
            f"Phase {status.get('phase') or '—'} · KubeVirt {status.get('kubevirtVersion') or '—'} · "
            f"generation {meta.get('generation', '—')}, observed {status.get('observedGeneration', '—')}",
        ),
    ]
    if len(profiles) > 1:
        others = ", ".join(str((p.get("metadata") or {}).get("name")) for p in profiles if p is not active)
        parts.append(el("p", {"class": "notice"}, f"Other profiles, not applied: {others}"))
    parts += [
        el("h2", None, "Conditions"),
        table(
            ("Type", "Status", "Reason", "Message"),
            (
                (
                    c.get("type", ""),
                    el("span", {"class": f"cond c-{_verdict(c)}"}, c.get("status", "")),
                    c.get("reason", ""),
                    c.get("message", ""),
                )
                for c in status.get("conditions") or []
            ),
            "No conditions yet: the operator has not reconciled this profile.",
        ),
        el("h2", None, "Components"),
        table(
            ("Component", "Enabled", "Ready", "Version", "Message"),
            (
                (
                    name,
                    _yes(c.get("enabled")),
                    "skipped" if c.get("skipped") else _yes(c.get("ready")),
                    c.get("version") or "—",
                    c.get("message") or "",
                )
                for name, c in components.items()
            ),
            "No components reported.",
        ),
        el("h2", None, "Feature gates"),
        table(
            ("Kind", "Gates"),
            ((label, ", ".join(gates.get(key) or [])) for label, key in GATE_KINDS if gates.get(key)),
            "No feature gates resolved yet.",
        ),
        el("h2", None, "Drift repaired (Overwritten events)"),
        table(("When", "Times", "What"), drift, "No drift: nobody changed what the operator owns.")
        if drift is not None
        else el("p", {"class": "empty"}, "You may not read the Events in namespace default."),
        el("h2", None, "Node networks (node agent findings)"),
        table(
            ("Node", "Bridge", "Exists", "VLAN filtering", "Uplinks", "VLANs not carried", "Problem"),
            bridges,
            "No node has reported its bridges.",
        )
        if bridges is not None
        else el("p", {"class": "empty"}, "You may not read the NodeBridgeReports."),
        el("h2", None, "MAC pool"),
        _mac_pool(status.get("macPool") or {}),
        el("h2", None, "Drain readiness"),
        _drain(status.get("drainReadiness") or {}),
    ]
    return layout("Stack health", join(parts), user=user, csrf=csrf, active="health")
