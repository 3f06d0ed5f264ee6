"""Plain-dict Kubernetes objects, their keys, and the labels that mark an object as ours.

Objects cross every layer as the JSON the API server speaks (`Manifest`); the few questions asked
of them everywhere (whose is it, which component rendered it, is a condition true, does the live
object already hold what we would write) live here once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Manifest = dict[str, Any]

# Labels that mark an object as rendered by this operator; pruning and drift watches key on them.
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "vmo-operator"
COMPONENT_LABEL = "vmo.dev/component"
PROFILE_LABEL = "vmo.dev/profile"
MANAGED_SELECTOR = f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}"
# An object rendered with this annotation set to RELEASE is never deleted by pruning: the operator
# takes back what it wrote (labels, annotations, fields) and leaves the object marked RELEASED_LABEL
# with the profile's name. Namespaces that hold users' VMs are managed this way.
ON_PRUNE_ANNOTATION = "vmo.dev/on-prune"
RELEASE = "release"
# Released like RELEASE, but with the spec applied as it is: only the operator's labels and
# annotations go. For objects whose spec must not change (a DataVolume's is immutable, and its disk
# is users' data).
RELEASE_AS_IS = "release-as-is"
RELEASED_LABEL = "vmo.dev/released-from"


@dataclass(frozen=True)
class ObjectKey:
    api_version: str
    kind: str
    namespace: str  # "" for cluster-scoped objects
    name: str

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> ObjectKey:
        meta = obj.get("metadata", {})
        return cls(obj["apiVersion"], obj["kind"], meta.get("namespace", "") or "", meta["name"])


def labels_of(obj: Mapping[str, Any]) -> Mapping[str, str]:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return labels if isinstance(labels, Mapping) else {}


def is_ours(obj: Mapping[str, Any]) -> bool:
    """Rendered and managed by this operator (as opposed to installed by someone else)."""
    return labels_of(obj).get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE


def component_of(obj: Mapping[str, Any]) -> str:
    """The component that rendered `obj`, "" when it carries no component label."""
    return str(labels_of(obj).get(COMPONENT_LABEL, ""))


def profile_of(obj: Mapping[str, Any]) -> str | None:
    """The profile an owned object belongs to, None when it carries no profile label."""
    value = labels_of(obj).get(PROFILE_LABEL)
    return str(value) if value is not None else None


def managed_labels(component: str, profile: str) -> dict[str, str]:
    return {MANAGED_BY_LABEL: MANAGED_BY_VALUE, COMPONENT_LABEL: component, PROFILE_LABEL: profile}


def condition_is_true(obj: Mapping[str, Any], condition_type: str) -> bool:
    """Whether `status.conditions` of `obj` holds `condition_type` with status "True"."""
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(
        isinstance(c, Mapping) and c.get("type") == condition_type and c.get("status") == "True"
        for c in conditions
    )


def _empty(value: Any) -> bool:
    return value is None or value == {} or value == []


def contains(desired: Any, live: Any) -> bool:
    """True when every field of `desired` is present in `live` with the same value.

    This is "would writing `desired` change nothing we own": fields the server adds (defaults,
    status, metadata) are ignored. Lists must match in length and element by element, because a
    list we render is a list we own in full. Empty means absent: an empty value (None, {} or [])
    in `desired` matches a missing or empty field in `live`, since the API server drops empty
    structs and lists. Numbers compare by value (1 == 1.0), booleans only with booleans.
    """
    if isinstance(desired, Mapping):
        if not isinstance(live, Mapping):
            return _empty(desired) and _empty(live)
        return all(
            (_empty(value) and _empty(live.get(key))) or (key in live and contains(value, live[key]))
            for key, value in desired.items()
        )
    if isinstance(desired, list):
        if not isinstance(live, list):
            return not desired and _empty(live)
        return len(desired) == len(live) and all(contains(d, v) for d, v in zip(desired, live, strict=True))
    if isinstance(desired, bool) or isinstance(live, bool):
        return desired is live
    if isinstance(desired, int | float) and isinstance(live, int | float):
        return float(desired) == float(live)
    return bool(desired == live)


def selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Whether `labels` satisfy a LabelSelector (camelCase, as the API server spells it).

    The API server's rules: every matchLabels pair and every expression must hold; `NotIn` and
    `DoesNotExist` hold for an absent key. An operator it does not know matches nothing.
    """
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression.get("key", ""), expression.get("operator", "")
        values = expression.get("values") or []
        present = key in labels
        holds = {
            "In": present and labels.get(key) in values,
            "NotIn": not present or labels.get(key) not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }.get(operator, False)
        if not holds:
            return False
    return True


def replacing_merge_patch(live: Any, desired: Any) -> Any:
    """The JSON merge patch (RFC 7386) that turns `live` into exactly `desired`.

    A plain merge patch only adds and overwrites: a key `live` has and `desired` lacks would stay.
    Here such keys are set to None (removed), at every depth; lists and scalars are replaced.
    """
    if not isinstance(desired, Mapping) or not isinstance(live, Mapping):
        return desired
    patch: dict[str, Any] = {key: None for key in live if key not in desired}
    for key, value in desired.items():
        if key not in live:
            patch[key] = value
        elif live[key] != value:
            patch[key] = replacing_merge_patch(live[key], value)
    return patch


def released_on_prune(obj: Mapping[str, Any]) -> bool:
    """Whether pruning `obj` must release it instead of deleting it (see ON_PRUNE_ANNOTATION)."""
    return on_prune(obj) in (RELEASE, RELEASE_AS_IS)


def applied_annotation(obj: Mapping[str, Any], key: str, manager: str) -> bool:
    """Whether `manager`'s server-side apply owns annotation `key` of the live `obj` (managedFields).

    Anyone who may edit an object may add an annotation to it; only the ones the operator applied
    itself say what the operator meant.
    """
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        if (
            not isinstance(entry, Mapping)
            or entry.get("manager") != manager
            or entry.get("operation") != "Apply"
        ):
            continue
        owned = ((entry.get("fieldsV1") or {}).get("f:metadata") or {}).get("f:annotations") or {}
        if isinstance(owned, Mapping) and f"f:{key}" in owned:
            return True
    return False


def on_prune(obj: Mapping[str, Any]) -> str:
    """The object's ON_PRUNE_ANNOTATION value, "" when it has none (pruning deletes it)."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(ON_PRUNE_ANNOTATION, "") if isinstance(annotations, Mapping) else ""
    return value if isinstance(value, str) else ""
