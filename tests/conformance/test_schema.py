"""The structural-schema validator itself: what it must refuse, on a small schema."""

from __future__ import annotations

from typing import Any

from tests.conformance.schema import violations

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["spec"],
    "properties": {
        "apiVersion": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "properties": {
                "mode": {"type": "string", "enum": ["A", "B"]},
                "count": {"type": "integer"},
                "port": {"x-kubernetes-int-or-string": True},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "items": {
                    "type": "array",
                    "items": {"type": "object", "properties": {"name": {"type": "string"}}},
                },
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            },
        },
    },
}


def test_conforming_object_passes() -> None:
    obj = {
        "apiVersion": "x/v1",
        "metadata": {"name": "n", "labels": {"a": "b"}},
        "spec": {
            "mode": "A",
            "count": 3,
            "port": "http",
            "labels": {"k": "v"},
            "items": [{"name": "x"}],
            "free": {"anything": [1, 2]},
        },
    }
    assert violations(obj, SCHEMA) == []


def test_unknown_fields_wrong_types_enums_and_required_are_refused() -> None:
    obj = {"spec": {"mode": "C", "count": True, "typo": 1, "items": [{"nme": "x"}], "labels": {"k": 1}}}
    assert violations(obj, SCHEMA) == [
        ".spec.mode: 'C' is not one of ['A', 'B']",
        ".spec.count: bool True is not of type integer",
        ".spec.typo: unknown field (upstream's schema would prune it)",
        ".spec.items[0].nme: unknown field (upstream's schema would prune it)",
        ".spec.labels.k: int 1 is not of type string",
    ]
    assert violations({}, SCHEMA) == [".spec: required"]
