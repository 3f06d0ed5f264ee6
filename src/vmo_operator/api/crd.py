"""Generate the VMOProfile CustomResourceDefinition from the pydantic models.

pydantic emits JSON Schema 2020-12; the API server wants a *structural* OpenAPI v3 schema: no `$ref`,
no `anyOf` around `null`, no `additionalProperties: false`, no `uniqueItems`, boolean
`exclusiveMinimum`. This module rewrites one into the other and adds what pydantic cannot know:
`default: {}` on nested objects (so the API server defaults the fields below them), the real
defaults of fields built by non-trivial factories, printer columns and the status subresource.

Regenerate the checked-in files with::

    .venv/bin/python -m vmo_operator.api.crd --write
"""

from __future__ import annotations

import copy
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from vmo_operator.api import generated, models

Schema = dict[str, Any]

CRD_NAME = f"{models.PLURAL}.{models.GROUP}"
CRD_PATH = Path("crds") / f"{models.GROUP}_{models.PLURAL}.yaml"
REFERENCE_PATH = Path("docs") / "reference.md"

PRINTER_COLUMNS: list[dict[str, Any]] = [
    {
        "name": "Phase",
        "type": "string",
        "jsonPath": ".status.phase",
        "description": "Deploying, Deployed, Degraded, RemovalBlocked, Deleting, Inactive or InvalidSpec.",
    },
    *(
        {
            "name": ctype,
            "type": "string",
            "jsonPath": f'.status.conditions[?(@.type=="{ctype}")].status',
            "description": f"Status of the {ctype} condition.",
        }
        for ctype in ("Available", "Progressing", "Degraded")
    ),
    {
        "name": "KubeVirt",
        "type": "string",
        "jsonPath": ".status.kubevirtVersion",
        "description": "KubeVirt version reported by the KubeVirt CR.",
    },
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


def _resolve(node: Mapping[str, Any], defs: Mapping[str, Any]) -> Schema:
    """Inline references and collapse optional unions into one structural node."""
    node = dict(node)
    ref = node.pop("$ref", None)
    if ref is None and len(node.get("allOf", ())) == 1:
        ref = node.pop("allOf")[0]["$ref"]
    if ref is not None:
        target = _resolve(defs[ref.rsplit("/", 1)[-1]], defs)
        # The field's own description is more specific than the model's docstring.
        return {**target, **_resolve(node, defs)}
    if "anyOf" in node:
        options = [o for o in node.pop("anyOf") if o != {"type": "null"}]
        if len(options) != 1:
            raise ValueError(f"cannot express a union of {options} structurally")
        if node.get("default", ...) is None:
            del node["default"]
        return {**_resolve(options[0], defs), **_resolve(node, defs)}

    node.pop("title", None)
    if node.get("default", ...) is None:
        del node["default"]
    extra = node.get("additionalProperties")
    if extra is False:
        del node["additionalProperties"]
    elif extra is True:
        del node["additionalProperties"]
        node["x-kubernetes-preserve-unknown-fields"] = True
    elif isinstance(extra, Mapping):
        node["additionalProperties"] = _resolve(extra, defs)
    if "properties" in node:
        node["properties"] = {k: _resolve(v, defs) for k, v in node["properties"].items()}
    if "items" in node:
        node["items"] = _resolve(node["items"], defs)
    for bound, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(bound), int | float) and not isinstance(node[bound], bool):
            node[plain] = node[bound]
            node[bound] = True
    if node.pop("uniqueItems", False):
        node.setdefault("x-kubernetes-list-type", "set")
    return node


def _model_of(annotation: Any) -> tuple[str, type[BaseModel]] | None:
    """Where a field's nested model sits: ("self" | "items" | "values", model class)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _model_of(args[0])
    if origin in (typing.Union, types.UnionType):
        real = [a for a in args if a is not type(None)]
        return _model_of(real[0]) if len(real) == 1 else None
    if origin is list and args:
        inner = _model_of(args[0])
        return ("items", inner[1]) if inner and inner[0] == "self" else None
    if origin is dict and len(args) == 2:
        inner = _model_of(args[1])
        return ("values", inner[1]) if inner and inner[0] == "self" else None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "self", annotation
    return None


def _apply_defaults(model: type[BaseModel], schema: Schema) -> None:
    """Give factory-built fields the schema default the API server needs to match pydantic."""
    props = schema.get("properties", {})
    for name, field in model.model_fields.items():
        key = field.serialization_alias or field.alias or name
        prop = props[key]
        nested = _model_of(field.annotation)
        if field.default_factory is not None and "default" not in prop:
            value = field.default_factory()  # type: ignore[call-arg]
            if isinstance(value, BaseModel):
                dumped = value.model_dump(mode="json", exclude_none=True)
                # `{}` lets the API server fill the nested defaults; anything else must be spelled out.
                prop["default"] = (
                    {} if dumped == type(value)().model_dump(mode="json", exclude_none=True) else dumped
                )
            elif value:
                prop["default"] = value
        elif field.default is not PydanticUndefined and isinstance(field.default, BaseModel):
            prop["default"] = field.default.model_dump(mode="json", exclude_none=True)
        if nested is None:
            continue
        where, sub = nested
        target = {
            "self": prop,
            "items": prop.get("items", {}),
            "values": prop.get("additionalProperties", {}),
        }[where]
        _apply_defaults(sub, target)


def structural_schema(model: type[BaseModel]) -> Schema:
    """The structural OpenAPI v3 schema of one model, with defaults."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.pop("$defs", {})
    schema = copy.deepcopy(_resolve(raw, defs))
    _apply_defaults(model, schema)
    return schema


def spec_schema() -> Schema:
    schema = structural_schema(models.VMOProfileSpec)
    schema["default"] = {}
    return schema


def status_schema() -> Schema:
    schema = structural_schema(models.VMOProfileStatus)
    # kopf and newer operator releases may add fields; the API server must not prune them.
    schema["x-kubernetes-preserve-unknown-fields"] = True
    return schema


def build_crd() -> dict[str, Any]:
    """The complete CustomResourceDefinition object."""
    root: Schema = {
        "type": "object",
        "description": (
            "VMOProfile turns the cluster into a virtual-machine platform: it installs and configures "
            "KubeVirt, CDI, Multus with VLAN networks, the descheduler and the snapshot controller, and "
            "reports their health. One profile per cluster is active."
        ),
        "properties": {
            "apiVersion": {
                "type": "string",
                "description": "APIVersion defines the versioned schema of this representation of an object.",
            },
            "kind": {"type": "string", "description": "Kind is the REST resource this object represents."},
            "metadata": {"type": "object"},
            "spec": spec_schema(),
            "status": status_schema(),
        },
        "x-kubernetes-validations": [models.PROFILE_NAME_RULE],
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": CRD_NAME,
            "labels": {"app.kubernetes.io/name": "vmo-operator", "app.kubernetes.io/part-of": "vmo-operator"},
        },
        "spec": {
            "group": models.GROUP,
            "names": {
                "kind": models.KIND,
                "listKind": f"{models.KIND}List",
                "plural": models.PLURAL,
                "singular": models.SINGULAR,
                "shortNames": list(models.SHORT_NAMES),
            },
            "scope": "Cluster",
            "versions": [
                {
                    "name": models.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                    "schema": {"openAPIV3Schema": root},
                }
            ],
        },
    }


class _NoAliasDumper(yaml.SafeDumper):
    """Shared sub-objects (e.g. enum lists) must be written out in full, never as YAML anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # Embedded files (policies, JSON configs) stay readable as literal blocks.
    style = "|" if "\n" in value and not value.startswith((" ", "\n")) and " \n" not in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_NoAliasDumper.add_representer(str, _str_representer)


def dump_yaml(obj: Any) -> str:
    """Deterministic YAML: sorted keys, block style, no line wrapping, no anchors."""
    return yaml.dump(
        obj,
        Dumper=_NoAliasDumper,
        sort_keys=True,
        default_flow_style=False,
        width=100_000,
        allow_unicode=True,
    )


def crd_yaml() -> str:
    return (
        "# Generated from src/vmo_operator/api/models.py by `python -m vmo_operator.api.crd --write`.\n"
        + ("---\n" + dump_yaml(build_crd()))
    )


def generated_files() -> dict[Path, str]:
    """Every generated file, relative to the repository root, with its expected content."""
    from vmo_operator.api import reference

    return {CRD_PATH: crd_yaml(), REFERENCE_PATH: reference.render_markdown(build_crd())}


def stale_files(root: Path) -> list[Path]:
    return generated.stale(generated_files(), root)


def main(argv: list[str] | None = None) -> int:
    return generated.main(
        module="vmo_operator.api.crd",
        description="Generate the VMOProfile CRD and reference docs.",
        files=generated_files,
        printed=crd_yaml,
        argv=argv,
    )


if __name__ == "__main__":
    raise SystemExit(main())
