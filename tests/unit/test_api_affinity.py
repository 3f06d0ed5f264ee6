"""`affinity` is the Kubernetes type, with Pod validation's rules, and every list is bounded."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from vmo_operator.api import crd, models
from vmo_operator.api.models.overrides import MAX_OVERRIDES_BYTES

SPEC = crd.build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
ETCD_LIMIT = 1_572_864  # bytes: etcd's default --max-request-bytes, the largest object it stores
LONGEST_KEY = 317  # a label key: a 253-character DNS prefix, '/', a 63-character name
# macPool.namespaceSelector.matchLabels takes strings of any length (the MAC pool's part of the API).
# An override's value is any JSON, with no schema to bound it; the spec's parse bounds all of one
# operand's overrides to MAX_OVERRIDES_BYTES, which the size below adds for each.
OVERRIDE_VALUES = {"spec.kubevirt.overrides[].value", "spec.cdi.overrides[].value"}
UNBOUNDED = {"spec.macPool.namespaceSelector.matchLabels{}", *OVERRIDE_VALUES}


def largest(schema: dict[str, Any], path: str, unbounded: list[str]) -> int:
    """An upper bound of the JSON size of any value `schema` admits (ASCII), noting what is unbounded."""
    kind = schema.get("type")
    if kind == "object":
        total = 2 + sum(
            len(key) + 4 + largest(sub, f"{path}.{key}", unbounded)
            for key, sub in (schema.get("properties") or {}).items()
        )
        values = schema.get("additionalProperties")
        if isinstance(values, dict):
            if "maxProperties" not in schema:
                unbounded.append(f"{path}{{}}")
            total += schema.get("maxProperties", 0) * (
                LONGEST_KEY + 4 + largest(values, f"{path}{{}}", unbounded)
            )
        if schema.get("x-kubernetes-preserve-unknown-fields"):
            unbounded.append(path)
        return total
    if kind == "array":
        if "maxItems" not in schema:
            unbounded.append(path)
        count: int = schema.get("maxItems", 0)
        return 2 + count * (1 + largest(schema["items"], f"{path}[]", unbounded))
    if kind == "string":
        if "enum" in schema:
            return 2 + max(len(str(value)) for value in schema["enum"])
        if "maxLength" not in schema and "format" not in schema:
            unbounded.append(path)
        length: int = schema.get("maxLength", 64)
        return 2 + length
    if kind is None and schema.get("x-kubernetes-preserve-unknown-fields"):
        unbounded.append(path)  # any JSON at all
    return 24  # numbers and booleans


def test_a_profile_with_every_list_full_still_fits_in_etcd_with_room_for_its_status() -> None:
    unbounded: list[str] = []
    size = largest(SPEC, "spec", unbounded) + len(OVERRIDE_VALUES) * MAX_OVERRIDES_BYTES
    assert set(unbounded) <= UNBOUNDED, "a free-form or unbounded field would let the spec grow without limit"
    assert size < ETCD_LIMIT - 256 * 1024, size


def test_affinity_is_typed_not_free_form() -> None:
    placement = SPEC["properties"]["kubevirt"]["properties"]["infra"]["properties"]["affinity"]
    assert "x-kubernetes-preserve-unknown-fields" not in placement
    assert set(placement["properties"]) == {"nodeAffinity", "podAffinity", "podAntiAffinity"}


def placement(affinity: dict[str, Any]) -> dict[str, Any]:
    return {"descheduler": {"infra": {"affinity": affinity}}}


def node_requirement(**requirement: Any) -> dict[str, Any]:
    terms = [{"matchExpressions": [requirement]}]
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}


@pytest.mark.parametrize(
    ("affinity", "problem"),
    [
        ({"nodeAfinity": {}}, "nodeAfinity"),
        (node_requirement(key="zone", operator="In"), "values must be non-empty"),
        (node_requirement(key="zone", operator="Exists", values=["a"]), "values must be non-empty"),
        (node_requirement(key="cpus", operator="Gt", values=["many"]), "one integer for Gt"),
        (node_requirement(key="zone", operator="Near", values=["a"]), "operator"),
        (
            {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}}},
            "nodeSelectorTerms",
        ),
        (
            {
                "podAntiAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {"weight": 101, "podAffinityTerm": {"topologyKey": "zone"}}
                    ]
                }
            },
            "weight",
        ),
        (
            {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"namespaces": ["a"]}]}},
            "topologyKey",
        ),
        (node_requirement(key="zone", operator="In", values=[f"v{n}" for n in range(100)]), "values"),
    ],
    ids=[
        "unknown-key",
        "in-without-values",
        "exists-with-values",
        "gt-not-a-number",
        "bad-operator",
        "no-terms",
        "weight",
        "no-topology-key",
        "too-many-values",
    ],
)
def test_what_pod_validation_would_refuse_is_refused_in_the_profile(
    affinity: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        models.parse_spec(placement(affinity))
    assert problem in str(refused.value)


def test_a_valid_affinity_is_rendered_as_written() -> None:
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "cpus", "operator": "Gt", "values": ["4"]}]}
                ]
            }
        },
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 50, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname"}}
            ]
        },
    }
    spec = models.parse_spec(placement(affinity))
    assert spec.descheduler.infra.affinity_json() == affinity


def test_node_selector_keys_are_label_keys() -> None:
    with pytest.raises(ValidationError, match="label key"):
        models.parse_spec({"cdi": {"infra": {"nodeSelector": {"bad key": "x"}}}})
    models.parse_spec({"cdi": {"infra": {"nodeSelector": {"node-role.kubernetes.io/infra": ""}}}})


def test_the_bounds_that_keep_the_profile_small_are_refused_with_the_field_named() -> None:
    labels = {f"zone-{n}": "a" for n in range(17)}
    with pytest.raises(ValidationError, match=r"cdi\.infra\.nodeSelector"):
        models.parse_spec({"cdi": {"infra": {"nodeSelector": labels}}})
    models.parse_spec({"cdi": {"infra": {"nodeSelector": dict(list(labels.items())[:16])}}})
    vsc = {"name": "c", "driver": "d.example.com"}
    with pytest.raises(ValidationError, match=r"volumeSnapshotClass\.parameters"):
        models.parse_spec({"snapshotController": {"volumeSnapshotClass": {**vsc, "parameters": labels}}})
    with pytest.raises(ValidationError, match=r"volumeSnapshotClass\.parameters\.pool"):
        models.parse_spec(
            {"snapshotController": {"volumeSnapshotClass": {**vsc, "parameters": {"pool": "p" * 513}}}}
        )
