"""Apply desired objects in dependency waves, observe what we own, and prune what we no longer render.

Waves: namespaces and CRDs first (then wait until the CRDs are Established), identities and
config next, bindings, workloads, and custom resources last. Pruning walks the same waves in
reverse, so custom resources go before the CRDs that define them and namespaces go last.
Only objects carrying our managed-by label are ever listed, so nothing foreign is touched.

One object's failure is that object's: it is recorded (`Failure`, keyed by the object) and every
other object is still written, so one bad network entry or one component the API server refuses
never holds back the rest. Custom resources of a CRD that is not Established yet are not sent;
they wait, as do objects in a namespace that does not exist yet or is being deleted.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from vmo_operator.engine.diff import drifted, needs_apply, stamp
from vmo_operator.kube.client import KubeClient, KubeError
from vmo_operator.kube.kinds import CRD, NAMESPACE, Kind
from vmo_operator.kube.objects import (
    COMPONENT_LABEL,
    MANAGED_BY_LABEL,
    MANAGED_SELECTOR,
    ON_PRUNE_ANNOTATION,
    PROFILE_LABEL,
    RELEASE,
    RELEASE_AS_IS,
    RELEASED_LABEL,
    Manifest,
    ObjectKey,
    applied_annotation,
    component_of,
    condition_is_true,
    is_ours,
    on_prune,
    profile_of,
)

_WAVE_OF_KIND = {
    "Namespace": 0,
    "CustomResourceDefinition": 0,
    "PriorityClass": 1,
    "ServiceAccount": 1,
    "ClusterRole": 1,
    "Role": 1,
    "ConfigMap": 1,
    "Secret": 1,
    "ClusterRoleBinding": 2,
    "RoleBinding": 2,
}
_WORKLOAD_WAVE = 3
_CUSTOM_RESOURCE_WAVE = 4

Action = Literal["created", "updated", "overwritten", "deleted", "retained", "released"]


@dataclass(frozen=True)
class ApplyResult:
    """What happened to one object; the operator turns these into Events and metrics."""

    key: ObjectKey
    action: Action
    detail: str = ""


class UnknownKindError(Exception):
    pass


def wave_of(obj: Mapping[str, object], custom_groups: frozenset[str]) -> int:
    kind = str(obj["kind"])
    api_version = str(obj["apiVersion"])
    group = api_version.rpartition("/")[0]
    if group in custom_groups:
        return _CUSTOM_RESOURCE_WAVE
    return _WAVE_OF_KIND.get(kind, _WORKLOAD_WAVE)


def custom_groups_of(objects: Iterable[Mapping[str, object]]) -> frozenset[str]:
    """API groups defined by CRDs among `objects`; objects in them must wait for Established."""
    groups = set()
    for obj in objects:
        if obj.get("kind") == "CustomResourceDefinition":
            spec = obj.get("spec")
            if isinstance(spec, Mapping):
                groups.add(str(spec.get("group", "")))
    return frozenset(groups)


class KindIndex:
    """Maps (apiVersion, kind) to REST coordinates, from the kinds components declare."""

    def __init__(self, kinds: Iterable[Kind]) -> None:
        self._by_key: dict[tuple[str, str], Kind] = {}
        for kind in (NAMESPACE, CRD, *kinds):
            self._by_key[(kind.api_version, kind.kind)] = kind

    def __call__(self, api_version: str, kind: str) -> Kind:
        try:
            return self._by_key[(api_version, kind)]
        except KeyError:
            raise UnknownKindError(
                f"{kind} {api_version} is not declared in any component's owned_kinds"
            ) from None

    def of(self, obj: Mapping[str, object]) -> Kind:
        return self(str(obj["apiVersion"]), str(obj["kind"]))

    @property
    def all(self) -> list[Kind]:
        return list(self._by_key.values())


def observe_owned(kube: KubeClient, kinds: Iterable[Kind]) -> dict[ObjectKey, Manifest]:
    """Every live object of `kinds` that carries our managed-by label, one LIST per kind."""
    selector = MANAGED_SELECTOR
    seen: set[tuple[str, str]] = set()
    observed: dict[ObjectKey, Manifest] = {}
    for kind in kinds:
        if (kind.api_version, kind.kind) in seen:
            continue
        seen.add((kind.api_version, kind.kind))
        for item in kube.list(kind, label_selector=selector):
            observed[ObjectKey.of(item)] = item
    return observed


def _established(crd: Mapping[str, object] | None) -> bool:
    return crd is not None and condition_is_true(crd, "Established")


def wait_established(kube: KubeClient, names: Sequence[str], timeout: float) -> list[str]:
    """Wait for freshly applied CRDs; the names still not Established when `timeout` runs out."""
    pending = list(names)
    deadline = time.monotonic() + timeout
    while pending:
        pending = [name for name in pending if not _established(kube.get(CRD, name))]
        if not pending or time.monotonic() >= deadline:
            return pending
        time.sleep(0.2)
    return pending


@dataclass(frozen=True)
class Failure:
    """Why one object could not be written (or deleted) this round.

    `waiting` failures resolve by themselves once a fact changes (a namespace appears, a CRD is
    Established); the others need someone to act. `namespace` names a namespace being waited for.
    """

    message: str
    waiting: bool = False
    transient: bool = False
    namespace: str = ""


def failure_of(exc: KubeError, key: ObjectKey) -> Failure:
    missing = key.namespace and exc.status == 404 and exc.message == f'namespaces "{key.namespace}" not found'
    if missing:
        return Failure(f"namespace {key.namespace} does not exist yet", waiting=True, namespace=key.namespace)
    if exc.namespace_terminating:
        return Failure(f"namespace {key.namespace} is being deleted", waiting=True, namespace=key.namespace)
    return Failure(f"{exc.reason or exc.status}: {exc.message}", transient=exc.transient)


@dataclass
class ApplyReport:
    """What one apply (or prune) did, and what it could not do, by object."""

    results: list[ApplyResult] = field(default_factory=list)
    failures: dict[ObjectKey, Failure] = field(default_factory=dict)


def apply_desired(
    kube: KubeClient,
    index: KindIndex,
    desired: Sequence[Manifest],
    observed: dict[ObjectKey, Manifest],
    *,
    crd_timeout: float = 30.0,
) -> ApplyReport:
    """Apply what differs from `observed`, wave by wave; updates `observed` with the results."""
    groups = custom_groups_of(desired)
    report = ApplyReport()
    unready_groups: dict[str, str] = {}  # custom group -> why its resources wait
    waves = sorted({wave_of(obj, groups) for obj in desired})
    for wave in waves:
        fresh_crds: dict[str, str] = {}  # CRD name -> its group
        for obj in (o for o in desired if wave_of(o, groups) == wave):
            key = ObjectKey.of(obj)
            group = key.api_version.rpartition("/")[0]
            if group in unready_groups:
                report.failures[key] = Failure(unready_groups[group], waiting=True)
                continue
            stamped = stamp(obj)
            live = observed.get(key)
            if not needs_apply(stamped, live):
                continue
            action: Action = (
                "created" if live is None else ("overwritten" if drifted(stamped, live) else "updated")
            )
            try:
                applied = kube.apply(index.of(obj), stamped)
            except KubeError as exc:
                report.failures[key] = failure_of(exc, key)
                if obj["kind"] == "CustomResourceDefinition":
                    unready_groups[str(obj["spec"]["group"])] = f"CRD {key.name} could not be written"
                continue
            observed[key] = applied
            report.results.append(ApplyResult(key, action))
            if obj["kind"] == "CustomResourceDefinition" and not _established(applied):
                fresh_crds[key.name] = str(obj["spec"]["group"])
        if fresh_crds:
            for name in wait_established(kube, list(fresh_crds), crd_timeout):
                unready_groups[fresh_crds[name]] = f"CRD {name} is not Established yet"
    return report


def prune(
    kube: KubeClient,
    index: KindIndex,
    desired: Sequence[Manifest],
    observed: dict[ObjectKey, Manifest],
    *,
    keep: frozenset[str] = frozenset(),
    keep_objects: frozenset[ObjectKey] = frozenset(),
    release_retained: bool = False,
) -> ApplyReport:
    """Delete owned objects that are no longer rendered, custom resources first, namespaces last.

    `keep` names components whose objects must stay although they are not rendered (a removal
    blocked by existing workloads), `keep_objects` single objects (a network VMs still use). A CRD
    that still has instances someone else created is never deleted, because that would delete
    them too (VolumeSnapshots, NADs): it is retained, and with `release_retained` (the profile is
    going away) our labels are taken off so it is left to the admin.
    """
    wanted = {ObjectKey.of(obj) for obj in desired}
    groups = custom_groups_of([*desired, *observed.values()])
    doomed = [
        live
        for key, live in observed.items()
        if key not in wanted and key not in keep_objects and component_of(live) not in keep
    ]
    doomed.sort(key=lambda obj: -wave_of(obj, groups))
    report = ApplyReport()
    for live in doomed:
        key = ObjectKey.of(live)
        try:
            report.results.append(_prune_one(kube, index, live, observed, release_retained))
        except KubeError as exc:
            report.failures[key] = failure_of(exc, key)
    return report


def _prune_one(
    kube: KubeClient,
    index: KindIndex,
    live: Manifest,
    observed: dict[ObjectKey, Manifest],
    release_retained: bool,
) -> ApplyResult:
    key = ObjectKey.of(live)
    # Only a mark the operator applied counts: a user who may edit the object (a tenant's
    # NetworkAttachmentDefinition) must not turn its deletion into a release by annotating it.
    mode = on_prune(live) if applied_annotation(live, ON_PRUNE_ANNOTATION, kube.field_manager) else ""
    if mode == RELEASE_AS_IS:
        # Never deleted, and its spec applied as it is (a DataVolume: CDI refuses any spec change,
        # and its disk is users' data), so only our labels and annotations go. The released mark is
        # ours by apply too, so an apply that takes the object back removes it.
        meta = {
            "name": key.name,
            "namespace": key.namespace,
            "labels": {RELEASED_LABEL: profile_of(live) or ""},
        }
        body = {
            "apiVersion": key.api_version,
            "kind": key.kind,
            "metadata": meta,
            "spec": live.get("spec") or {},
        }
        kube.apply(index.of(live), body)
        observed.pop(key, None)
        return ApplyResult(key, "released", "kept as it is; the operator's labels were taken off")
    if mode == RELEASE:
        # Never deleted (a namespace holding users' VMs): an apply of nothing but the name and the
        # released mark under our field manager drops every field we own, our labels among them.
        meta = {"name": key.name, "labels": {RELEASED_LABEL: profile_of(live) or ""}}
        if key.namespace:
            meta["namespace"] = key.namespace
        kube.apply(index.of(live), {"apiVersion": key.api_version, "kind": key.kind, "metadata": meta})
        observed.pop(key, None)
        return ApplyResult(key, "released", "kept; the operator's labels and fields were taken off")
    if live["kind"] == "CustomResourceDefinition":
        foreign = foreign_instances(kube, live)
        if foreign:
            if release_retained:
                unlabel = {MANAGED_BY_LABEL: None, COMPONENT_LABEL: None, PROFILE_LABEL: None}
                kube.merge_patch(CRD, key.name, {"metadata": {"labels": unlabel}})
                observed.pop(key, None)
            return ApplyResult(key, "retained", f"{foreign} objects of it exist")
    try:
        kube.delete(index.of(live), key.name, key.namespace)
    except KubeError as exc:
        if exc.status != 404:
            raise
    observed.pop(key, None)
    return ApplyResult(key, "deleted")


def served_kind(crd: Mapping[str, Any]) -> Kind:
    spec = crd["spec"]
    version = next((v["name"] for v in spec["versions"] if v.get("storage")), spec["versions"][0]["name"])
    return Kind(
        f"{spec['group']}/{version}",
        spec["names"]["kind"],
        spec["names"]["plural"],
        namespaced=spec["scope"] == "Namespaced",
    )


def foreign_instances(kube: KubeClient, crd: Mapping[str, Any]) -> int:
    """How many objects of the CRD's kind exist that this operator did not create (first page)."""
    items = kube.list(served_kind(crd), at_most=50)
    return sum(1 for item in items if not is_ours(item))
