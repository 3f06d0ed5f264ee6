"""The contract every operand module fulfils, and the values that cross it.

The engine knows components only through this interface: it asks each one for the objects it
wants (`render`), lists the kinds it may own (`owned_kinds`) to prune leftovers, and hands back
what it rendered and observed so the component can judge its own health (`assess`). Components
never do I/O. What a component needs to know about the cluster before it renders, and what it adds
to the profile's status beyond its own `<Title>Ready` condition, are optional capabilities
(`ObservesCluster`, `ReportsStatus`), so the engine never has to know which component wants what.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar, runtime_checkable

from vmo_operator.kube.kinds import Kind
from vmo_operator.kube.objects import Manifest, ObjectKey, managed_labels

if TYPE_CHECKING:
    from vmo_operator.api.models import VMOProfileSpec

T = TypeVar("T")


@dataclass(frozen=True)
class ClusterFacts:
    """What the engine observed about the cluster before rendering; components stay pure."""

    cluster_id: str = ""  # the kube-system namespace UID
    # What each component that observes the cluster (see `ObservesCluster`) made of its own fact
    # queries, keyed by component name. The engine carries these values without looking inside.
    by_component: Mapping[str, object] = field(default_factory=dict)

    def of(self, component: str, expected: type[T]) -> T | None:
        """The facts `component` derived, or None when it observed nothing (e.g. offline rendering)."""
        found = self.by_component.get(component)
        return found if isinstance(found, expected) else None


@dataclass(frozen=True)
class FactQuery:
    """One read a component needs before it renders: the object of `kind` called `name`, or the
    objects of `kind` matching `label_selector` (in every namespace)."""

    kind: Kind
    name: str = ""
    namespace: str = ""
    label_selector: str = ""


@dataclass(frozen=True)
class ComponentHealth:
    """One component's judgement of itself, from observed objects only."""

    name: str
    enabled: bool
    ready: bool
    version: str = ""
    reason: str = ""  # CamelCase, e.g. "DeploymentsNotReady"
    message: str = ""
    progressing: bool = False
    degraded: bool = False
    # Set when the component chose not to install (e.g. a foreign snapshot controller exists).
    skipped: bool = False
    details: Mapping[str, Any] = field(default_factory=dict)


ConditionStatus = Literal["True", "False", "Unknown"]


@dataclass(frozen=True)
class ConditionSpec:
    """A condition we intend to set, before times and generations are stamped on it."""

    type: str
    status: ConditionStatus
    reason: str
    message: str = ""


Observed = Mapping[ObjectKey, Manifest | None]


class Component(Protocol):
    """One operand: KubeVirt, CDI, Multus, descheduler or snapshot controller."""

    @property
    def name(self) -> str:
        """Short id used in labels and status keys, e.g. "kubevirt"."""

    @property
    def title(self) -> str:
        """Display name used in condition types, e.g. "KubeVirt" -> KubeVirtReady."""

    @property
    def owned_kinds(self) -> tuple[Kind, ...]:
        """Every kind this component may create, so the engine can prune what it no longer renders."""

    def enabled(self, spec: VMOProfileSpec, facts: ClusterFacts) -> bool:
        """Whether the component should be installed at all."""

    def render(self, spec: VMOProfileSpec, facts: ClusterFacts) -> list[Manifest]:
        """Desired objects, deterministic for equal inputs. Empty when not enabled."""

    def assess(
        self, spec: VMOProfileSpec, facts: ClusterFacts, rendered: Sequence[Manifest], observed: Observed
    ) -> ComponentHealth:
        """Health from the live objects the engine observed for `rendered`, what this round rendered."""


@runtime_checkable
class ObservesCluster(Protocol):
    """Optional capability: a component whose rendering depends on what already is in the cluster.

    It declares the reads (`fact_queries`) and turns what they found into its facts with a pure
    function (`facts_from`); the engine runs the reads and files the result in `ClusterFacts`.
    """

    @property
    def fact_queries(self) -> tuple[FactQuery, ...]:
        """The reads to run before rendering, in a fixed order."""

    def facts_from(self, found: Sequence[Sequence[Manifest]]) -> object:
        """The component's facts from the objects each query found (one list per query, same order)."""


@runtime_checkable
class ReportsStatus(Protocol):
    """Optional capability: status fields and conditions a component adds beyond `<Title>Ready`."""

    def status_fields(self, spec: VMOProfileSpec, health: ComponentHealth) -> Mapping[str, Any]:
        """Top-level status fields, e.g. a printer column's value."""

    def extra_conditions(self, spec: VMOProfileSpec, health: ComponentHealth) -> Sequence[ConditionSpec]:
        """Conditions of the profile that only this component can judge."""


@runtime_checkable
class GuardsRemoval(Protocol):
    """Optional capability: objects that workloads may be using (a VLAN's NADs that VMs attach to).

    Before such an object is pruned, the engine lists `usage_kinds` and asks `users`; an object in
    use stays until the profile's annotations accept its removal (`removal_accepted`), so an edit
    that drops a network (or a GitOps apply that silently loses it) cannot cut VMs off unnoticed.
    """

    @property
    def usage_kinds(self) -> tuple[Kind, ...]:
        """Kinds of the workloads that may use this component's objects."""

    def users(self, obj: Manifest, workloads: Sequence[Manifest]) -> list[str]:
        """The workloads that use `obj`, named like "VirtualMachine ns/name"."""

    def removal_accepted(self, obj: Manifest, annotations: Mapping[str, str]) -> bool:
        """Whether the profile's annotations accept removing `obj` although it is in use."""

    def guarded_name(self, obj: Manifest) -> str:
        """What the admin removed, e.g. "network vlan-20 in namespace t-1"."""

    def accept_hint(self, obj: Manifest, profile: str) -> str:
        """How to accept the removal, e.g. the `kubectl annotate` command."""


def workload_kinds(component: Component) -> tuple[Kind, ...]:
    """Kinds of user workloads (VMs, DataVolumes) whose existence blocks removing `component`.

    Optional capability: a component declares it with a `workload_kinds` attribute; most have none.
    """
    kinds = getattr(component, "workload_kinds", ())
    return tuple(kinds)


def stamp(manifest: Manifest, component: str, profile: str) -> Manifest:
    """A copy of `manifest` carrying the ownership labels (on the object, not its pod template)."""
    out = copy.deepcopy(manifest)
    meta = out.setdefault("metadata", {})
    meta["labels"] = {**meta.get("labels", {}), **managed_labels(component, profile)}
    return out


def render_labelled(
    component: Component, spec: VMOProfileSpec, facts: ClusterFacts, profile: str
) -> list[Manifest]:
    """What `component` renders, each object labelled with who manages it, the component and profile.

    Pruning and drift watches key on those labels, so every rendering the engine applies goes
    through here.
    """
    return [stamp(obj, component.name, profile) for obj in component.render(spec, facts)]


def owned_kinds(components: Sequence[Component]) -> tuple[Kind, ...]:
    """Union of the components' owned kinds, first occurrence order."""
    return tuple(dict.fromkeys(kind for component in components for kind in component.owned_kinds))
