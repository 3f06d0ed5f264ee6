"""One reconcile of a VMOProfile, and its removal: the imperative shell around the pure core.

read profile -> parse spec -> observe facts and owned objects -> render -> apply in waves ->
prune -> assess each component -> status. Nothing here knows a component by name: the operator
hands in the ordered components, and they speak through `components.base` (what they need to
observe, what they render, how healthy they are, what they add to the status).

A failure belongs to the object it happened to (`engine.apply.Failure`) and so to that object's
component: the component is marked with the reason, everything else is still applied and
assessed. Only a cluster that cannot be read at all leaves every component unassessed.
"""

from __future__ import annotations

import dataclasses
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
)
from vmo_operator.engine.apply import (
    ApplyResult,
    Failure,
    KindIndex,
    apply_desired,
    observe_owned,
    prune,
)
from vmo_operator.engine.guards import Workloads, blocked_components, find_workloads, objects_in_use
from vmo_operator.engine.status import (
    AVAILABLE,
    ReconcileFacts,
    build_status,
    component_contributions,
    status_patch,
    tainted_configuration,
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
    status_fields: dict[str, Any]  # what to write (`status.status_patch`); empty when nothing changed
    results: list[ApplyResult] = field(default_factory=list)
    error: str = ""  # what needs someone to act, or a retry ("" when only waiting)
    transient: bool = False
    healths: list[ComponentHealth] = field(default_factory=list)
    managed: dict[str, int] = field(default_factory=dict)  # live owned objects per component
    blocked: dict[str, str] = field(default_factory=dict)  # what is kept -> why its removal waits
    failures: dict[ObjectKey, Failure] = field(default_factory=dict)

    @property
    def status_needs_write(self) -> bool:
        return bool(self.status_fields)

    @property
    def available(self) -> bool:
        return condition_is_true({"status": self.status}, AVAILABLE)

    @property
    def awaited_namespaces(self) -> frozenset[str]:
        """Namespaces that objects wait for: their creation should wake the profile."""
        return frozenset(f.namespace for f in self.failures.values() if f.waiting and f.namespace)


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


def _blocks_removal(spec: models.VMOProfileSpec) -> bool:
    return spec.uninstall_strategy == "BlockUninstallIfWorkloadsExist"


def described(key: ObjectKey) -> str:
    return f"{key.kind} {key.namespace}/{key.name}" if key.namespace else f"{key.kind} {key.name}"


@dataclass
class _Round:
    """What the apply part of one reconcile produced."""

    facts: ClusterFacts | None = None
    rendered: dict[str, list[Manifest]] = field(default_factory=dict)
    observed: dict[ObjectKey, Manifest] = field(default_factory=dict)
    results: list[ApplyResult] = field(default_factory=list)
    failures: dict[ObjectKey, Failure] = field(default_factory=dict)
    owner: dict[ObjectKey, str] = field(default_factory=dict)  # failed object -> its component
    blocked: dict[str, str] = field(default_factory=dict)


def _apply(
    kube: KubeClient, profile: Manifest, spec: models.VMOProfileSpec, components: Sequence[Component]
) -> _Round:
    """Observe, render, apply and prune; raises KubeError only when the cluster cannot be read."""
    index = _index(components)
    done = _Round()
    done.facts = observe_facts(kube, components)
    name = str(profile.get("metadata", {}).get("name", ""))
    done.rendered = {c.name: render_labelled(c, spec, done.facts, name) for c in components}
    desired = [obj for objects in done.rendered.values() for obj in objects]
    done.observed = observe_owned(kube, index.all)
    done.owner = {ObjectKey.of(o): component_of(o) for o in [*desired, *done.observed.values()]}
    if _blocks_removal(spec):
        done.blocked = blocked_components(kube, components, desired, done.observed)
    in_use = objects_in_use(kube, components, desired, done.observed, profile)
    done.blocked.update({guarded.subject: guarded.why for guarded in in_use})
    applied = apply_desired(kube, index, desired, done.observed)
    keep_objects = frozenset(guarded.key for guarded in in_use)
    pruned = prune(
        kube, index, desired, done.observed, keep=frozenset(done.blocked), keep_objects=keep_objects
    )
    done.results = applied.results + pruned.results
    done.failures = {**applied.failures, **pruned.failures}
    return done


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
        return Outcome(status, status_patch(previous, status), **kw)

    if inactive_because:
        return outcome([], ReconcileFacts(generation, inactive_because=inactive_because))
    try:
        spec = models.parse_spec(profile.get("spec"))
    except ValidationError as exc:
        problems = profiles.spec_error(exc)
        return outcome([], ReconcileFacts(generation, spec_error=problems), error=problems)

    apply_error, transient = "", False
    try:
        done = _apply(kube, profile, spec, components)
    except KubeError as exc:
        done, apply_error, transient = _Round(), str(exc), exc.transient

    healths = [
        _assess(component, spec, done, apply_error, _failures_of(component, done)) for component in components
    ]
    titled = [(component.title, health) for component, health in zip(components, healths, strict=True)]
    fields, extra_conditions = component_contributions(components, spec, healths)
    extra_conditions = [*extra_conditions, *tainted_configuration(spec)]
    waiting = [f"{described(key)}: {f.message}" for key, f in done.failures.items() if f.waiting]
    errors = [(key, f) for key, f in done.failures.items() if not f.waiting]
    failed = [f"{described(key)}: {f.message}" for key, f in errors]
    facts_for_status = ReconcileFacts(
        generation,
        apply_error=apply_error,
        changed=sum(1 for r in done.results if r.action != "retained"),
        blocked=done.blocked,
        waiting=waiting,
        failed=failed,
    )
    return outcome(
        titled,
        facts_for_status,
        extra=fields,
        extra_conditions=extra_conditions,
        results=done.results,
        error=apply_error or "; ".join(failed),
        transient=transient or (bool(errors) and all(f.transient for _, f in errors)),
        healths=healths,
        blocked=done.blocked,
        failures=done.failures,
        managed={
            c.name: sum(1 for o in done.observed.values() if component_of(o) == c.name) for c in components
        },
    )


def _failures_of(component: Component, done: _Round) -> list[tuple[ObjectKey, Failure]]:
    return [(key, f) for key, f in done.failures.items() if done.owner.get(key) == component.name]


def _assess(
    component: Component,
    spec: models.VMOProfileSpec,
    done: _Round,
    apply_error: str,
    failures: Sequence[tuple[ObjectKey, Failure]],
) -> ComponentHealth:
    if done.facts is None or apply_error:
        enabled = component.enabled(spec, done.facts or ClusterFacts())
        return ComponentHealth(
            component.name,
            enabled,
            False,
            reason="Unknown",
            message="not assessed: the cluster could not be read",
        )
    observed = {key: obj for key, obj in done.observed.items() if component_of(obj) == component.name}
    health = component.assess(spec, done.facts, done.rendered.get(component.name, []), observed)
    return with_failures(health, failures)


def with_failures(health: ComponentHealth, failures: Sequence[tuple[ObjectKey, Failure]]) -> ComponentHealth:
    """`health` marked with what could not be written: errors degrade it, waits keep it progressing."""
    if not failures:
        return health
    errors = [f for _, f in failures if not f.waiting and not f.transient]
    parts = [f"{described(key)}: {f.message}" for key, f in failures]
    if health.message and not health.ready:
        parts.append(health.message)
    if errors:
        reason = "ApplyFailed"
    elif all(f.namespace for _, f in failures):
        reason = "WaitingForNamespace"
    else:
        reason = "Waiting"
    return dataclasses.replace(
        health,
        ready=False,
        degraded=health.degraded or bool(errors),
        progressing=health.progressing or not errors,
        reason=reason,
        message="; ".join(parts),
    )


@dataclass(frozen=True)
class Teardown:
    done: bool
    blocked_by: str  # a few of the workloads that block the removal, and how many more
    results: list[ApplyResult]
    remaining: int


def teardown(kube: KubeClient, profile: Manifest, components: Sequence[Component]) -> Teardown:
    """Remove everything the profile installed, in reverse order, unless workloads block it."""
    try:
        spec: models.VMOProfileSpec | None = models.parse_spec(profile.get("spec"))
    except ValidationError:
        spec = None  # an unparseable spec still must not strand the objects we created
    if spec is None or _blocks_removal(spec):
        blockers = sum((find_workloads(kube, component) for component in components), start=Workloads())
        if blockers:
            return Teardown(False, blockers.described(), [], -1)
    index = _index(components)
    observed = observe_owned(kube, index.all)
    report = prune(kube, index, [], observed, release_retained=True)
    remaining = observe_owned(kube, index.all)
    return Teardown(not remaining, "", report.results, len(remaining))
