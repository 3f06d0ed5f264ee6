"""Building blocks shared by the component modules: object skeletons, images, placement, health.

Every component renders the same shapes (service accounts, RBAC, Deployments, CRDs) and judges the
same workload kinds, so the wording of a manifest or of a "not ready" message lives here once.
Manifests are written the way the API server returns them (canonical quantities, explicit
`protocol`) because the engine treats "every rendered field present with the same value" as no-op.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from vmo_operator.api.models import NodePlacement
from vmo_operator.components.base import ComponentHealth, Observed
from vmo_operator.kube.objects import Manifest, ObjectKey

RBAC_API = "rbac.authorization.k8s.io/v1"


# ------------------------------------------------------------------------------------------ data files


@functools.cache
def _load(name: str) -> Any:
    text = resources.files("vmo_operator.components").joinpath("data", f"{name}.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def data(name: str) -> dict[str, Any]:
    """A file under components/data/, as a fresh copy callers may change."""
    loaded = _load(name)
    if not isinstance(loaded, dict):
        raise TypeError(f"components/data/{name}.yaml must hold a mapping")
    return copy.deepcopy(loaded)


def digest(value: Any) -> str:
    """Short stable hash, e.g. to roll pods when a mounted config changes."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


# ------------------------------------------------------------------------------------------- skeletons


def meta(
    name: str,
    namespace: str = "",
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name}
    if namespace:
        out["namespace"] = namespace
    if labels:
        out["labels"] = dict(labels)
    if annotations:
        out["annotations"] = dict(annotations)
    return out


def namespace(name: str, labels: Mapping[str, str]) -> Manifest:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta(name, labels=labels)}


def service_account(name: str, ns: str, labels: Mapping[str, str] | None = None) -> Manifest:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(name, ns, labels)}


def cluster_role(name: str, rules: list[dict[str, Any]], labels: Mapping[str, str] | None = None) -> Manifest:
    return {
        "apiVersion": RBAC_API,
        "kind": "ClusterRole",
        "metadata": meta(name, labels=labels),
        "rules": rules,
    }


def role(
    name: str, ns: str, rules: list[dict[str, Any]], labels: Mapping[str, str] | None = None
) -> Manifest:
    return {"apiVersion": RBAC_API, "kind": "Role", "metadata": meta(name, ns, labels), "rules": rules}


def _subjects(sa: str, sa_ns: str) -> list[dict[str, str]]:
    return [{"kind": "ServiceAccount", "name": sa, "namespace": sa_ns}]


def cluster_role_binding(
    name: str, role_name: str, sa: str, sa_ns: str, labels: Mapping[str, str] | None = None
) -> Manifest:
    return {
        "apiVersion": RBAC_API,
        "kind": "ClusterRoleBinding",
        "metadata": meta(name, labels=labels),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role_name},
        "subjects": _subjects(sa, sa_ns),
    }


def role_binding(
    name: str, ns: str, role_name: str, sa: str, labels: Mapping[str, str] | None = None
) -> Manifest:
    return {
        "apiVersion": RBAC_API,
        "kind": "RoleBinding",
        "metadata": meta(name, ns, labels),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role_name},
        "subjects": _subjects(sa, ns),
    }


def crd(
    *,
    group: str,
    kind: str,
    plural: str,
    singular: str,
    scope: str,
    versions: list[dict[str, Any]],
    short_names: Sequence[str] = (),
    categories: Sequence[str] = (),
    annotations: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
) -> Manifest:
    names: dict[str, Any] = {"kind": kind, "listKind": f"{kind}List", "plural": plural, "singular": singular}
    if short_names:
        names["shortNames"] = list(short_names)
    if categories:
        names["categories"] = list(categories)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": meta(f"{plural}.{group}", labels=labels, annotations=annotations),
        "spec": {"group": group, "names": names, "scope": scope, "versions": versions},
    }


def crd_version(
    name: str,
    schema: dict[str, Any],
    *,
    storage: bool = True,
    status: bool = True,
    printer_columns: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": name,
        "served": True,
        "storage": storage,
        "schema": {"openAPIV3Schema": schema},
    }
    if status:
        out["subresources"] = {"status": {}}
    if printer_columns:
        out["additionalPrinterColumns"] = printer_columns
    return out


OPEN_SCHEMA: dict[str, Any] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


# ------------------------------------------------------------------------------------- images, placement


def image(override: str | None, default_registry: str, name: str, tag: str) -> str:
    """`<registry>/<name>:<tag>`; an air-gap override replaces the registry, never the name."""
    registry = (override or default_registry).rstrip("/")
    return f"{registry}/{name}:{tag}"


def registry(override: str | None, default_registry: str) -> str:
    return (override or default_registry).rstrip("/")


def tolerations(placement: NodePlacement) -> list[dict[str, Any]]:
    return [t.model_dump(mode="json", exclude_none=True) for t in placement.tolerations]


def pod_placement(
    placement: NodePlacement,
    *,
    node_selector: Mapping[str, str] | None = None,
    base_tolerations: Iterable[Mapping[str, Any]] = (),
    affinity: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """nodeSelector / tolerations / affinity for a pod spec: upstream defaults plus the profile's."""
    out: dict[str, Any] = {}
    selector = {**(node_selector or {}), **placement.node_selector}
    if selector:
        out["nodeSelector"] = dict(sorted(selector.items()))
    merged = [dict(t) for t in base_tolerations]
    merged += [t for t in tolerations(placement) if t not in merged]
    if merged:
        out["tolerations"] = merged
    chosen = placement.affinity if placement.affinity is not None else affinity
    if chosen:
        out["affinity"] = copy.deepcopy(dict(chosen))
    return out


def operand_placement(placement: NodePlacement) -> dict[str, Any]:
    """The NodePlacement shape KubeVirt and CDI CRs accept; empty when nothing is set."""
    out: dict[str, Any] = {}
    if placement.node_selector:
        out["nodeSelector"] = dict(sorted(placement.node_selector.items()))
    if placement.tolerations:
        out["tolerations"] = tolerations(placement)
    if placement.affinity is not None:
        out["affinity"] = copy.deepcopy(placement.affinity)
    return out


def prefer_spread(label_key: str, label_value: str) -> dict[str, Any]:
    """Soft anti-affinity so operator replicas land on different nodes when they can."""
    return {
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 1,
                    "podAffinityTerm": {
                        "labelSelector": {
                            "matchExpressions": [
                                {"key": label_key, "operator": "In", "values": [label_value]}
                            ]
                        },
                        "topologyKey": "kubernetes.io/hostname",
                    },
                }
            ]
        }
    }


RESTRICTED_CONTAINER: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


# ---------------------------------------------------------------------------------------------- health


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
