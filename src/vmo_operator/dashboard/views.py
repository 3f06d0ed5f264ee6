"""What the dashboard shows of a VM, built from the API objects alone (pure).

A row joins a VirtualMachine with its VirtualMachineInstance (same namespace and name), since the
VM holds the intent (run strategy, networks, MACs asked for) and the VMI what is true now (node,
IPs, MACs in use, whether it can live-migrate). Everything here is a value computed from dicts; the
server reads the objects with the user's token and the pages render these values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Obj = Mapping[str, Any]

# spec.runStrategy values under which the VM is meant to run: "stop" applies; otherwise "start".
RUNNING_STRATEGIES = frozenset({"Always", "RerunOnFailure"})
STATUS_FILTERS = ("Running", "Stopped", "Starting", "Stopping", "Migrating", "Paused", "Error")


def _get(obj: Obj | None, *path: str) -> Any:
    node: Any = obj or {}
    for key in path:
        node = node.get(key) if isinstance(node, Mapping) else None
        if node is None:
            return None
    return node


def run_strategy(vm: Obj) -> str:
    """The VM's run strategy; the deprecated `spec.running` maps to Always/Halted as KubeVirt does."""
    strategy = _get(vm, "spec", "runStrategy")
    if strategy:
        return str(strategy)
    running = _get(vm, "spec", "running")
    return "Always" if running else "Halted"


def vm_status(vm: Obj, vmi: Obj | None) -> str:
    """KubeVirt's printable status when virt-controller wrote one, else what the objects say."""
    printable = _get(vm, "status", "printableStatus")
    if printable:
        return str(printable)
    phase = _get(vmi, "status", "phase")
    if phase == "Running":
        return "Running"
    if vmi is not None:
        return "Starting"
    return "Stopped"


def live_migratable(vmi: Obj | None) -> tuple[bool, str]:
    """Whether the VMI may live-migrate (its LiveMigratable condition), and why not."""
    if vmi is None:
        return False, "not running"
    for condition in _get(vmi, "status", "conditions") or []:
        if condition.get("type") == "LiveMigratable":
            if condition.get("status") == "True":
                return True, ""
            return False, str(condition.get("message") or condition.get("reason") or "not migratable")
    return False, "no LiveMigratable condition"


@dataclass(frozen=True)
class Network:
    name: str
    target: str  # "pod" or the Multus network "namespace/name"


def networks(vm: Obj) -> tuple[Network, ...]:
    found = []
    for net in _get(vm, "spec", "template", "spec", "networks") or []:
        multus = net.get("multus") or {}
        target = "pod" if "pod" in net else str(multus.get("networkName") or "?")
        found.append(Network(str(net.get("name", "")), target))
    return tuple(found)


def macs(vm: Obj, vmi: Obj | None) -> tuple[str, ...]:
    """The MACs in use (the VMI's), else those the VM asks for (set by the user or the allocator)."""
    live = [str(i["mac"]) for i in _get(vmi, "status", "interfaces") or [] if i.get("mac")]
    if live:
        return tuple(live)
    asked = _get(vm, "spec", "template", "spec", "domain", "devices", "interfaces") or []
    return tuple(str(i["macAddress"]) for i in asked if i.get("macAddress"))


def ips(vmi: Obj | None) -> tuple[str, ...]:
    found: list[str] = []
    for interface in _get(vmi, "status", "interfaces") or []:
        for ip in interface.get("ipAddresses") or (
            [interface["ipAddress"]] if interface.get("ipAddress") else []
        ):
            if ip not in found:
                found.append(str(ip))
    return tuple(found)


def eviction_strategy(vm: Obj, vmi: Obj | None) -> str:
    """The VMI's strategy, else the VM template's; "" means the cluster-wide default applies."""
    return str(
        _get(vmi, "spec", "evictionStrategy")
        or _get(vm, "spec", "template", "spec", "evictionStrategy")
        or ""
    )


@dataclass(frozen=True)
class VMRow:
    namespace: str
    name: str
    status: str
    run_strategy: str
    node: str
    ips: tuple[str, ...]
    macs: tuple[str, ...]
    networks: tuple[Network, ...]
    migratable: bool
    why_not_migratable: str
    eviction_strategy: str
    has_instance: bool
    migration: str = ""  # the phase of the VM's newest VirtualMachineInstanceMigration, if any

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def meant_to_run(self) -> bool:
        return self.run_strategy in RUNNING_STRATEGIES


def migration_phase(migration: Obj | None) -> str:
    """A migration's phase; one virt-controller has not picked up yet is Pending."""
    if migration is None:
        return ""
    return str(_get(migration, "status", "phase") or "Pending")


def newest_migrations(migrations: Iterable[Obj]) -> dict[str, Obj]:
    """The newest migration of each VMI, by "namespace/vmiName" (the VM's key)."""
    newest: dict[str, Obj] = {}
    ordered = sorted(
        migrations, key=lambda m: (str(_get(m, "metadata", "creationTimestamp") or ""), key_of(m))
    )
    for migration in ordered:
        target = _get(migration, "spec", "vmiName")
        if target:
            newest[f"{_get(migration, 'metadata', 'namespace') or ''}/{target}"] = migration
    return newest


def vm_row(vm: Obj, vmi: Obj | None, migration: Obj | None = None) -> VMRow:
    migratable, why_not = live_migratable(vmi)
    return VMRow(
        namespace=str(_get(vm, "metadata", "namespace") or ""),
        name=str(_get(vm, "metadata", "name") or ""),
        status=vm_status(vm, vmi),
        run_strategy=run_strategy(vm),
        node=str(_get(vmi, "status", "nodeName") or ""),
        ips=ips(vmi),
        macs=macs(vm, vmi),
        networks=networks(vm),
        migratable=migratable,
        why_not_migratable=why_not,
        eviction_strategy=eviction_strategy(vm, vmi),
        has_instance=vmi is not None,
        migration=migration_phase(migration),
    )


def key_of(obj: Obj) -> str:
    return f"{_get(obj, 'metadata', 'namespace') or ''}/{_get(obj, 'metadata', 'name') or ''}"


def vm_rows(vms: Iterable[Obj], vmis: Iterable[Obj], migrations: Iterable[Obj] = ()) -> list[VMRow]:
    """One row per VM, joined with its VMI and newest migration, sorted by namespace then name."""
    instances = {key_of(vmi): vmi for vmi in vmis}
    moving = newest_migrations(migrations)
    rows = [vm_row(vm, instances.get(key_of(vm)), moving.get(key_of(vm))) for vm in vms]
    return sorted(rows, key=lambda row: (row.namespace, row.name))


@dataclass(frozen=True)
class Filter:
    """The list's filter, from the query string: namespace, status and free text (all optional)."""

    namespace: str = ""
    status: str = ""
    text: str = ""
    name: str = ""  # exactly this VM (an action's page follows the one VM it acted on)

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> Filter:
        # Bounded, so a hostile query string cannot make every event's filtering expensive.
        return cls(
            namespace=query.get("namespace", "")[:63],
            status=query.get("status", "")[:32],
            text=query.get("q", "")[:100].strip().lower(),
            name=query.get("vm", "")[:253],
        )

    def matches(self, row: VMRow) -> bool:
        if self.namespace and row.namespace != self.namespace:
            return False
        if self.status and row.status != self.status:
            return False
        if self.name and row.name != self.name:
            return False
        if self.text:
            haystack = " ".join(
                [row.namespace, row.name, row.node, *row.ips, *row.macs, *(n.target for n in row.networks)]
            ).lower()
            return self.text in haystack
        return True

    def query(self) -> dict[str, str]:
        pairs = (("namespace", self.namespace), ("status", self.status), ("q", self.text), ("vm", self.name))
        return {k: v for k, v in pairs if v}


def conditions(obj: Obj | None) -> list[dict[str, str]]:
    return [
        {key: str(c.get(key) or "") for key in ("type", "status", "reason", "message", "lastTransitionTime")}
        for c in _get(obj, "status", "conditions") or []
    ]


@dataclass(frozen=True)
class Disk:
    name: str
    bus: str
    source: str


def disks(vm: Obj) -> tuple[Disk, ...]:
    volumes = {v.get("name"): v for v in _get(vm, "spec", "template", "spec", "volumes") or []}
    found = []
    for disk in _get(vm, "spec", "template", "spec", "domain", "devices", "disks") or []:
        name = str(disk.get("name", ""))
        bus = str((disk.get("disk") or {}).get("bus") or next(iter(k for k in disk if k != "name"), ""))
        volume = volumes.get(name) or {}
        source = next((f"{k}: {_describe(v)}" for k, v in volume.items() if k != "name"), "no volume")
        found.append(Disk(name, bus, source))
    return tuple(found)


def _describe(source: Any) -> str:
    if isinstance(source, Mapping):
        for key in ("image", "claimName", "name", "secretName"):
            if source.get(key):
                return str(source[key])
    return ""


def events_for(events: Sequence[Obj], kinds: Iterable[str], name: str) -> list[dict[str, str]]:
    """The core/v1 Events about the VM or its VMI, newest first."""
    wanted = set(kinds)
    mine = [
        e
        for e in events
        if _get(e, "involvedObject", "name") == name and _get(e, "involvedObject", "kind") in wanted
    ]
    mine.sort(key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""), reverse=True)
    return [
        {
            "type": str(e.get("type") or ""),
            "reason": str(e.get("reason") or ""),
            "message": str(e.get("message") or ""),
            "when": str(e.get("lastTimestamp") or e.get("eventTime") or ""),
            "kind": str(_get(e, "involvedObject", "kind") or ""),
        }
        for e in mine
    ]
