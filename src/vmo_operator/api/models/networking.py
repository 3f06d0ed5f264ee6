"""`spec.multus`: Multus, the VLAN networks VMs attach to, and the bridges on the nodes that carry them.

A network is a VLAN on a Linux bridge; a bridge entry says how the node agent treats that bridge on
every node: which VLANs its uplink carries (by default exactly the VLANs of the profile's networks on
it, so adding a network opens its VLAN and removing one closes it), which VLANs the host itself uses
on it, and, only when asked, whether to create it and enslave a named uplink NIC.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator

from vmo_operator.api import versions, vlans
from vmo_operator.api.models.base import (
    BRIDGE_NAME,
    DNS1123_LABEL,
    Model,
    MultusVersion,
    Namespace,
    cel,
    registry_field,
    require_unique,
    schema_extra,
)
from vmo_operator.api.models.placement import NodePlacement

# A VLAN id ("10") or an inclusive range of ids ("25-100"), 1 to 4094.
VlanEntry = Annotated[
    str,
    Field(
        min_length=1,
        max_length=9,
        pattern=vlans.ENTRY,
        json_schema_extra=schema_extra(
            cel(vlans.cel_entries_in_range(), "VLAN ids are 1 to 4094 and a range runs low-high")
        ),
    ),
]
_NO_OVERLAP = cel(vlans.cel_no_overlap(), "VLAN entries must not overlap or repeat")
ABSOLUTE_PATH = r"^/[A-Za-z0-9._/-]*$"
# The cni-default-plugins image KubeVirt's network addons operator ships (containernetworking/plugins).
CNI_PLUGINS_VERSION = "v1.5.1"


def _vlan_list(description: str) -> Any:
    return Field(
        default=None,
        max_length=64,
        description=description,
        json_schema_extra=schema_extra(_NO_OVERLAP, **{"x-kubernetes-list-type": "atomic"}),
    )


def _check_vlans(value: list[str] | None) -> list[str] | None:
    if value is not None:
        try:
            vlans.parse(value)
        except vlans.VlanListError as exc:
            raise ValueError(str(exc)) from None
    return value


class Network(Model):
    """A VLAN on a Linux bridge, offered to VMs as a bridge-CNI NetworkAttachmentDefinition."""

    name: str = Field(
        min_length=1,
        max_length=63,
        pattern=DNS1123_LABEL,
        description="Name of the NetworkAttachmentDefinition; VMs refer to it as multus.networkName.",
    )
    vlan: int = Field(ge=1, le=4094, description="802.1Q VLAN id, 1 to 4094.")
    bridge: str = Field(
        default="br0",
        min_length=1,
        max_length=15,
        pattern=BRIDGE_NAME,
        description="Linux bridge on the nodes that carries the VLAN.",
    )
    namespaces: list[Namespace] = Field(
        default=["default"],
        min_length=1,
        max_length=32,
        description=(
            "Namespaces to create the NetworkAttachmentDefinition in. They must exist; they are not created."
        ),
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    mtu: int | None = Field(
        default=None, ge=576, le=9216, description="MTU of the VM interfaces; unset keeps the bridge's."
    )

    @field_validator("namespaces")
    @classmethod
    def _namespaces_unique(cls, value: list[str]) -> list[str]:
        require_unique(value, "namespace")
        return value


_UPLINK_RULE = cel(
    "!has(self.create) || !self.create || has(self.uplink)",
    "create needs the uplink NIC to enslave",
    ".uplink",
)


class Bridge(Model):
    """How the node agent treats one Linux bridge on every node that runs VMs."""

    model_config = Model.model_config | {"json_schema_extra": schema_extra(_UPLINK_RULE)}

    name: str = Field(
        min_length=1, max_length=15, pattern=BRIDGE_NAME, description="The bridge's interface name."
    )
    vlan_filtering: bool = Field(
        default=True,
        description=(
            "Turn VLAN filtering on and keep the uplink's VLAN table equal to allowedVlans and hostVlans, "
            "where the kernel supports it. False leaves the bridge's VLAN settings alone (reported only)."
        ),
    )
    allowed_vlans: list[VlanEntry] | None = _vlan_list(
        'VLANs the uplink carries, as ids and ranges (e.g. ["10", "20", "25-100"]). Unset means '
        "exactly the VLANs of this profile's networks on the bridge."
    )
    host_vlans: list[VlanEntry] | None = _vlan_list(
        "VLANs the host itself uses on the bridge (its own port carries them, tagged); unset means none."
    )
    create: bool = Field(
        default=False,
        description=(
            "Create the bridge where it is missing and enslave the uplink NIC to it. Off by default: "
            "most clusters configure host networking themselves."
        ),
    )
    uplink: str | None = Field(
        default=None,
        min_length=1,
        max_length=15,
        pattern=BRIDGE_NAME,
        description=(
            "The NIC that connects the bridge to the physical network. Reported per node; enslaved only "
            "when create is true. No other NIC is ever touched."
        ),
    )

    _allowed = field_validator("allowed_vlans", "host_vlans")(_check_vlans)

    @model_validator(mode="after")
    def _uplink_named(self) -> Bridge:
        if self.create and self.uplink is None:
            raise ValueError(f"{_UPLINK_RULE['message']} (bridge {self.name})")
        return self


class CNIPlugins(Model):
    """The `bridge` and `tuning` CNI plugins, installed on every node by a DaemonSet."""

    enabled: bool = Field(
        default=True, description="Install the plugins (turn off when the hosts already have them)."
    )
    version: str = Field(
        default=CNI_PLUGINS_VERSION,
        max_length=32,
        pattern=r"^v[0-9]+[.][0-9]+[.][0-9]+$",
        description="Tag of the cni-default-plugins image (the containernetworking/plugins release).",
    )
    registry: str | None = registry_field("quay.io/kubevirt")
    bin_dir: str = Field(
        default="/opt/cni/bin",
        max_length=255,
        pattern=ABSOLUTE_PATH,
        description="The host's CNI bin directory, where Multus looks for plugins.",
    )


class NodeAgent(Model):
    """`vmo node-agent` on every node: checks the bridges, applies VLAN filtering, reports per node."""

    enabled: bool = Field(
        default=True,
        description="Run the node agent; without it nothing checks the bridges and nodes report nothing.",
    )
    image: str | None = Field(
        default=None,
        max_length=512,
        pattern=r"^[^\s]+$",
        description="Image to run (default: the operator's own image).",
    )


class MultusSpec(Model):
    """Multus (thick plugin) and the VLAN networks VMs can attach to."""

    enabled: bool = Field(default=True, description="Install Multus and the NetworkAttachmentDefinition CRD.")
    version: MultusVersion = versions.MULTUS.default
    registry: str | None = registry_field("ghcr.io/k8snetworkplumbingwg")
    workloads: NodePlacement = Field(
        default_factory=NodePlacement,
        description=(
            "Placement of the Multus, CNI plugin and node agent DaemonSets; it must cover every node "
            "that runs VMs with VLAN networks."
        ),
    )
    networks: list[Network] = Field(
        default_factory=list,
        max_length=128,
        description=(
            "VLAN networks. Removing an entry deletes its NetworkAttachmentDefinitions, except one that "
            "VirtualMachines use: that stays until the profile's vmo.dev/accept-network-removal "
            "annotation names the network."
        ),
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    bridges: list[Bridge] = Field(
        default_factory=list,
        max_length=16,
        description=(
            "Settings per bridge. A bridge the networks use without an entry here gets the defaults: "
            "VLAN filtering with exactly its networks' VLANs, no host VLANs, never created."
        ),
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    cni_plugins: CNIPlugins = Field(
        default_factory=CNIPlugins, description="The bridge and tuning CNI plugins on every node."
    )
    node_agent: NodeAgent = Field(
        default_factory=NodeAgent, description="The node agent that checks bridges and VLAN filtering."
    )

    @field_validator("networks")
    @classmethod
    def _names_unique(cls, value: list[Network]) -> list[Network]:
        require_unique([n.name for n in value], "network name")
        return value

    @field_validator("bridges")
    @classmethod
    def _bridges_unique(cls, value: list[Bridge]) -> list[Bridge]:
        require_unique([b.name for b in value], "bridge name")
        return value

    def bridge_settings(self) -> list[Bridge]:
        """Every bridge the networks use or an entry names, each with its settings, by name."""
        named = {b.name: b for b in self.bridges}
        for network in self.networks:
            named.setdefault(network.bridge, Bridge(name=network.bridge))
        return [named[name] for name in sorted(named)]

    def allowed_vlans(self, bridge: Bridge) -> frozenset[int]:
        """The VLANs the bridge's uplink carries: its entry's list, else its networks' VLANs."""
        if bridge.allowed_vlans is not None:
            return vlans.parse(bridge.allowed_vlans)
        return frozenset(n.vlan for n in self.networks if n.bridge == bridge.name)
