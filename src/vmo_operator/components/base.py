"""The contract every operand module fulfils, and the values that cross it.

The engine knows components only through this interface: it asks each one for the objects it
wants (`render`), lists the kinds it may own (`owned_kinds`) to prune leftovers, and hands back
what it observed so the component can judge its own health (`assess`). Components never do I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from vmo_operator.kube.kinds import Kind
from vmo_operator.kube.objects import Manifest, ObjectKey

if TYPE_CHECKING:
    from vmo_operator.api.models import VMOProfileSpec


@dataclass(frozen=True)
class ClusterFacts:
    """What the engine observed about the cluster before rendering; components stay pure."""

    cluster_id: str = ""
    # VolumeSnapshot CRDs exist and are not labelled as ours (someone else installed them).
    foreign_snapshot_crds: bool = False
    # A snapshot-controller Deployment exists that is not ours.
    foreign_snapshot_controller: bool = False
    # Names of Nodes, for components whose defaults depend on cluster size.
    node_count: int = 0


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

    def assess(self, spec: VMOProfileSpec, facts: ClusterFacts, observed: Observed) -> ComponentHealth:
        """Health from the live objects the engine observed for this component's rendered objects."""


def workload_kinds(component: Component) -> tuple[Kind, ...]:
    """Kinds of user workloads (VMs, DataVolumes) whose existence blocks removing `component`.

    Optional capability: a component declares it with a `workload_kinds` attribute; most have none.
    """
    kinds = getattr(component, "workload_kinds", ())
    return tuple(kinds)
