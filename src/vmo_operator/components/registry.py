"""The ordered set of components, and the one pure entry point that renders them all.

Order matters for readability and for the engine's tie-breaks: the snapshot CRDs and Multus (NAD CRD)
come before KubeVirt, which consumes both, then the descheduler, which moves VMs, and the VM roles;
the alert rules (monitoring), which watch them all, then the VM namespaces and the golden images
imported into one of them; the dashboard, which only shows them, is last. The operator hands this tuple to
the engine, which knows components only through `components.base`.
Every object leaves `render_all` labelled with who manages it, which component rendered it and for
which profile; pruning and drift watches key on those labels.
"""

from __future__ import annotations

from vmo_operator.api.models import VMOProfileSpec
from vmo_operator.components import base
from vmo_operator.components.base import ClusterFacts, Component
from vmo_operator.components.cdi import CDI
from vmo_operator.components.dashboard import DASHBOARD
from vmo_operator.components.descheduler import DESCHEDULER
from vmo_operator.components.goldenimages import GOLDEN_IMAGES
from vmo_operator.components.kubevirt import KUBEVIRT
from vmo_operator.components.monitoring import MONITORING
from vmo_operator.components.multus import MULTUS
from vmo_operator.components.snapshot import SNAPSHOT_CONTROLLER
from vmo_operator.components.vmnamespaces import VM_NAMESPACES
from vmo_operator.components.vmroles import VM_ROLES
from vmo_operator.kube.kinds import Kind
from vmo_operator.kube.objects import Manifest

COMPONENTS: tuple[Component, ...] = (
    SNAPSHOT_CONTROLLER,
    MULTUS,
    KUBEVIRT,
    CDI,
    DESCHEDULER,
    VM_ROLES,
    MONITORING,
    VM_NAMESPACES,
    GOLDEN_IMAGES,
    DASHBOARD,
)


def components() -> tuple[Component, ...]:
    return COMPONENTS


def by_name(name: str) -> Component:
    for component in COMPONENTS:
        if component.name == name:
            return component
    raise KeyError(name)


def render_all(spec: VMOProfileSpec, facts: ClusterFacts, profile: str) -> list[Manifest]:
    """Every desired object of every component, labelled, in component order (pure, deterministic)."""
    return [obj for component in COMPONENTS for obj in base.render_labelled(component, spec, facts, profile)]


def owned_kinds() -> tuple[Kind, ...]:
    """Union of all components' owned kinds, first occurrence order."""
    return base.owned_kinds(COMPONENTS)
