"""Building blocks shared by the component modules: object skeletons, images, placement, overrides.

Every component renders the same shapes (service accounts, RBAC, Deployments, CRDs), so the
wording of a manifest lives here once (their health is judged in `_health`).
Manifests are written the way the API server returns them (canonical quantities, explicit
`protocol`) because the engine treats "every rendered field present with the same value" as no-op.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from typing import Any

import yaml

from vmo_operator.api import jsonpatch, versions
from vmo_operator.api.models import NodePlacement, Override
from vmo_operator.kube.objects import Manifest

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


def daemonset(
    name: str,
    ns: str,
    labels: Mapping[str, str],
    selector: Mapping[str, str],
    pod_spec: dict[str, Any],
    *,
    template_annotations: Mapping[str, str] | None = None,
) -> Manifest:
    """A DaemonSet rolling its pods one node at a time; `selector` must be among `labels`."""
    template: dict[str, Any] = {"labels": dict(labels)}
    if template_annotations:
        template["annotations"] = dict(template_annotations)
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": meta(name, ns, labels),
        "spec": {
            "selector": {"matchLabels": dict(selector)},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {"metadata": template, "spec": pod_spec},
        },
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
    chosen = placement.affinity_json() if placement.affinity is not None else affinity
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
        out["affinity"] = placement.affinity_json()
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


def in_effect(entries: list[dict[str, Any]], version: str) -> list[dict[str, Any]]:
    """The data-file entries that apply to an operand release, without their `since`/`until` keys.

    `since` and `until` name minors ("1.8"): an entry applies from `since` on and before `until`,
    which is how operand data records a rule or setting that upstream added or dropped in a minor.
    """
    minor = versions.parse(version)[:2]
    out: list[dict[str, Any]] = []
    for entry in entries:
        since, until = entry.get("since"), entry.get("until")
        if since is not None and minor < versions.parse(f"{since}.0")[:2]:
            continue
        if until is not None and minor >= versions.parse(f"{until}.0")[:2]:
            continue
        out.append({k: v for k, v in entry.items() if k not in ("since", "until")})
    return out


# ------------------------------------------------------------------------------------------ overrides


def with_overrides(cr: Manifest, overrides: Sequence[Override]) -> tuple[Manifest, str]:
    """`cr` with the profile's JSON-patch overrides applied, and "" ; or, when one does not apply,
    `cr` unpatched and what went wrong. Atomic on purpose: half of an admin's patch could be worse
    than none, and the CR as the API models it is a known state."""
    if not overrides:
        return cr, ""
    try:
        return jsonpatch.apply(cr, [o.operation() for o in overrides]), ""
    except jsonpatch.PatchError as exc:
        return cr, f"{exc}; none of the overrides is applied"
