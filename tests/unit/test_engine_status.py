"""Status aggregation: every failing component is named, polarity is explicit."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypedDict, Unpack

import pytest

from vmo_operator.api import crd, models
from vmo_operator.components import registry
from vmo_operator.components.base import ComponentHealth, ConditionSpec
from vmo_operator.engine.status import (
    ReconcileFacts,
    build_status,
    component_contributions,
    status_changed,
    summary_conditions,
)


class HealthFields(TypedDict, total=False):
    """ComponentHealth's fields after `name`, as keyword arguments."""

    enabled: bool
    ready: bool
    version: str
    reason: str
    message: str
    progressing: bool
    degraded: bool
    skipped: bool
    details: Mapping[str, Any]


def health(name: str, **kw: Unpack[HealthFields]) -> ComponentHealth:
    return dataclasses.replace(ComponentHealth(name, enabled=True, ready=True), **kw)


def condition(status: dict[str, Any], type_: str) -> dict[str, Any] | None:
    return next((c for c in status["conditions"] if c["type"] == type_), None)


def by_type(
    titled: list[tuple[str, ComponentHealth]], facts: ReconcileFacts
) -> dict[str, tuple[str, str, str]]:
    return {c.type: (c.status, c.reason, c.message) for c in summary_conditions(titled, facts)}


def test_all_ready_is_available_and_stable() -> None:
    result = by_type([("KubeVirt", health("kubevirt")), ("CDI", health("cdi"))], ReconcileFacts(1))
    assert result["Available"][:2] == ("True", "AllComponentsReady")
    assert result["Progressing"][:2] == ("False", "Stable")
    assert result["Degraded"][:2] == ("False", "AsExpected")
    assert result["ReconcileComplete"][:2] == ("True", "ReconcileCompleted")


def test_every_unready_component_is_named() -> None:
    titled = [
        ("KubeVirt", health("kubevirt", ready=False, message="virt-operator 0/2 ready")),
        ("CDI", health("cdi", ready=False, message="CDI phase Deploying")),
        ("Multus", health("multus")),
    ]
    status, reason, message = by_type(titled, ReconcileFacts(1))["Available"]
    assert (status, reason) == ("False", "ComponentsNotAvailable")
    assert "KubeVirt: virt-operator 0/2 ready" in message
    assert "CDI: CDI phase Deploying" in message
    assert by_type(titled[1:], ReconcileFacts(1))["Available"][1] == "CDINotAvailable"


@pytest.mark.parametrize(
    ("component", "available"),
    [
        (health("snapshot", enabled=False, ready=False), "True"),
        (health("snapshot", skipped=True, ready=False, message="foreign CRD"), "True"),
        (health("snapshot", ready=False, degraded=True, message="crashloop"), "False"),
    ],
    ids=["disabled", "skipped", "degraded"],
)
def test_disabled_and_skipped_components_do_not_block_availability(
    component: ComponentHealth, available: str
) -> None:
    assert by_type([("SnapshotController", component)], ReconcileFacts(1))["Available"][0] == available


def test_degraded_component_and_apply_error_are_reported() -> None:
    titled = [("Multus", health("multus", ready=False, degraded=True, message="DaemonSet has 0 ready"))]
    result = by_type(titled, ReconcileFacts(1, apply_error="403 Forbidden: deployments"))
    assert result["Degraded"][:2] == ("True", "ApplyFailed")
    assert "DaemonSet has 0 ready" in result["Degraded"][2]
    assert result["ReconcileComplete"][:2] == ("False", "ReconcileFailed")


def test_blocked_removal() -> None:
    facts = ReconcileFacts(1, blocked={"kubevirt": "still in use by VirtualMachine ns/vm1"})
    result = by_type([("KubeVirt", health("kubevirt"))], facts)
    assert result["ReconcileComplete"][:2] == ("False", "RemovalBlocked")
    assert "ns/vm1" in result["ReconcileComplete"][2]


def test_unknown_gates_reach_the_status_through_the_components() -> None:
    spec = models.parse_spec({"kubevirt": {"featureGates": {"add": ["Foo"]}}})
    components = registry.components()
    healths = [health(c.name, version="v1.9.0" if c.name == "kubevirt" else "") for c in components]
    fields, extra = component_contributions(components, spec, healths)
    titled = [(c.title, h) for c, h in zip(components, healths, strict=True)]
    status = build_status({}, titled, ReconcileFacts(1), now="T", extra=fields, extra_conditions=extra)
    gates = condition(status, "FeatureGatesRecognized")
    assert gates is not None
    assert (gates["status"], gates["reason"]) == ("False", "UnknownFeatureGate")
    assert "Foo" in gates["message"]
    assert status["featureGates"]["unknown"] == ["Foo"]
    assert status["kubevirtVersion"] == "v1.9.0"
    assert list(status) == [
        "conditions",
        "phase",
        "observedGeneration",
        "components",
        "featureGates",
        "kubevirtVersion",
    ]


@pytest.mark.parametrize(
    "facts",
    [ReconcileFacts(2, spec_error="spec.multus: bad"), ReconcileFacts(2, inactive_because="a is active")],
    ids=["invalid", "inactive"],
)
def test_component_conditions_are_not_set_for_a_profile_that_applies_nothing(facts: ReconcileFacts) -> None:
    extra = [ConditionSpec("FeatureGatesRecognized", "True", "AllGatesKnown")]
    assert (
        condition(build_status({}, [], facts, now="T", extra_conditions=extra), "FeatureGatesRecognized")
        is None
    )


@pytest.mark.parametrize(
    ("facts", "reason"),
    [
        (ReconcileFacts(2, spec_error="spec.multus: bad"), "InvalidSpec"),
        (ReconcileFacts(2, inactive_because="profile a is active"), "DuplicateProfile"),
    ],
)
def test_profiles_that_apply_nothing_say_why(facts: ReconcileFacts, reason: str) -> None:
    status = build_status({}, [], facts, now="T")
    degraded = condition(status, "Degraded")
    assert degraded is not None
    assert (degraded["status"], degraded["reason"]) == ("True", reason)
    assert "components" not in status


def test_rebuilding_the_same_status_is_not_a_change() -> None:
    titled = [("KubeVirt", health("kubevirt", version="v1.9.0"))]
    first = build_status({}, titled, ReconcileFacts(3), now="T1")
    second = build_status(first, titled, ReconcileFacts(3), now="T2")
    assert not status_changed(first, second)
    assert first["components"]["kubevirt"]["version"] == "v1.9.0"
    assert first["observedGeneration"] == 3


def _defaulted_fields(schema: dict[str, Any], path: str = "") -> list[str]:
    """Paths of every field the CRD's schema defaults, with `*` for map values and `[]` for items."""
    found = [path] if "default" in schema else []
    for key, sub in (schema.get("properties") or {}).items():
        found += _defaulted_fields(sub, f"{path}.{key}")
    if isinstance(schema.get("additionalProperties"), dict):
        found += _defaulted_fields(schema["additionalProperties"], f"{path}.*")
    if isinstance(schema.get("items"), dict):
        found += _defaulted_fields(schema["items"], f"{path}[]")
    return found


def _holds(value: Any, path: str) -> bool:
    head, _, rest = path.lstrip(".").partition(".")
    if head.endswith("[]"):
        items = value.get(head[:-2]) or []
        return all(_holds(item, "." + rest) for item in items)
    if head == "*":
        return all(_holds(item, "." + rest) for item in value.values())
    if not rest:
        return head in value
    return head in value and _holds(value[head], "." + rest)


def test_every_field_the_crd_defaults_is_written() -> None:
    # The API server stores defaulted fields; a status that omits one never equals what is stored,
    # so every idle resync would write it again.
    schema = crd.status_schema()
    titled = [("KubeVirt", health("kubevirt", version="v1.9.0"))]
    facts = ReconcileFacts(1)
    status = build_status({}, titled, facts, now="T", extra={"kubevirtVersion": "v1.9.0"})
    missing = [path for path in _defaulted_fields(schema) if not _holds(status, path)]
    assert missing == []
