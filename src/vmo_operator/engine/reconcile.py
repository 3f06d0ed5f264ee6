"""One reconcile of a VMOProfile, and its removal: the imperative shell around the pure core.

read profile -> parse spec -> observe facts and owned objects -> render -> apply in waves ->
prune -> assess each component -> status. Nothing here knows a component by name: the operator
hands in the ordered components, and they speak through `components.base` (what they need to
observe, what they render, how healthy they are, what they add to the status).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from vmo_operator.api import models, profiles
from vmo_operator.components.base import (
    ClusterFacts,
    Component,
    ComponentHealth,
    ConditionSpec,
    FactQuery,
    ObservesCluster,
    owned_kinds,
    render_labelled,
    workload_kinds,
)
from vmo_operator.engine.apply import (
    ApplyResult,
    CRDsNotEstablishedError,
    KindIndex,
    apply_desired,
    observe_owned,
    prune,
)
from vmo_operator.engine.status import (
    AVAILABLE,
    ReconcileFacts,
    build_status,
    component_contributions,
    status_changed,
)
from vmo_operator.kube.client import KubeClient, KubeError
from vmo_operator.kube.cluster import cluster_uid
from vmo_operator.kube.objects import Manifest, ObjectKey, component_of, condition_is_true


def now_rfc3339() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Outcome:
    """What one reconcile did and wants written; the kopf layer records and requeues from it."""

    status: dict[str, Any]
    status_needs_write: bool
    results: list[ApplyResult] = field(default_factory=list)
    error: str = ""
    transient: bool = False
    healths: list[ComponentHealth] = field(default_factory=list)
    managed: dict[str, int] = field(default_factory=dict)  # live owned objects per component
    blocked: dict[str, str] = field(default_factory=dict)  # component -> what blocks its removal

    @property
    def available(self) -> bool:
        return condition_is_true({"status": self.status}, AVAILABLE)


def _index(components: Sequence[Component]) -> KindIndex:
    return KindIndex(owned_kinds(components))


def observe_facts(kube: KubeClient, components: Sequence[Component]) -> ClusterFacts:
    """The cluster UID, and what each component that asks (`ObservesCluster`) makes of its reads."""
    cluster_id = cluster_uid(kube)
    by_component = {
        component.name: component.facts_from([_run(kube, query) for query in component.fact_queries])
        for component in components
        if isinstance(component, ObservesCluster)
    }
    return ClusterFacts(cluster_id=cluster_id, by_component=by_component)


def _run(kube: KubeClient, query: FactQuery) -> list[Manifest]:
    if query.name:
        found = kube.get(query.kind, query.name, query.namespace)
        return [found] if found is not None else []
    return kube.list(query.kind, label_selector=query.label_selector, namespace=query.namespace)


def find_workloads(kube: KubeClient, component: Component, sample: int = 5) -> list[str]:
    """Names of user workloads that block removing `component`, e.g. "VirtualMachine default/vm1"."""
    found = []
    for kind in workload_kinds(component):
        for item in kube.list(kind, at_most=sample):
            meta = item.get("metadata", {})
            where = (
                f"{meta.get('namespace')}/{meta.get('name')}" if meta.get("namespace") else meta.get("name")
            )
            found.append(f"{kind.kind} {where}")
    return found


def _blocks_removal(spec: models.VMOProfileSpec) -> bool:
    return spec.uninstall_strategy == "BlockUninstallIfWorkloadsExist"


def reconcile(
    kube: KubeClient,
    profile: Manifest,
    components: Sequence[Component],
    *,
    inactive_because: str = "",
    now: str | None = None,
) -> Outcome:
    """Bring the cluster to what `profile` declares and compute its status. Never raises on bad input.

    `components` are the operands in apply order (the operator passes `registry.components()`).
    """
    now = now or now_rfc3339()
    meta = profile.get("metadata", {})
    generation = int(meta.get("generation", 0))
    previous = profile.get("status") or {}

    def outcome(
        titled: Sequence[tuple[str, ComponentHealth]],
        facts: ReconcileFacts,
        *,
        extra: Mapping[str, Any] | None = None,
        extra_conditions: Sequence[ConditionSpec] = (),
        **kw: Any,
    ) -> Outcome:
        status = build_status(
            previous, titled, facts, now=now, extra=extra, extra_conditions=extra_conditions
        )
        return Outcome(status, status_changed(previous, status), **kw)

    if inactive_because:
        return outcome([], ReconcileFacts(generation, inactive_because=inactive_because))
    try:
        spec = models.parse_spec(profile.get("spec"))
    except ValidationError as exc:
        problems = profiles.spec_error(exc)
        return outcome([], ReconcileFacts(generation, spec_error=problems), error=problems)

    index = _index(components)
    results: list[ApplyResult] = []
    apply_error = waiting = ""
    transient = False
    blocked: dict[str, str] = {}
    facts: ClusterFacts | None = None
    rendered: dict[str, list[Manifest]] = {}
    observed: dict[ObjectKey, Manifest] = {}
    try:
        facts = observe_facts(kube, components)
        rendered = {c.name: render_labelled(c, spec, facts, str(meta.get("name", ""))) for c in components}
        desired = [obj for objects in rendered.values() for obj in objects]
        observed = observe_owned(kube, index.all)
        if _blocks_removal(spec):
            blocked = _blocked_removals(kube, components, desired, observed)
        results += apply_desired(kube, index, desired, observed)
        results += prune(kube, index, desired, observed, keep=frozenset(blocked))
    except CRDsNotEstablishedError as exc:
        waiting, transient = str(exc), True
    except KubeError as exc:
        if exc.namespace_terminating:  # waiting fixes it: Progressing, not Degraded
            waiting, transient = str(exc), True
        else:
            apply_error, transient = str(exc), exc.transient

    healths = [
        _assess(component, spec, facts, rendered.get(component.name, []), observed, apply_error)
        for component in components
    ]
    titled = [(component.title, health) for component, health in zip(components, healths, strict=True)]
    fields, extra_conditions = component_contributions(components, spec, healths)
    facts_for_status = ReconcileFacts(
        generation,
        apply_error=apply_error,
        changed=sum(1 for r in results if r.action != "retained"),
        blocked=blocked,
        waiting=waiting,
    )
    return outcome(
        titled,
        facts_for_status,
        extra=fields,
        extra_conditions=extra_conditions,
        results=results,
        error=apply_error or waiting,
        transient=transient,
        healths=healths,
        blocked=blocked,
        managed={c.name: sum(1 for o in observed.values() if component_of(o) == c.name) for c in components},
    )


def _blocked_removals(
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
                blocked[component.name] = "still in use by " + ", ".join(workloads)
    return blocked


def _assess(
    component: Component,
    spec: models.VMOProfileSpec,
    facts: ClusterFacts | None,
    rendered: Sequence[Manifest],
    observed: Mapping[ObjectKey, Manifest],
    apply_error: str,
) -> ComponentHealth:
    if facts is None or apply_error:
        enabled = component.enabled(spec, facts or ClusterFacts())
        return ComponentHealth(
            component.name, enabled, False, reason="Unknown", message="not assessed: the reconcile failed"
        )
    return component.assess(spec, facts, rendered, _observed_for(component, observed))


def _observed_for(
    component: Component, observed: Mapping[ObjectKey, Manifest]
) -> dict[ObjectKey, Manifest | None]:
    return {key: obj for key, obj in observed.items() if component_of(obj) == component.name}


@dataclass(frozen=True)
class Teardown:
    done: bool
    blocked_by: list[str]
    results: list[ApplyResult]
    remaining: int


def teardown(kube: KubeClient, profile: Manifest, components: Sequence[Component]) -> Teardown:
    """Remove everything the profile installed, in reverse order, unless workloads block it."""
    try:
        spec: models.VMOProfileSpec | None = models.parse_spec(profile.get("spec"))
    except ValidationError:
        spec = None  # an unparseable spec still must not strand the objects we created
    if spec is None or _blocks_removal(spec):
        blockers = [w for component in components for w in find_workloads(kube, component)]
        if blockers:
            return Teardown(False, blockers, [], -1)
    index = _index(components)
    observed = observe_owned(kube, index.all)
    results = prune(kube, index, [], observed, release_retained=True)
    remaining = observe_owned(kube, index.all)
    return Teardown(not remaining, [], results, len(remaining))
