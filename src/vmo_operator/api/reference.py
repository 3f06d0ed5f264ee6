"""Render the configuration reference (docs/reference.md) from the generated CRD schema.

It reads the same structural schema the API server gets, so the document shows exactly the
defaults, limits and CEL messages that admission enforces; a test keeps the file in step.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from vmo_operator.api import models


def _type_of(node: Mapping[str, Any]) -> str:
    kind = node.get("type", "")
    if node.get("x-kubernetes-preserve-unknown-fields") and "properties" not in node:
        return "object (free-form)"
    if kind == "array":
        return f"[]{_type_of(node.get('items', {}))}"
    if kind == "object" and "additionalProperties" in node:
        return f"map[string]{_type_of(node['additionalProperties'])}"
    if "enum" in node:
        return " \\| ".join(f"`{v}`" for v in node["enum"])
    return str(kind)


def _constraints(node: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    for key, label in (
        ("minimum", "min"),
        ("maximum", "max"),
        ("minLength", "min length"),
        ("maxLength", "max length"),
        ("minItems", "min items"),
        ("maxItems", "max items"),
        ("maxProperties", "max entries"),
    ):
        if key in node:
            out.append(f"{label} {node[key]}")
    if "pattern" in node:
        out.append(f"pattern `{node['pattern']}`")
    items = node.get("items", {})
    if "pattern" in items:
        out.append(f"items match `{items['pattern']}`")
    if node.get("x-kubernetes-list-type") == "map":
        out.append(f"unique by {', '.join(node.get('x-kubernetes-list-map-keys', []))}")
    elif node.get("x-kubernetes-list-type") == "set":
        out.append("unique items")
    out.extend(rule["message"] for rule in node.get("x-kubernetes-validations", []))
    return out


def _rows(node: Mapping[str, Any], path: str, required: bool = False) -> Iterator[tuple[str, ...]]:
    default = json.dumps(node["default"], separators=(", ", ": ")) if "default" in node else ""
    yield (
        f"`{path}`" + (" (required)" if required else ""),
        _type_of(node),
        f"`{default}`" if default else "",
        node.get("description", "").replace("\n", " "),
        "; ".join(_constraints(node)),
    )
    children: Mapping[str, Any] = node.get("properties", {})
    prefix = path
    if node.get("type") == "array" and "properties" in node.get("items", {}):
        children = node["items"]["properties"]
        prefix = f"{path}[]"
        node = node["items"]
    required_children = set(node.get("required", []))
    for name, child in children.items():
        yield from _rows(child, f"{prefix}.{name}", name in required_children)


def _escape(cell: str) -> str:
    return cell.replace("|", "\\|") if "\\|" not in cell else cell


def render_markdown(crd: Mapping[str, Any]) -> str:
    version = crd["spec"]["versions"][0]
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    lines = [
        "<!-- Generated from src/vmo_operator/api/models.py by `python -m vmo_operator.api.crd --write`. -->",
        f"# {models.KIND} configuration reference",
        "",
        f"`apiVersion: {models.API_VERSION}`, `kind: {models.KIND}` (cluster-scoped, short name "
        f"`{models.SHORT_NAMES[0]}`).",
        "",
        spec.get("description", ""),
        "",
        "Defaults are applied by the API server when the profile is stored and by `vmo render`; "
        "the validation column lists the limits and the messages admission returns.",
        "",
    ]
    for section, node in spec["properties"].items():
        lines += [f"## `spec.{section}`", "", node.get("description", ""), ""]
        lines += ["| Field | Type | Default | Description | Validation |", "|---|---|---|---|---|"]
        for row in _rows(node, f"spec.{section}"):
            lines.append("| " + " | ".join(_escape(cell) for cell in row) + " |")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"
