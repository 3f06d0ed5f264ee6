"""What must not be removed yet: components whose workloads exist, and objects workloads still use.

Two guards, both asked only when something is about to go. A component being switched off (or a
profile being deleted) under `BlockUninstallIfWorkloadsExist` waits while its workloads (VMs,
DataVolumes) exist. An object a component guards (`components.base.GuardsRemoval`, e.g. a VLAN's
NetworkAttachmentDefinition) stays while workloads use it, until the profile's annotations accept
its removal. Messages name a few blockers and say how many more there are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from vmo_operator.components.base import Component, GuardsRemoval, workload_kinds
from vmo_operator.kube.client import KubeClient
from vmo_operator.kube.kinds import Kind
from vmo_operator.kube.objects import Manifest, ObjectKey, component_of

SHOWN = 5


def listing(names: Sequence[str], total: int | None = None, shown: int = SHOWN) -> str:
    """ "a, b, c, d, e and 4 more": at most `shown` names, and how many of `total` are left out."""
    total = len(names) if total is None else total
    head = ", ".join(names[:shown])
    rest = total - min(len(names), shown)
    return f"{head} and {rest} more" if rest > 0 else head


@dataclass(frozen=True)
class Workloads:
    """A sample of the workloads found, and how many exist in all."""

    names: tuple[str, ...] = ()
    total: int = 0

    def __bool__(self) -> bool:
        return self.total > 0

    def __add__(self, other: Workloads) -> Workloads:
        return Workloads(self.names + other.names, self.total + other.total)

    def described(self) -> str:
        return listing(self.names, self.total)


def _where(meta: Mapping[str, object]) -> str:
    return f"{meta.get('namespace')}/{meta.get('name')}" if meta.get("namespace") else str(meta.get("name"))


def find_workloads(kube: KubeClient, component: Component, sample: int = SHOWN) -> Workloads:
    """User workloads that block removing `component`, e.g. "VirtualMachine default/vm1", and a count."""
    found = Workloads()
    for kind in workload_kinds(component):
        items, total = kube.sample(kind, sample)
        names = tuple(f"{kind.kind} {_where(item.get('metadata') or {})}" for item in items)
        found += Workloads(names, total)
    return found


def blocked_components(
    kube: KubeClient,
    components: Sequence[Component],
    desired: Sequence[Manifest],
    observed: Mapping[ObjectKey, Manifest],
) -> dict[str, str]:
    """Components being switched off while their workloads (VMs, DataVolumes) still exist."""
    rendered = {component_of(obj) for obj in desired}
    live = {component_of(obj) for obj in observed.values()}
    blocked = {}
    for component in components:
        if component.name in live and component.name not in rendered:
            workloads = find_workloads(kube, component)
            if workloads:
                blocked[component.name] = "still in use by " + workloads.described()
    return blocked


@dataclass(frozen=True)
class GuardedObject:
    key: ObjectKey
    subject: str  # "network vlan-20 in namespace t-1"
    why: str


def objects_in_use(
    kube: KubeClient,
    components: Sequence[Component],
    desired: Sequence[Manifest],
    observed: Mapping[ObjectKey, Manifest],
    profile: Manifest,
) -> list[GuardedObject]:
    """Objects about to be pruned that workloads still use and whose removal was not accepted."""
    wanted = {ObjectKey.of(obj) for obj in desired}
    meta = profile.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    listed: dict[Kind, list[Manifest]] = {}
    guarded = []
    for component in components:
        if not isinstance(component, GuardsRemoval):
            continue
        doomed = [
            obj for key, obj in observed.items() if key not in wanted and component_of(obj) == component.name
        ]
        for obj in doomed:
            if component.removal_accepted(obj, annotations):
                continue
            for kind in component.usage_kinds:
                if kind not in listed:
                    listed[kind] = [
                        {**item, "apiVersion": kind.api_version, "kind": kind.kind}
                        for item in kube.list(kind)
                    ]
            workloads = [item for kind in component.usage_kinds for item in listed[kind]]
            users = component.users(obj, workloads)
            if users:
                why = (
                    f"still used by {listing(users)}; it is kept. To remove it anyway, "
                    + component.accept_hint(obj, str(meta.get("name", "")))
                )
                guarded.append(GuardedObject(ObjectKey.of(obj), component.guarded_name(obj), why))
    return guarded
