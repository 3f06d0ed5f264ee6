"""A small validator for Kubernetes structural schemas (a CRD's openAPIV3Schema).

The API server checks a custom resource against its CRD's schema, prunes fields the schema does
not know and rejects wrong types. The conformance suite does the same at test time, but strictly:
an unknown field is an error, not a silent drop, because a field upstream prunes is a field the
operand never sees (a misspelled setting is lost). Only what structural schemas allow is handled:
`type`, `nullable`, `enum`, `required`, `properties`, `additionalProperties`, `items`,
`x-kubernetes-preserve-unknown-fields`, `x-kubernetes-int-or-string`, `x-kubernetes-embedded-resource`,
string length and pattern, numeric bounds and array/object sizes. CEL rules are not evaluated.

`incompatibilities(ours, theirs)` compares two schemas for the same object: every property our
schema declares must exist in theirs with the same type, so that a schema we generate can never
accept a value the operand's own schema would reject or prune.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

Schema = Mapping[str, Any]

_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "boolean": (bool,),
    "integer": (int,),
    "number": (int, float),
}


def _type_ok(value: Any, kind: str) -> bool:
    if kind in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _PYTHON_TYPES.get(kind, (object,)))


def _preserves_unknown(schema: Schema) -> bool:
    return bool(schema.get("x-kubernetes-preserve-unknown-fields")) or bool(
        schema.get("x-kubernetes-embedded-resource")
    )


def violations(value: Any, schema: Schema, path: str = "") -> list[str]:
    """Everything about `value` that `schema` rejects, or would prune; empty when it is valid."""
    where = path or "<root>"
    if value is None:
        return [] if schema.get("nullable") else [f"{where}: null is not allowed"]
    if schema.get("x-kubernetes-int-or-string"):
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            return [f"{where}: {value!r} is neither an integer nor a string"]
        return []
    kind = schema.get("type")
    if kind is not None and not _type_ok(value, kind):
        return [f"{where}: {type(value).__name__} {value!r} is not of type {kind}"]
    found: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{where}: {value!r} is not one of {schema['enum']}")
    found += _bounds(value, schema, where)
    if isinstance(value, dict):
        found += _object(value, schema, path)
    elif isinstance(value, list):
        items = schema.get("items")
        for index, item in enumerate(value):
            if items is not None:
                found += violations(item, items, f"{path}[{index}]")
    return found


def _object(value: dict[str, Any], schema: Schema, path: str) -> list[str]:
    found: list[str] = []
    properties: Mapping[str, Schema] = schema.get("properties") or {}
    additional = schema.get("additionalProperties")
    for name in schema.get("required") or []:
        if name not in value:
            found.append(f"{path}.{name}: required")
    for name, item in value.items():
        child = f"{path}.{name}"
        if not path and name in ("apiVersion", "kind", "metadata"):
            continue  # every object's envelope; the API server validates it, not the CRD schema
        if name in properties:
            found += violations(item, properties[name], child)
        elif isinstance(additional, Mapping):
            found += violations(item, additional, child)
        elif additional is True or _preserves_unknown(schema):
            continue
        else:
            found.append(f"{child}: unknown field (upstream's schema would prune it)")
    return found


def _bounds(value: Any, schema: Schema, where: str) -> list[str]:
    found: list[str] = []
    if isinstance(value, str):
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            found.append(f"{where}: longer than {schema['maxLength']}")
        if "minLength" in schema and len(value) < schema["minLength"]:
            found.append(f"{where}: shorter than {schema['minLength']}")
        if "pattern" in schema and re.search(schema["pattern"], value) is None:
            found.append(f"{where}: {value!r} does not match {schema['pattern']}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            found.append(f"{where}: below {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            found.append(f"{where}: above {schema['maximum']}")
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            found.append(f"{where}: more than {schema['maxItems']} items")
        if "minItems" in schema and len(value) < schema["minItems"]:
            found.append(f"{where}: fewer than {schema['minItems']} items")
    if isinstance(value, dict) and "maxProperties" in schema and len(value) > schema["maxProperties"]:
        found.append(f"{where}: more than {schema['maxProperties']} properties")
    return found


def _shape(schema: Schema) -> str:
    if schema.get("x-kubernetes-int-or-string"):
        return "int-or-string"
    return str(schema.get("type", "any"))


def incompatibilities(ours: Schema, theirs: Schema, path: str = "") -> list[str]:
    """Where `ours` declares a property `theirs` lacks, or gives it another type or a wider enum.

    Our schema may know less than theirs (it preserves what it does not model), never more or
    differently.
    """
    where = path or "<root>"
    found: list[str] = []
    if _shape(ours) != "any" and _shape(ours) != _shape(theirs):
        return [f"{where}: ours is {_shape(ours)}, upstream's is {_shape(theirs)}"]
    if "enum" in ours:
        wider = [v for v in ours["enum"] if v not in theirs.get("enum", ours["enum"])]
        if wider:
            found.append(f"{where}: enum values {wider} upstream does not accept")
    their_props: Mapping[str, Schema] = theirs.get("properties") or {}
    for name, child in (ours.get("properties") or {}).items():
        if name not in their_props:
            if not _preserves_unknown(theirs) and not isinstance(theirs.get("additionalProperties"), Mapping):
                found.append(f"{path}.{name}: upstream's schema has no such field")
            continue
        found += incompatibilities(child, their_props[name], f"{path}.{name}")
    if isinstance(ours.get("items"), Mapping) and isinstance(theirs.get("items"), Mapping):
        found += incompatibilities(ours["items"], theirs["items"], f"{path}[]")
    if isinstance(ours.get("additionalProperties"), Mapping) and isinstance(
        theirs.get("additionalProperties"), Mapping
    ):
        found += incompatibilities(ours["additionalProperties"], theirs["additionalProperties"], f"{path}.*")
    return found
