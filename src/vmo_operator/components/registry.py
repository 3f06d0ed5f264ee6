"""The ordered set of components, and the one pure entry point that renders them all.

Order matters for readability and for the engine's tie-breaks: the snapshot CRDs and Multus (NAD CRD)
come before KubeVirt, which consumes both, and the descheduler, which moves VMs, comes last. Every
object leaves here labelled with who manages it, which component rendered it and for which profile;
pruning and drift watches key on those labels.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Any

from vmo_operator.api.models import VMOProfileSpec
from vmo_operator.components import kubevirt
from vmo_operator.components.base import ClusterFacts, Component, ComponentHealth
from vmo_operator.components.cdi import CDI
from vmo_operator.components.descheduler import DESCHEDULER
from vmo_operator.components.kubevirt import KUBEVIRT
from vmo_operator.components.multus import MULTUS
from vmo_operator.components.snapshot import SNAPSHOT_CONTROLLER
from vmo_operator.components.vmroles import VM_ROLES
from vmo_operator.kube.kinds import Kind
from vmo_operator.kube.objects import (
    COMPONENT_LABEL,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    PROFILE_LABEL,
    Manifest,
)

COMPONENTS: tuple[Component, ...] = (SNAPSHOT_CONTROLLER, MULTUS, KUBEVIRT, CDI, DESCHEDULER, VM_ROLES)


def components() -> tuple[Component, ...]:
    return COMPONENTS


def by_name(name: str) -> Component:
    for component in COMPONENTS:
        if component.name == name:
            return component
    raise KeyError(name)


def managed_labels(component: str, profile: str) -> dict[str, str]:
    return {MANAGED_BY_LABEL: MANAGED_BY_VALUE, COMPONENT_LABEL: component, PROFILE_LABEL: profile}


def stamp(manifest: Manifest, component: str, profile: str) -> Manifest:
    """A copy of `manifest` carrying the ownership labels (on the object, not its pod template)."""
    out = copy.deepcopy(manifest)
    meta = out.setdefault("metadata", {})
    meta["labels"] = {**meta.get("labels", {}), **managed_labels(component, profile)}
    return out


def render_component(
    component: Component, spec: VMOProfileSpec, facts: ClusterFacts, profile: str
) -> list[Manifest]:
    return [stamp(obj, component.name, profile) for obj in component.render(spec, facts)]


def render_all(spec: VMOProfileSpec, facts: ClusterFacts, profile: str) -> list[Manifest]:
    """Every desired object of every component, labelled, in component order (pure, deterministic)."""
    return [obj for component in COMPONENTS for obj in render_component(component, spec, facts, profile)]


def owned_kinds() -> tuple[Kind, ...]:
    """Union of all components' owned kinds, first occurrence order."""
    return tuple(dict.fromkeys(kind for component in COMPONENTS for kind in component.owned_kinds))


def status_extras(spec: VMOProfileSpec, healths: Iterable[ComponentHealth] = ()) -> dict[str, Any]:
    """Status fields that come from the spec and the components rather than from conditions.

    `featureGates` is the resolved gate set (its `unknown` list drives a warning condition);
    `kubevirtVersion` (printer column) is taken from the KubeVirt health when it is passed.
    """
    extras: dict[str, Any] = {}
    if spec.kubevirt.enabled:
        extras["featureGates"] = kubevirt.gate_resolution(spec.kubevirt).status()
    kubevirt_health = next((h for h in healths if h.name == KUBEVIRT.name), None)
    if kubevirt_health is not None:
        extras["kubevirtVersion"] = kubevirt_health.version
    return extras


def gate_warnings(spec: VMOProfileSpec) -> Sequence[str]:
    """Human-readable notes from gate resolution (unknown names, GA gates that cannot be disabled)."""
    return kubevirt.gate_resolution(spec.kubevirt).warnings if spec.kubevirt.enabled else ()
