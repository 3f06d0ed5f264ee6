"""What the node agent wants done to one bridge, and what it reports: pure, from observed facts.

The agent touches only what the profile names: the bridge, its VLAN filtering, the VLAN tables of
its uplinks and of the bridge itself (the host's port), and, only with `create: true`, the named
uplink NIC, which it enslaves when that NIC has no master yet. VM ports (the bridge plugin's veths)
and every other NIC are left alone. Untagged and PVID entries are never changed: only the tagged
VLANs are managed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from vmo_operator.api import vlans

# Port kinds that are VM or container ends, never the way off the node.
LOCAL_KINDS = frozenset({"veth", "tun", "tap"})


@dataclass(frozen=True)
class Wanted:
    """One bridge entry of the rendered agent settings."""

    name: str
    vlan_filtering: bool = True
    allowed: frozenset[int] = frozenset()
    host: frozenset[int] = frozenset()
    create: bool = False
    uplink: str | None = None

    @classmethod
    def from_json(cls, entry: Mapping[str, Any]) -> Wanted:
        return cls(
            name=str(entry["name"]),
            vlan_filtering=bool(entry.get("vlanFiltering", True)),
            allowed=vlans.parse(entry.get("allowedVlans") or []),
            host=vlans.parse(entry.get("hostVlans") or []),
            create=bool(entry.get("create", False)),
            uplink=entry.get("uplink") or None,
        )


@dataclass(frozen=True)
class Port:
    name: str
    kind: str | None  # None for a physical NIC
    tagged: frozenset[int] = frozenset()  # VLANs on the port without the PVID flag


@dataclass(frozen=True)
class Link:
    """Any link the bridge code may need to know about: for the named uplink."""

    name: str
    master: str | None = None


@dataclass(frozen=True)
class Bridge:
    """A bridge as observed; `vlan_filtering` is None when it could not be read."""

    name: str
    ports: tuple[Port, ...] = ()
    vlan_filtering: bool | None = False
    self_tagged: frozenset[int] = frozenset()


ActionKind = Literal[
    "create-bridge",
    "enslave",
    "vlan-filtering-on",
    "add-vlans",
    "remove-vlans",
    "add-self-vlans",
    "remove-self-vlans",
]


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    bridge: str
    port: str = ""
    vids: frozenset[int] = frozenset()


def uplinks(wanted: Wanted, bridge: Bridge) -> list[Port]:
    """The named uplink when one is named, else every port that is not a VM or container end."""
    if wanted.uplink:
        return [p for p in bridge.ports if p.name == wanted.uplink]
    return [p for p in bridge.ports if p.kind not in LOCAL_KINDS]


def actions(wanted: Wanted, bridge: Bridge | None, links: Mapping[str, Link]) -> tuple[list[Action], str]:
    """What to do so the bridge matches `wanted`, and a note on what was left alone and why."""
    out: list[Action] = []
    note = ""
    if bridge is None:
        if not wanted.create:
            return [], ""
        out.append(Action("create-bridge", wanted.name))
        bridge = Bridge(wanted.name)
    if wanted.create and wanted.uplink and not any(p.name == wanted.uplink for p in bridge.ports):
        nic = links.get(wanted.uplink)
        if nic is None:
            note = f"uplink {wanted.uplink} not found"
        elif nic.master is not None:
            note = f"uplink {wanted.uplink} already belongs to {nic.master}; left alone"
        else:
            out.append(Action("enslave", wanted.name, wanted.uplink))
    if not wanted.vlan_filtering or bridge.vlan_filtering is None:
        return out, note
    if not bridge.vlan_filtering:
        out.append(Action("vlan-filtering-on", wanted.name))
    carried = wanted.allowed | wanted.host
    for port in uplinks(wanted, bridge):
        if carried - port.tagged:
            out.append(Action("add-vlans", wanted.name, port.name, carried - port.tagged))
        if port.tagged - carried:
            out.append(Action("remove-vlans", wanted.name, port.name, port.tagged - carried))
    if wanted.host - bridge.self_tagged:
        out.append(Action("add-self-vlans", wanted.name, vids=wanted.host - bridge.self_tagged))
    if bridge.self_tagged - wanted.host:
        out.append(Action("remove-self-vlans", wanted.name, vids=bridge.self_tagged - wanted.host))
    return out, note


@dataclass(frozen=True)
class Finding:
    """One bridge in the node's report, as the API schema has it (`node_reports`)."""

    name: str
    exists: bool
    created: bool = False
    uplinks: tuple[str, ...] = ()
    vlan_filtering_supported: bool = True
    vlan_filtering: bool = False
    uplink_vlans: frozenset[int] = frozenset()
    filtered_vlans: frozenset[int] = frozenset()
    messages: tuple[str, ...] = field(default=())

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "exists": self.exists,
            "created": self.created,
            "uplinks": list(self.uplinks),
            "vlanFilteringSupported": self.vlan_filtering_supported,
            "vlanFiltering": self.vlan_filtering,
            "uplinkVlans": vlans.compress(self.uplink_vlans),
            "filteredVlans": vlans.compress(self.filtered_vlans),
        }
        if self.messages:
            out["message"] = "; ".join(self.messages)[:1024]
        return out


def finding(
    wanted: Wanted,
    bridge: Bridge | None,
    *,
    created: bool = False,
    supported: bool = True,
    messages: Sequence[str] = (),
) -> Finding:
    """The report for a bridge as observed after the agent acted."""
    if bridge is None:
        return Finding(wanted.name, exists=False, messages=tuple(messages))
    ups = uplinks(wanted, bridge)
    carried = frozenset.intersection(*(p.tagged for p in ups)) if ups else frozenset()
    filtering = bool(bridge.vlan_filtering)
    return Finding(
        wanted.name,
        exists=True,
        created=created,
        uplinks=tuple(p.name for p in ups),
        vlan_filtering_supported=supported,
        vlan_filtering=filtering,
        uplink_vlans=carried,
        filtered_vlans=(wanted.allowed - carried) if filtering and ups else frozenset(),
        messages=tuple(messages),
    )
