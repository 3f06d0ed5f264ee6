"""The node's links as the agent sees them, and its few writes: netlink through pyroute2.

The only module that talks to the kernel (and the only importer of pyroute2): reads become the
plain values of `plan`, and each `plan.Action` becomes one or a few netlink requests. Nothing is
run as a command; `ip` and `bridge` need not exist in the image.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from types import TracebackType
from typing import Any

from pyroute2 import IPRoute  # type: ignore[import-untyped]
from pyroute2.netlink.exceptions import NetlinkError  # type: ignore[import-untyped]

from vmo_operator.api import vlans
from vmo_operator.nodeagent import plan

# Flags of a bridge VLAN entry (include/uapi/linux/if_bridge.h).
BRIDGE_VLAN_INFO_PVID = 0x2
BRIDGE_VLAN_INFO_UNTAGGED = 0x4
BRIDGE_VLAN_INFO_RANGE_BEGIN = 0x8
BRIDGE_VLAN_INFO_RANGE_END = 0x10
BRIDGE_FLAGS_SELF = 0x2


class UnsupportedError(Exception):
    """The kernel does not offer what an action needs (bridge VLAN filtering, here)."""


class ActionFailedError(Exception):
    """The kernel refused an action for another reason; the report carries the message."""


def _kind(link: Any) -> tuple[str | None, Any]:
    info = link.get("IFLA_LINKINFO")
    if not info:
        return None, None
    return info.get("IFLA_INFO_KIND"), info.get("IFLA_INFO_DATA")


def _vlan_entries(message: Any) -> Iterator[tuple[int, int]]:
    spec = message.get("IFLA_AF_SPEC")
    if not spec:
        return
    for name, value in spec.get("attrs", []):
        if name == "IFLA_BRIDGE_VLAN_INFO":
            yield int(value["flags"]), int(value["vid"])


def _tagged(message: Any) -> frozenset[int]:
    """The VLANs an entry list carries tagged: neither PVID nor untagged; ranges expanded."""
    out: set[int] = set()
    begin = 0
    for flags, vid in _vlan_entries(message):
        if flags & (BRIDGE_VLAN_INFO_PVID | BRIDGE_VLAN_INFO_UNTAGGED):
            continue
        if flags & BRIDGE_VLAN_INFO_RANGE_BEGIN:
            begin = vid
        elif flags & BRIDGE_VLAN_INFO_RANGE_END:
            out.update(range(begin, vid + 1))
        else:
            out.add(vid)
    return frozenset(out)


class Netlink:
    """One rtnetlink socket in the current network namespace, or in the named one (`netns`)."""

    def __init__(self, netns: str | None = None) -> None:
        self._ipr = IPRoute(netns=netns) if netns else IPRoute()

    def __enter__(self) -> Netlink:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._ipr.close()

    def _index(self, name: str) -> int | None:
        found = self._ipr.link_lookup(ifname=name)
        return int(found[0]) if found else None

    def observe(self, names: set[str]) -> tuple[dict[str, plan.Bridge], dict[str, plan.Link]]:
        """The bridges called `names` that exist, and every link by name with its master's name."""
        links = list(self._ipr.get_links())
        by_index = {int(link["index"]): link.get("ifname") for link in links}
        tagged: dict[int, frozenset[int]] = {}
        try:
            for message in self._ipr.get_vlans():
                tagged[int(message["index"])] = _tagged(message)
        except NetlinkError as exc:
            if exc.code != errno.EOPNOTSUPP:
                raise
        everything = {
            str(link.get("ifname")): plan.Link(
                str(link.get("ifname")), by_index.get(int(link.get("IFLA_MASTER") or 0))
            )
            for link in links
        }
        bridges: dict[str, plan.Bridge] = {}
        for link in links:
            name = str(link.get("ifname"))
            kind, data = _kind(link)
            if name not in names or kind != "bridge":
                continue
            index = int(link["index"])
            ports = tuple(
                plan.Port(
                    str(port.get("ifname")), _kind(port)[0], tagged.get(int(port["index"]), frozenset())
                )
                for port in links
                if int(port.get("IFLA_MASTER") or 0) == index
            )
            filtering = data.get("IFLA_BR_VLAN_FILTERING") if data else None
            bridges[name] = plan.Bridge(
                name,
                ports=tuple(sorted(ports, key=lambda p: p.name)),
                vlan_filtering=None if filtering is None else bool(filtering),
                self_tagged=tagged.get(index, frozenset()),
            )
        return bridges, everything

    def apply(self, action: plan.Action) -> None:
        """One action; raises UnsupportedError when the kernel refuses it as not supported."""
        try:
            self._apply(action)
        except NetlinkError as exc:
            if exc.code == errno.EOPNOTSUPP:
                raise UnsupportedError(f"{action.kind} on {action.bridge}: operation not supported") from None
            where = f" port {action.port}" if action.port else ""
            raise ActionFailedError(f"{action.kind} on {action.bridge}{where}: {exc}") from None

    def _apply(self, action: plan.Action) -> None:
        ipr = self._ipr
        if action.kind == "create-bridge":
            ipr.link("add", ifname=action.bridge, kind="bridge")
            ipr.link("set", index=self._index(action.bridge), state="up")
            return
        bridge = self._index(action.bridge)
        if action.kind == "enslave":
            ipr.link("set", index=self._index(action.port), master=bridge)
        elif action.kind == "vlan-filtering-on":
            ipr.link("set", index=bridge, kind="bridge", br_vlan_filtering=1)
        else:
            command = "add" if action.kind.startswith("add") else "del"
            target = bridge if "self" in action.kind else self._index(action.port)
            extra = {"vlan_flags": BRIDGE_FLAGS_SELF} if "self" in action.kind else {}
            for entry in vlans.compress(action.vids):
                ipr.vlan_filter(command, index=target, vlan_info={"vid": entry}, **extra)
