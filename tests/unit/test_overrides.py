"""spec.kubevirt.overrides and spec.cdi.overrides: validated, applied to the rendered CRs, flagged,
and reported (not ignored) when they do not apply."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from tests.unit.test_components_assess import healthy
from vmo_operator.api import models, profiles
from vmo_operator.components import cdi, kubevirt, registry
from vmo_operator.components.base import ClusterFacts, render_labelled
from vmo_operator.engine.status import ReconcileFacts, build_status, summary_conditions, tainted_configuration
from vmo_operator.kube.objects import ObjectKey
from vmo_operator.operator.reporting import condition_events

FACTS = ClusterFacts()
VERBOSITY = {
    "op": "add",
    "path": "/spec/configuration/developerConfiguration/logVerbosity",
    "value": {"virtHandler": 4},
}
MISSING = {"op": "remove", "path": "/spec/configuration/nothingHere"}


def spec(**parts: Any) -> models.VMOProfileSpec:
    return models.parse_spec(parts)


def problems(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as refused:
        models.parse_spec(raw)
    return profiles.validation_problems(refused.value, prefix="spec")


# ------------------------------------------------------------------------------------------- the model


@pytest.mark.parametrize(
    ("override", "field", "words"),
    [
        ({"op": "move", "path": "/spec/a", "value": 1}, "spec.kubevirt.overrides[0].op", "'add', 'remove'"),
        (
            {"op": "add", "path": "/metadata/name", "value": "x"},
            "spec.kubevirt.overrides[0].path",
            "should match",
        ),
        ({"op": "add", "path": "/spec/a~2", "value": 1}, "spec.kubevirt.overrides[0].path", "should match"),
        ({"op": "replace", "path": "/spec/a"}, "spec.kubevirt.overrides[0]", "value is required"),
        ({"op": "remove", "path": "/spec/a", "bogus": 1}, "spec.kubevirt.overrides[0].bogus", "Extra inputs"),
    ],
)
def test_bad_overrides_are_refused_naming_the_field(override: dict[str, Any], field: str, words: str) -> None:
    found = problems({"kubevirt": {"overrides": [override]}})
    assert any(p.startswith(f"{field}: ") and words in p for p in found), found


def test_the_crd_refuses_the_same_at_admission() -> None:
    from vmo_operator.api import crd

    item = crd.spec_schema()["properties"]["kubevirt"]["properties"]["overrides"]["items"]
    assert item["properties"]["op"]["enum"] == ["add", "remove", "replace", "test"]
    assert item["properties"]["path"]["pattern"] == models.SPEC_POINTER
    assert item["properties"]["value"] == {
        "description": item["properties"]["value"]["description"],
        "x-kubernetes-preserve-unknown-fields": True,
    }
    assert "x-kubernetes-validations" not in item  # CEL cannot see an untyped field; pydantic checks
    cdi_item = crd.spec_schema()["properties"]["cdi"]["properties"]["overrides"]["items"]
    assert cdi_item == item


def test_null_value_counts_as_given() -> None:
    parsed = spec(kubevirt={"overrides": [{"op": "add", "path": "/spec/x", "value": None}]})
    assert parsed.kubevirt.overrides[0].operation() == {"op": "add", "path": "/spec/x", "value": None}


# -------------------------------------------------------------------------------------------- rendering


def test_overrides_patch_the_rendered_crs_in_vmo_render() -> None:
    profile = spec(
        kubevirt={"overrides": [VERBOSITY]},
        cdi={
            "overrides": [{"op": "replace", "path": "/spec/config/filesystemOverhead/global", "value": "0.1"}]
        },
    )
    objects = {ObjectKey.of(o): o for o in registry.render_all(profile, FACTS, "p")}
    kv = objects[ObjectKey("kubevirt.io/v1", "KubeVirt", "kubevirt", "kubevirt")]
    assert kv["spec"]["configuration"]["developerConfiguration"]["logVerbosity"] == {"virtHandler": 4}
    assert kv["metadata"]["labels"]["vmo.dev/profile"] == "p"  # still ours after patching
    cr = objects[ObjectKey("cdi.kubevirt.io/v1beta1", "CDI", "", "cdi")]
    assert cr["spec"]["config"]["filesystemOverhead"]["global"] == "0.1"
    assert kubevirt.override_problem(profile) == ""
    assert cdi.override_problem(profile) == ""


def test_an_override_that_does_not_apply_leaves_the_cr_as_modelled() -> None:
    bad = spec(kubevirt={"overrides": [VERBOSITY, MISSING]})
    assert kubevirt.kubevirt_cr(bad) == kubevirt.kubevirt_cr(spec())
    assert kubevirt.override_problem(bad) == (
        "override 1 (remove /spec/configuration/nothingHere): 'nothingHere' does not exist; "
        "none of the overrides is applied"
    )


@pytest.mark.parametrize("component", [kubevirt.KUBEVIRT, cdi.CDI], ids=lambda c: c.name)
def test_an_override_that_does_not_apply_degrades_only_its_component(component: Any) -> None:
    bad = spec(**{component.name: {"overrides": [MISSING]}})
    rendered = render_labelled(component, bad, FACTS, "p")
    observed = {ObjectKey.of(o): healthy(o) for o in rendered}
    health = component.assess(bad, FACTS, rendered, observed)
    assert (health.ready, health.degraded, health.reason) == (False, True, "OverrideNotApplied")
    assert "override 0 (remove /spec/configuration/nothingHere)" in health.message
    other = cdi.CDI if component is kubevirt.KUBEVIRT else kubevirt.KUBEVIRT
    other_rendered = render_labelled(other, bad, FACTS, "p")
    fine = other.assess(bad, FACTS, other_rendered, {ObjectKey.of(o): healthy(o) for o in other_rendered})
    assert fine.ready
    titled = [(component.title, health), (other.title, fine)]
    degraded = {c.type: c for c in summary_conditions(titled, ReconcileFacts(1))}["Degraded"]
    assert (degraded.status, degraded.reason) == ("True", f"{component.title}Degraded")
    assert "nothingHere" in degraded.message


# ------------------------------------------------------------------------------------------ the flag


def test_tainted_configuration_names_how_many_and_every_path() -> None:
    assert tainted_configuration(spec()) == []
    one = tainted_configuration(spec(kubevirt={"overrides": [VERBOSITY]}))
    assert [(c.type, c.status, c.reason) for c in one] == [("TaintedConfiguration", "True", "OneOverride")]
    both = tainted_configuration(
        spec(kubevirt={"overrides": [VERBOSITY, MISSING]}, cdi={"overrides": [MISSING]})
    )[0]
    assert both.reason == "ThreeOverrides"
    assert both.message == (
        "3 unsupported overrides patch the rendered CRs: "
        "kubevirt[0] add /spec/configuration/developerConfiguration/logVerbosity; "
        "kubevirt[1] remove /spec/configuration/nothingHere; cdi[0] remove /spec/configuration/nothingHere"
    )
    many = spec(kubevirt={"overrides": [VERBOSITY] * 10}, cdi={"overrides": [MISSING] * 2})
    assert tainted_configuration(many)[0].reason == "Count12Overrides"


def test_a_disabled_operands_overrides_do_not_taint() -> None:
    assert tainted_configuration(spec(cdi={"enabled": False, "overrides": [MISSING]})) == []


def test_removing_the_overrides_clears_the_condition_and_events_follow() -> None:
    tainted = spec(kubevirt={"overrides": [VERBOSITY]})
    first = build_status({}, [], ReconcileFacts(1), now="T", extra_conditions=tainted_configuration(tainted))
    assert any(c["type"] == "TaintedConfiguration" for c in first["conditions"])
    events = condition_events({}, first)
    assert ("Warning", "OneOverride", tainted_configuration(tainted)[0].message) in events
    assert not any(r == "OneOverride" for _, r, _ in condition_events(first, first))  # not on every resync
    cleared = build_status(
        first, [], ReconcileFacts(2), now="T2", extra_conditions=tainted_configuration(spec())
    )
    assert all(c["type"] != "TaintedConfiguration" for c in cleared["conditions"])


def test_an_operands_overrides_are_bounded_in_number_and_size() -> None:
    with pytest.raises(ValidationError, match="at most 10 items"):
        spec(kubevirt={"overrides": [VERBOSITY] * 11})
    big = {"op": "add", "path": "/spec/configuration/x", "value": "v" * 5000}
    with pytest.raises(ValidationError, match="over the 4096 allowed"):
        spec(cdi={"overrides": [big]})
