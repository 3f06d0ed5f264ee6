"""Validate an object against a CRD's structural OpenAPI v3 schema, unknown fields rejected.

The API server prunes fields a structural schema does not declare, so a misspelled field in a
rendered custom resource is silently dropped on a real cluster (or refused, with strict field
validation). `violations(obj, schema)` reports what the API server would refuse or drop:
wrong types, missing required fields, values outside an enum or pattern, and every property the
schema does not declare (unless `x-kubernetes-preserve-unknown-fields` or `additionalProperties`
allows it). CEL rules (`x-kubernetes-validations`) are not evaluated; callers check those apart.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "boolean": (bool,),
    "integer": (int,),
    "number": (int, float),
}
# Fields of every object that the API server validates itself, whatever the CRD schema says.
_ROOT_FIELDS = ("apiVersion", "kind", "metadata")


def _type_ok(value: Any, schema: Mapping[str, Any]) -> bool:
    if schema.get("x-kubernetes-int-or-string"):
        return isinstance(value, (int, str)) and not isinstance(value, bool)
    wanted = schema.get("type")
    if wanted is None:
        return True
    if isinstance(value, bool) and wanted in ("integer", "number"):
        return False
    return isinstance(value, _TYPES.get(str(wanted), ()))


def violations(value: Any, schema: Mapping[str, Any], path: str = "") -> list[str]:
    """Everything about `value` the schema does not allow; empty when it conforms."""
    where = path or "<root>"
    if value is None:
        return [] if schema.get("nullable") else [f"{where}: null is not allowed"]
    if not _type_ok(value, schema):
        return [f"{where}: {type(value).__name__} where the schema wants {schema.get('type')}"]
    found: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{where}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, str):
        if "pattern" in schema and re.search(schema["pattern"], value) is None:
            found.append(f"{where}: {value!r} does not match {schema['pattern']!r}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            found.append(f"{where}: longer than {schema['maxLength']}")
        if "minLength" in schema and len(value) < schema["minLength"]:
            found.append(f"{where}: shorter than {schema['minLength']}")
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
        items = schema.get("items")
        if isinstance(items, Mapping):
            for index, item in enumerate(value):
                found += violations(item, items, f"{path}[{index}]")
    if isinstance(value, dict):
        found += _object_violations(value, schema, path)
    return found


def _object_violations(value: dict[str, Any], schema: Mapping[str, Any], path: str) -> list[str]:
    found: list[str] = []
    properties: Mapping[str, Any] = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
    embedded = bool(schema.get("x-kubernetes-embedded-resource"))
    skip = _ROOT_FIELDS if (not path or embedded) else ()
    for name in schema.get("required") or []:
        if name not in value:
            found.append(f"{path}.{name}: required" if path else f"{name}: required")
    for key, item in value.items():
        child = f"{path}.{key}" if path else key
        if key in skip:
            continue
        if key in properties:
            found += violations(item, properties[key], child)
        elif isinstance(extra, Mapping):
            found += violations(item, extra, child)
        elif extra is True or preserve:
            continue
        else:
            found.append(f"{child}: unknown field")
    return found
