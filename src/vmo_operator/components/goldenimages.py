"""Golden images (`spec.goldenImages`): boot-source disks CDI imports for VMs to clone.

Every source lands in the golden-image namespace (spec.vmNamespaces.goldenImageNamespace, which the
VM namespaces component creates and lets every VM namespace clone from) and is published as a
DataSource named after it, so a VM's dataVolumeTemplate says `sourceRef: {kind: DataSource, ...}`
and never learns where the disk came from:

- a scheduled source (registry only: CDI's DataImportCron polls registries, not HTTP) becomes a
  DataImportCron that imports each new digest and points its managed DataSource at it; its
  retentionPolicy `All` (RetainAll) keeps the imported disks and the DataSource when the cron goes;
- an unscheduled source becomes a DataVolume and a DataSource naming its PVC.

CDI refuses any change to a DataVolume's or a DataImportCron's spec, so both are named after a hash
of what they import (`<name>-<8 hex>`): a changed URL, size or schedule is a new object, and the old
one leaves like a removed source. A DataVolume is users' data, so pruning never deletes it: it is
rendered with the engine's `release-as-is` marker and only loses the operator's labels; the released
ones are read back (`fact_queries`) and listed in status.goldenImages for the admin to delete.

The profile's mirror (`spec.goldenImages.registry`) rewrites docker:// URLs with the same rule as
`vmo images --registry`, so an air-gapped cluster imports from the registry the list was mirrored to.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from vmo_operator.components import _health as health
from vmo_operator.components import _mirror
from vmo_operator.components import _workloads as w
from vmo_operator.components.base import ClusterFacts, ComponentHealth, ConditionSpec, FactQuery, Observed
from vmo_operator.kube import kinds
from vmo_operator.kube.kinds import Kind
from vmo_operator.kube.objects import (
    ON_PRUNE_ANNOTATION,
    RELEASE_AS_IS,
    RELEASED_LABEL,
    Manifest,
    ObjectKey,
    condition_is_true,
)

if TYPE_CHECKING:
    from vmo_operator.api.models import GoldenImageSource, VMOProfileSpec

COMPONENT_NAME = "goldenImages"
CDI_API = "cdi.kubevirt.io/v1beta1"
CRD_NAME = f"{kinds.DATA_IMPORT_CRON.plural}.{kinds.DATA_IMPORT_CRON.group}"
# A golden image has no consumer: on a WaitForFirstConsumer StorageClass its PVC must bind anyway
# (CDI's AnnImmediateBinding; the DataImportCron controller sets it on the DataVolumes it makes).
IMMEDIATE_BINDING = "cdi.kubevirt.io/storage.bind.immediate.requested"
DETAIL = "goldenImages"
PENDING, IMPORTING, READY, FAILED, WAITING, RELEASED = (
    "Pending",
    "Importing",
    "Ready",
    "Failed",
    "Waiting",
    "Released",
)
MAX_RELEASED = 16  # released DataVolumes named in status
NO_CRD = "CDI's DataImportCron CRD is not installed yet (cdi-operator installs it): nothing imported yet"


@dataclass(frozen=True)
class CDIServed:
    """This component's facts: whether CDI serves its import kinds, and the released DataVolumes."""

    served: bool
    released: tuple[tuple[str, str], ...] = ()  # (namespace, name)


def served(facts: ClusterFacts) -> bool | None:
    """Whether CDI's CRDs are installed; None offline (`vmo render` prints every object)."""
    found = facts.of(COMPONENT_NAME, CDIServed)
    return None if found is None else found.served


def _suffix(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:8]


def _storage(source: GoldenImageSource) -> dict[str, Any]:
    storage: dict[str, Any] = {"resources": {"requests": {"storage": source.size}}}
    if source.storage_class:
        storage["storageClassName"] = source.storage_class
    return storage


def _dv_spec(source: GoldenImageSource, mirror: str | None) -> dict[str, Any]:
    url = _mirror.rewrite_url(source.url, mirror)
    origin = {"registry": {"url": url}} if url.startswith(_mirror.DOCKER) else {"http": {"url": url}}
    return {"source": origin, "storage": _storage(source)}


def import_name(source: GoldenImageSource, mirror: str | None) -> str:
    """The DataVolume's or DataImportCron's name: the source's, plus a hash of its immutable spec."""
    return f"{source.name}-{_suffix(_dv_spec(source, mirror), source.schedule, source.imports_to_keep)}"


def render_source(source: GoldenImageSource, namespace: str, mirror: str | None) -> list[Manifest]:
    name = import_name(source, mirror)
    spec = _dv_spec(source, mirror)
    if source.schedule:
        cron: dict[str, Any] = {
            "template": {"spec": spec},
            "schedule": source.schedule,
            "managedDataSource": source.name,
            "retentionPolicy": "All",  # CDI DataImportCronRetainAll: keep disks and DataSource
        }
        if source.imports_to_keep is not None:
            cron["importsToKeep"] = source.imports_to_keep
        return [
            {
                "apiVersion": CDI_API,
                "kind": "DataImportCron",
                "metadata": w.meta(name, namespace),
                "spec": cron,
            }
        ]
    annotations = {ON_PRUNE_ANNOTATION: RELEASE_AS_IS, IMMEDIATE_BINDING: "true"}
    return [
        {
            "apiVersion": CDI_API,
            "kind": "DataVolume",
            "metadata": w.meta(name, namespace, annotations=annotations),
            "spec": spec,
        },
        {
            "apiVersion": CDI_API,
            "kind": "DataSource",
            "metadata": w.meta(source.name, namespace),
            "spec": {"source": {"pvc": {"name": name, "namespace": namespace}}},
        },
    ]


# ---------------------------------------------------------------------------------------------- status


def _condition(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    found = [c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == kind]
    return found[0] if found else {}


def _said(condition: Mapping[str, Any]) -> str:
    return str(condition.get("message") or condition.get("reason") or "")


def cron_state(live: Manifest) -> dict[str, str]:
    """A scheduled source, from its DataImportCron: UpToDate, Progressing, lastImportTimestamp."""
    status = live.get("status") or {}
    last = str(status.get("lastImportTimestamp") or "")
    up_to_date, progressing = _condition(live, "UpToDate"), _condition(live, "Progressing")
    if up_to_date.get("status") == "True":
        state, message = READY, "the newest image is imported and the DataSource points at it"
    elif progressing.get("status") == "True":
        state, message = IMPORTING, _said(progressing) or "importing"
    elif last:
        state, message = READY, _said(up_to_date) or "an import exists; polling for a newer image"
    else:
        state, message = PENDING, _said(up_to_date) or "no import yet"
    out = {"state": state, "message": message, "dataImportCron": str(live["metadata"]["name"])}
    return {**out, "lastSuccess": last} if last else out


def dv_state(live: Manifest, source: Manifest | None) -> dict[str, str]:
    """An unscheduled source, from its DataVolume's phase and its DataSource's Ready condition."""
    status = live.get("status") or {}
    phase = str(status.get("phase") or "")
    out = {"dataVolume": str(live["metadata"]["name"])}
    if phase == "Succeeded":
        ready = _condition(live, "Ready")
        if ready.get("lastTransitionTime"):
            out["lastSuccess"] = str(ready["lastTransitionTime"])
        if source is not None and condition_is_true(source, "Ready"):
            return {**out, "state": READY, "message": "imported; the DataSource is Ready"}
        said = _said(_condition(source, "Ready")) if source is not None else ""
        return {
            **out,
            "state": WAITING,
            "message": f"imported; the DataSource is not Ready yet {said}".strip(),
        }
    if phase == "Failed":
        return {**out, "state": FAILED, "message": _said(_condition(live, "Running")) or "the import failed"}
    if phase in ("ImportScheduled", "ImportInProgress"):
        progress = str(status.get("progress") or "")
        return {**out, "state": IMPORTING, "message": f"{phase} {progress}".strip()}
    return {**out, "state": PENDING, "message": f"DataVolume phase {phase or 'not reported yet'}"}


def source_states(
    spec: VMOProfileSpec, observed: Observed, released: Sequence[tuple[str, str]]
) -> dict[str, dict[str, str]]:
    """`status.goldenImages`: each source's import state, and the DataVolumes released from it."""
    gi, namespace = spec.golden_images, spec.vm_namespaces.golden_image_namespace
    out: dict[str, dict[str, str]] = {}
    for source in gi.sources:
        name = import_name(source, gi.registry)
        kind = "DataImportCron" if source.schedule else "DataVolume"
        live = observed.get(ObjectKey(CDI_API, kind, namespace, name))
        if live is None:
            out[source.name] = {"state": PENDING, "message": f"{kind} {namespace}/{name} not created yet"}
        elif source.schedule:
            out[source.name] = cron_state(live)
        else:
            data_source = observed.get(ObjectKey(CDI_API, "DataSource", namespace, source.name))
            out[source.name] = dv_state(live, data_source)
    current = {import_name(source, gi.registry) for source in gi.sources} | set(out)
    gone = sorted(name for ns, name in released if ns == namespace and name not in current)
    for name in gone[:MAX_RELEASED]:
        out[name] = {
            "state": RELEASED,
            "message": (
                "DataVolume no longer rendered (its source was removed or changed): kept with its disk, "
                f"the operator's labels taken off; delete it with kubectl -n {namespace} delete dv {name}"
            ),
        }
    return out


@dataclass(frozen=True)
class GoldenImagesComponent:
    name: str = COMPONENT_NAME
    title: str = "GoldenImages"
    owned_kinds: tuple[Kind, ...] = (kinds.DATA_VOLUME, kinds.DATA_SOURCE, kinds.DATA_IMPORT_CRON)
    fact_queries: tuple[FactQuery, ...] = (
        FactQuery(kinds.CRD, name=CRD_NAME),
        FactQuery(kinds.DATA_VOLUME, label_selector=RELEASED_LABEL),
    )

    def facts_from(self, found: Sequence[Sequence[Manifest]]) -> CDIServed:
        crds, released = found
        names = sorted(
            (str(dv["metadata"].get("namespace", "")), str(dv["metadata"]["name"])) for dv in released
        )
        return CDIServed(bool(crds), tuple(names))

    def enabled(self, spec: VMOProfileSpec, facts: ClusterFacts) -> bool:
        return bool(spec.golden_images.sources) and spec.cdi.enabled

    def render(self, spec: VMOProfileSpec, facts: ClusterFacts) -> list[Manifest]:
        if not self.enabled(spec, facts) or served(facts) is False:
            return []
        gi, namespace = spec.golden_images, spec.vm_namespaces.golden_image_namespace
        return [obj for source in gi.sources for obj in render_source(source, namespace, gi.registry)]

    def assess(
        self, spec: VMOProfileSpec, facts: ClusterFacts, rendered: Sequence[Manifest], observed: Observed
    ) -> ComponentHealth:
        found = facts.of(self.name, CDIServed) or CDIServed(True)
        states = source_states(spec, observed, found.released)
        if not self.enabled(spec, facts):
            judged = health.disabled(self.name, "no golden images in the profile")
        elif not found.served:
            judged = ComponentHealth(
                self.name, True, False, reason="CDINotReady", message=NO_CRD, progressing=True
            )
        else:
            judged = health.assess_rendered(self.name, rendered, observed)
            failed = sorted(name for name, s in states.items() if s["state"] == FAILED)
            importing = any(s["state"] in (PENDING, IMPORTING) for s in states.values())
            if failed:
                judged = replace(
                    judged,
                    degraded=True,
                    reason="ImportFailed",
                    message=f"import failed: {', '.join(failed)}",
                )
            judged = replace(judged, progressing=judged.progressing or importing)
        return replace(judged, details={**judged.details, DETAIL: states})

    def status_fields(self, spec: VMOProfileSpec, health: ComponentHealth) -> Mapping[str, Any]:
        states = health.details.get(DETAIL)
        return {"goldenImages": dict(states)} if isinstance(states, Mapping) and states else {}

    def extra_conditions(self, spec: VMOProfileSpec, health: ComponentHealth) -> Sequence[ConditionSpec]:
        return []


GOLDEN_IMAGES = GoldenImagesComponent()
