"""What reaches the allocator: only reviews the API server could have sent, only for selected namespaces."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest

from vmo_operator.macpool import admission_config, reviews
from vmo_operator.macpool.admission_config import ROUTES, Route, namespace_in_scope
from vmo_operator.macpool.settings import NAMESPACE_OPT_OUT_LABEL, NAMESPACE_OPT_OUT_VALUE, MacPoolSettings


def review_for(route: Route, operation: str = "CREATE", namespace: str = "tenant") -> dict[str, Any]:
    obj = {
        "apiVersion": route.kind.api_version,
        "kind": route.kind.kind,
        "metadata": {"name": "vm", "namespace": namespace},
        "spec": {},
    }
    request: dict[str, Any] = {
        "uid": "0a1b",
        "kind": {"group": route.kind.group, "version": route.kind.version, "kind": route.kind.kind},
        "resource": {"group": route.kind.group, "version": route.kind.version, "resource": route.kind.plural},
        "operation": operation,
        "namespace": namespace,
        "userInfo": {"username": "someone"},
        "object": obj,
        "dryRun": False,
    }
    if operation == "UPDATE":
        request["oldObject"] = copy.deepcopy(obj)
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


MUTATE_VM = admission_config.ROUTES_BY_PATH[admission_config.MUTATE_VM]
MUTATE_VMI = admission_config.ROUTES_BY_PATH[admission_config.MUTATE_VMI]


@pytest.mark.parametrize("route", ROUTES, ids=lambda route: route.path)
def test_every_operation_the_configurations_send_passes(route: Route) -> None:
    for operation in route.operations:
        assert reviews.refusal(route.path, review_for(route, operation)) is None


def test_an_unknown_path_is_refused_as_not_found() -> None:
    refusal = reviews.refusal("macpool-mutate-pods", review_for(MUTATE_VM))
    assert refusal is not None
    assert refusal.code == 404
    assert reviews.refusal("", review_for(MUTATE_VM)) is not None


def test_a_review_of_another_resource_or_operation_than_the_path_admits_is_refused() -> None:
    vmi_review = review_for(MUTATE_VMI)
    assert reviews.refusal(admission_config.MUTATE_VM, vmi_review) is not None
    # A VMI UPDATE, or a VM DELETE: no configuration sends those.
    assert reviews.refusal(admission_config.MUTATE_VMI, review_for(MUTATE_VMI, "UPDATE")) is not None
    deletion = review_for(MUTATE_VM)
    deletion["request"]["operation"] = "DELETE"
    assert reviews.refusal(admission_config.MUTATE_VM, deletion) is not None
    # The kind must agree with the resource too.
    mixed = review_for(MUTATE_VM)
    mixed["request"]["kind"]["kind"] = "VirtualMachineInstance"
    assert reviews.refusal(admission_config.MUTATE_VM, mixed) is not None


BREAKAGES = {
    "not a review": lambda r: r.update(kind="Pod"),
    "v1beta1": lambda r: r.update(apiVersion="admission.k8s.io/v1beta1"),
    "no request": lambda r: r.pop("request"),
    "no uid": lambda r: r["request"].pop("uid"),
    "empty uid": lambda r: r["request"].update(uid=""),
    "no user": lambda r: r["request"].pop("userInfo"),
    "no namespace": lambda r: r["request"].pop("namespace"),
    "a subresource": lambda r: r["request"].update(subResource="status"),
    "dryRun as text": lambda r: r["request"].update(dryRun="false"),
    "no object": lambda r: r["request"].pop("object"),
    "object without metadata": lambda r: r["request"]["object"].pop("metadata"),
    "object elsewhere": lambda r: r["request"]["object"]["metadata"].update(namespace="kube-system"),
    "old object on a CREATE": lambda r: r["request"].update(oldObject={"metadata": {}}),
}


@pytest.mark.parametrize("breakage", BREAKAGES, ids=str)
def test_a_review_missing_what_the_api_server_always_sends_is_refused(breakage: str) -> None:
    review = review_for(MUTATE_VM)
    BREAKAGES[breakage](review)
    refusal = reviews.refusal(admission_config.MUTATE_VM, review)
    assert refusal is not None, breakage


def test_an_update_must_carry_its_old_object_in_the_same_namespace() -> None:
    update = review_for(MUTATE_VM, "UPDATE")
    del update["request"]["oldObject"]
    assert reviews.refusal(admission_config.MUTATE_VM, update) is not None
    moved = review_for(MUTATE_VM, "UPDATE")
    moved["request"]["oldObject"]["metadata"]["namespace"] = "elsewhere"
    assert reviews.refusal(admission_config.MUTATE_VM, moved) is not None


def test_a_refusal_answers_as_a_denied_review_with_the_request_uid() -> None:
    review = review_for(MUTATE_VM)
    answer = reviews.denied(review, reviews.Refusal("no", 404))
    assert answer["response"] == {"uid": "0a1b", "allowed": False, "status": {"code": 404, "message": "no"}}
    assert reviews.denied(["not", "a", "review"], reviews.Refusal("no"))["response"]["uid"] == ""


# ---- the namespaceSelector, as the handler applies it -------------------------------------------

DEFAULTS = MacPoolSettings().namespace_selector


def test_the_default_selector_leaves_out_kube_system_and_the_operators_namespace() -> None:
    assert namespace_in_scope("tenant", {}, DEFAULTS, ["vmo-system"])
    assert not namespace_in_scope("kube-system", {}, DEFAULTS, ["vmo-system"])
    assert not namespace_in_scope("vmo-system", {}, DEFAULTS, ["vmo-system"])


def test_the_opt_out_label_leaves_a_namespace_out() -> None:
    opted_out = {NAMESPACE_OPT_OUT_LABEL: NAMESPACE_OPT_OUT_VALUE}
    assert not namespace_in_scope("tenant", opted_out, DEFAULTS, [])
    assert namespace_in_scope("tenant", {NAMESPACE_OPT_OUT_LABEL: "enabled"}, DEFAULTS, [])


def test_a_profile_selector_picks_namespaces_by_label() -> None:
    only_vms = {
        "matchLabels": {"team": "vms"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["gold", "silver"]},
            {"key": "frozen", "operator": "DoesNotExist"},
            {"key": "owner", "operator": "Exists"},
        ],
    }
    labels = {"team": "vms", "tier": "gold", "owner": "ann"}
    assert namespace_in_scope("tenant", labels, only_vms, [])
    assert not namespace_in_scope("tenant", {**labels, "team": "web"}, only_vms, [])
    assert not namespace_in_scope("tenant", {**labels, "tier": "bronze"}, only_vms, [])
    assert not namespace_in_scope("tenant", {**labels, "frozen": ""}, only_vms, [])
    assert not namespace_in_scope("tenant", {"team": "vms", "tier": "gold"}, only_vms, [])
    assert not namespace_in_scope(
        "tenant", labels, {"matchExpressions": [{"key": "a", "operator": "Odd"}]}, []
    )


def test_an_allowance_echoes_the_uid_and_carries_the_patch_as_base64_json_and_the_warnings() -> None:
    review = review_for(MUTATE_VM)
    patch = [{"op": "add", "path": "/spec/x", "value": "02:00:00:00:00:01"}]
    answer = reviews.allowed(review, patch, ("MAC changes",))
    response = answer["response"]
    assert answer["apiVersion"] == "admission.k8s.io/v1"
    assert answer["kind"] == "AdmissionReview"
    assert response["uid"] == "0a1b"
    assert response["allowed"] is True
    assert response["warnings"] == ["MAC changes"]
    assert response["patchType"] == "JSONPatch"
    assert json.loads(base64.b64decode(response["patch"])) == patch


def test_an_allowance_without_changes_carries_no_patch_and_a_denial_its_code() -> None:
    review = review_for(MUTATE_VM)
    assert reviews.allowed(review)["response"] == {"uid": "0a1b", "allowed": True}
    refused = reviews.denied(review, reviews.Refusal("taken", 409))["response"]
    assert refused == {"uid": "0a1b", "allowed": False, "status": {"code": 409, "message": "taken"}}
