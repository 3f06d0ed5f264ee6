"""What this project renders for one component, the subject of every conformance check."""

from __future__ import annotations

from typing import Any

from vmo_operator.api import models
from vmo_operator.components import registry
from vmo_operator.components.base import ClusterFacts, render_labelled


def rendered(component: str, spec: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The objects `component` renders for a profile spec (camelCase, as in a VMOProfile)."""
    parsed = models.parse_spec(spec or {})
    return render_labelled(registry.by_name(component), parsed, ClusterFacts(), "conformance")


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    for obj in objects:
        if obj.get("kind") == kind and obj.get("metadata", {}).get("name") == name:
            return obj
    raise LookupError(f"nothing rendered as {kind} {name}")
