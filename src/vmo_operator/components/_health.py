"""How a component judges itself: readiness of the objects it rendered, as observed live.

Every component judges the same workload kinds (Deployments, DaemonSets, CRDs, operator CRs), so
the rule for "ready" and the wording of a "not ready" message live here once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from vmo_operator.components.base import ComponentHealth, Observed
from vmo_operator.kube.objects import Manifest, ObjectKey


@dataclass(frozen=True)
class Verdict:
    """One observed object's readiness."""

    ready: bool
    progressing: bool = False
    degraded: bool = False
    message: str = ""


def _conditions(obj: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {c.get("type", ""): c for c in (obj.get("status") or {}).get("conditions") or []}


def _generation_pending(obj: Mapping[str, Any]) -> bool:
    generation = obj.get("metadata", {}).get("generation")
    observed = (obj.get("status") or {}).get("observedGeneration")
    return generation is not None and (observed is None or observed < generation)


def judge_deployment(obj: Mapping[str, Any]) -> Verdict:
    status = obj.get("status") or {}
    want = int((obj.get("spec") or {}).get("replicas", 1))
    if _generation_pending(obj):
        return Verdict(False, progressing=True, message="rollout not observed yet")
    updated = int(status.get("updatedReplicas", 0))
    available = int(status.get("availableReplicas", 0))
    ready = int(status.get("readyReplicas", 0))
    stuck = _conditions(obj).get("Progressing", {}).get("reason") == "ProgressDeadlineExceeded"
    if updated < want:
        return Verdict(
            False, progressing=not stuck, degraded=stuck, message=f"{updated}/{want} replicas updated"
        )
    if available < want or ready < want:
        return Verdict(
            False,
            progressing=not stuck,
            degraded=stuck,
            message=f"{min(available, ready)}/{want} replicas ready",
        )
    if int(status.get("replicas", want)) > want:
        return Verdict(False, progressing=True, message="old replicas still terminating")
    return Verdict(True)


def judge_daemonset(obj: Mapping[str, Any]) -> Verdict:
    status = obj.get("status") or {}
    if _generation_pending(obj):
        return Verdict(False, progressing=True, message="rollout not observed yet")
    desired = int(status.get("desiredNumberScheduled", 0))
    if desired == 0:
        return Verdict(False, message="no node matches its placement")
    ready = int(status.get("numberReady", 0))
    updated = int(status.get("updatedNumberScheduled", 0))
    if updated < desired:
        return Verdict(False, progressing=True, message=f"{updated}/{desired} pods updated")
    if ready < desired:
        return Verdict(False, progressing=True, message=f"{ready}/{desired} pods ready")
    return Verdict(True)


def judge_crd(obj: Mapping[str, Any]) -> Verdict:
    conditions = _conditions(obj)
    names = conditions.get("NamesAccepted", {})
    if names.get("status") == "False":
        return Verdict(
            False, degraded=True, message=f"names not accepted: {names.get('message', '')}".rstrip(": ")
        )
    if conditions.get("Established", {}).get("status") != "True":
        return Verdict(False, progressing=True, message="not Established yet")
    return Verdict(True)


def judge_operand_cr(obj: Mapping[str, Any], operator: str) -> Verdict:
    """KubeVirt and CDI CRs: phase Deployed and condition Available=True means installed and healthy."""
    status = obj.get("status") or {}
    phase = status.get("phase", "")
    conditions = _conditions(obj)
    if not status:
        return Verdict(False, progressing=True, message=f"no status reported by {operator} yet")
    degraded = conditions.get("Degraded", {}).get("status") == "True"
    progressing = (
        phase in ("", "Deploying", "Upgrading") or conditions.get("Progressing", {}).get("status") == "True"
    )
    available = conditions.get("Available", {})
    if phase == "Deployed" and available.get("status") == "True" and not degraded:
        return Verdict(True, progressing=progressing)
    detail = next(
        (
            c.get("message") or c.get("reason") or ""
            for c in (conditions.get("Degraded"), available, conditions.get("Progressing"))
            if c and (c.get("message") or c.get("reason"))
        ),
        "",
    )
    message = f"phase {phase or 'unknown'}, Available={available.get('status', 'Unknown')}"
    return Verdict(
        False,
        progressing=progressing,
        degraded=degraded,
        message=f"{message}: {detail}" if detail else message,
    )


Judge = Callable[[Mapping[str, Any]], Verdict]

JUDGES: dict[tuple[str, str], Judge] = {
    ("apps/v1", "Deployment"): judge_deployment,
    ("apps/v1", "DaemonSet"): judge_daemonset,
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"): judge_crd,
}


def describe(key: ObjectKey) -> str:
    return f"{key.kind} {key.namespace}/{key.name}" if key.namespace else f"{key.kind} {key.name}"


def _summarise(items: Sequence[str], limit: int = 4) -> str:
    shown = ", ".join(items[:limit])
    return f"{shown} and {len(items) - limit} more" if len(items) > limit else shown


def assess_rendered(
    name: str,
    rendered: Sequence[Manifest],
    observed: Observed,
    *,
    version: str = "",
    judges: Mapping[tuple[str, str], Judge] | None = None,
) -> ComponentHealth:
    """Health from the objects this component rendered: all present, and every workload ready.

    Missing objects are reported first (the engine is still creating them, or someone deleted them),
    then objects that exist but are not ready, each named with its kind and namespace/name.
    """
    table = {**JUDGES, **(judges or {})}
    missing: list[str] = []
    waiting: list[str] = []
    progressing = degraded = False
    for obj in rendered:
        key = ObjectKey.of(obj)
        live = observed.get(key)
        if live is None:
            missing.append(describe(key))
            continue
        judge = table.get((key.api_version, key.kind))
        if judge is None:
            continue
        verdict = judge(live)
        progressing |= verdict.progressing
        degraded |= verdict.degraded
        if not verdict.ready:
            waiting.append(f"{describe(key)}: {verdict.message}")
    if missing:
        return ComponentHealth(
            name,
            True,
            False,
            version,
            reason="ObjectsMissing",
            message=f"missing: {_summarise(missing)}",
            progressing=True,
            degraded=degraded,
            details={"missing": missing, "notReady": waiting},
        )
    if waiting:
        return ComponentHealth(
            name,
            True,
            False,
            version,
            reason="Degraded" if degraded else "NotReady",
            message=f"not ready: {_summarise(waiting)}",
            progressing=progressing,
            degraded=degraded,
            details={"notReady": waiting},
        )
    return ComponentHealth(
        name,
        True,
        True,
        version,
        reason="Ready",
        message=f"all {len(rendered)} objects present and ready",
        progressing=progressing,
    )


def disabled(
    name: str, message: str = "disabled in the profile", *, skipped: bool = False, reason: str = "Disabled"
) -> ComponentHealth:
    """A component that installs nothing never holds Available down, so it reports ready."""
    return ComponentHealth(name, False, True, reason=reason, message=message, skipped=skipped)


def container_image_tag(obj: Mapping[str, Any] | None, container: str) -> str:
    """The tag a live workload runs for `container`, e.g. "v4.2.4-thick"; "" when unknown."""
    if not obj:
        return ""
    containers = obj.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
    for c in containers:
        if c.get("name") == container:
            ref = str(c.get("image", ""))
            return ref.rsplit(":", 1)[1] if ":" in ref.rsplit("/", 1)[-1] else ""
    return ""


def assess_deployed(
    name: str, rendered: Sequence[Manifest], observed: Observed, deployment: ObjectKey, container: str
) -> ComponentHealth:
    """`assess_rendered` for a component whose version is the image tag of one of its Deployments."""
    version = container_image_tag(observed.get(deployment), container)
    return assess_rendered(name, rendered, observed, version=version)


OVERRIDE_NOT_APPLIED = "OverrideNotApplied"


def override_failed(health: ComponentHealth, problem: str) -> ComponentHealth:
    """`health`, but not ready and degraded while the profile's overrides do not apply (`problem`).

    Degraded, not Progressing: waiting will not fix a patch whose path is missing, the profile must
    change. The rest of the component (and of the profile) is applied as usual.
    """
    if not problem:
        return health
    message = f"{problem}; {health.message}" if health.message and not health.ready else problem
    return replace(
        health, ready=False, degraded=True, progressing=False, reason=OVERRIDE_NOT_APPLIED, message=message
    )
