"""One reconcile of a VMOProfile, and its removal: the imperative shell around the pure core.

read profile -> parse spec -> observe facts and owned objects -> render -> apply in waves ->
prune -> assess each component -> status. Nothing here knows a component by name; components
come from the registry and speak through `components.base`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from vmo_operator.api import models
from vmo_operator.components import registry
from vmo_operator.components.base import ClusterFacts, Component, ComponentHealth, workload_kinds
from vmo_operator.engine.apply import (
    ApplyResult,
    CRDsNotEstablishedError,
    KindIndex,
    apply_desired,
    observe_owned,
    prune,
)
from vmo_operator.engine.status import ReconcileFacts, build_status, status_changed
from vmo_operator.kube import kinds
from vmo_operator.kube.client import KubeClient, KubeError
from vmo_operator.kube.objects import Manifest, ObjectKey, component_of, is_ours

SNAPSHOT_CRD_NAME = "volumesnapshots.snapshot.storage.k8s.io"
_SNAPSHOT_CONTROLLER_SELECTORS = ("app=snapshot-controller", "app.kubernetes.io/name=snapshot-controller")


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
        return any(
            c.get("type") == "Available" and c.get("status") == "True"
            for c in self.status.get("conditions", [])
        )


def _index() -> KindIndex:
    return KindIndex(registry.owned_kinds())


def active_profile(profiles: Sequence[Manifest]) -> Manifest | None:
    """The oldest profile is the one that is applied; the others only report that they are not."""
    if not profiles:
        return None
    return min(profiles, key=lambda p: (p["metadata"]["creationTimestamp"], p["metadata"]["name"]))


def observe_facts(kube: KubeClient) -> ClusterFacts:
    kube_system = kube.get(kinds.NAMESPACE, "kube-system")
    cluster_id = str((kube_system or {}).get("metadata", {}).get("uid", ""))
    snapshot_crd = kube.get(kinds.CRD, SNAPSHOT_CRD_NAME)
    foreign_crds = snapshot_crd is not None and not is_ours(snapshot_crd)
    foreign_controller = any(
        not is_ours(deployment)
        for selector in _SNAPSHOT_CONTROLLER_SELECTORS
        for deployment in kube.list(kinds.DEPLOYMENT, label_selector=selector)
    )
    return ClusterFacts(
        cluster_id=cluster_id,
        foreign_snapshot_crds=foreign_crds,
        foreign_snapshot_controller=foreign_controller,
    )


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


def _spec_error(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        location = ".".join(str(p) for p in item["loc"])
        parts.append(f"spec.{location}: {item['msg']}" if location else item["msg"])
    return "; ".join(parts)


def reconcile(
    kube: KubeClient,
    profile: Manifest,
    *,
    inactive_because: str = "",
    now: str | None = None,
) -> Outcome:
    """Bring the cluster to what `profile` declares and compute its status. Never raises on bad input."""
    now = now or now_rfc3339()
    meta = profile.get("metadata", {})
    generation = int(meta.get("generation", 0))
    previous = profile.get("status") or {}

    def outcome(titled: Sequence[tuple[str, ComponentHealth]], facts: ReconcileFacts, **kw: Any) -> Outcome:
        extra = kw.pop("extra", None)
        status = build_status(previous, titled, facts, now=now, extra=extra)
        return Outcome(status, status_changed(previous, status), **kw)

    if inactive_because:
        return outcome([], ReconcileFacts(generation, inactive_because=inactive_because))
    try:
        spec = models.parse_spec(profile.get("spec"))
    except ValidationError as exc:
        return outcome([], ReconcileFacts(generation, spec_error=_spec_error(exc)), error=_spec_error(exc))

    index = _index()
    results: list[ApplyResult] = []
    apply_error = waiting = ""
    transient = False
    blocked: dict[str, str] = {}
    facts: ClusterFacts | None = None
    observed: dict[ObjectKey, Manifest] = {}
    try:
        facts = observe_facts(kube)
        desired = registry.render_all(spec, facts, str(meta.get("name", "")))
        observed = observe_owned(kube, index.all)
        if _blocks_removal(spec):
            blocked = _blocked_removals(kube, desired, observed)
        results += apply_desired(kube, index, desired, observed)
        results += prune(kube, index, desired, observed, keep=frozenset(blocked))
    except CRDsNotEstablishedError as exc:
        waiting, transient = str(exc), True
    except KubeError as exc:
        if exc.namespace_terminating:  # waiting fixes it: Progressing, not Degraded
            waiting, transient = str(exc), True
        else:
            apply_error, transient = str(exc), exc.transient

    healths = [_assess(component, spec, facts, observed, apply_error) for component in registry.components()]
    titled = [
        (component.title, health) for component, health in zip(registry.components(), healths, strict=True)
    ]
    extras = registry.status_extras(spec, healths)
    facts_for_status = ReconcileFacts(
        generation,
        apply_error=apply_error,
        changed=sum(1 for r in results if r.action != "retained"),
        blocked=blocked,
        waiting=waiting,
        unknown_gates=tuple(extras.get("featureGates", {}).get("unknown", [])),
    )
    return outcome(
        titled,
        facts_for_status,
        extra=extras,
        results=results,
        error=apply_error or waiting,
        transient=transient,
        healths=healths,
        blocked=blocked,
        managed={
            c.name: sum(1 for o in observed.values() if component_of(o) == c.name)
            for c in registry.components()
        },
    )


def _blocked_removals(
    kube: KubeClient, desired: Sequence[Manifest], observed: Mapping[ObjectKey, Manifest]
) -> dict[str, str]:
    """Components being switched off while their workloads (VMs, DataVolumes) still exist."""
    rendered = {component_of(obj) for obj in desired}
    live = {component_of(obj) for obj in observed.values()}
    blocked = {}
    for component in registry.components():
        if component.name in live and component.name not in rendered:
            workloads = find_workloads(kube, component)
            if workloads:
                blocked[component.name] = "still in use by " + ", ".join(workloads)
    return blocked


def _assess(
    component: Component,
    spec: models.VMOProfileSpec,
    facts: ClusterFacts | None,
    observed: Mapping[ObjectKey, Manifest],
    apply_error: str,
) -> ComponentHealth:
    if facts is None or apply_error:
        enabled = component.enabled(spec, facts or ClusterFacts())
        return ComponentHealth(
            component.name, enabled, False, reason="Unknown", message="not assessed: the reconcile failed"
        )
    return component.assess(spec, facts, _observed_for(component, observed))


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


def teardown(kube: KubeClient, profile: Manifest) -> Teardown:
    """Remove everything the profile installed, in reverse order, unless workloads block it."""
    try:
        spec: models.VMOProfileSpec | None = models.parse_spec(profile.get("spec"))
    except ValidationError:
        spec = None  # an unparseable spec still must not strand the objects we created
    if spec is None or _blocks_removal(spec):
        blockers = [w for component in registry.components() for w in find_workloads(kube, component)]
        if blockers:
            return Teardown(False, blockers, [], -1)
    index = _index()
    observed = observe_owned(kube, index.all)
    results = prune(kube, index, [], observed, release_retained=True)
    remaining = observe_owned(kube, index.all)
    return Teardown(not remaining, [], results, len(remaining))
