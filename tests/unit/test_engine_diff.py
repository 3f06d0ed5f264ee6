"""The no-op decision that keeps idle resyncs free of writes."""

from __future__ import annotations

from typing import Any

import pytest

from vmo_operator.engine.diff import HASH_ANNOTATION, desired_hash, drifted, needs_apply, stamp
from vmo_operator.kube.objects import contains

DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "virt-operator", "namespace": "kubevirt", "labels": {"app": "virt-operator"}},
    "spec": {
        "replicas": 2,
        "template": {
            "spec": {"containers": [{"name": "op", "image": "quay.io/x:v1"}], "securityContext": {}}
        },
    },
}


def live_copy(obj: dict[str, Any], **server_additions: Any) -> dict[str, Any]:
    """What the API server returns: our fields plus defaults and metadata it adds."""
    import copy

    live = copy.deepcopy(obj)
    live["metadata"].update({"uid": "u1", "resourceVersion": "7", "generation": 1})
    live["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent"
    live["spec"]["template"]["spec"].pop("securityContext")  # the server drops empty structs
    live["status"] = {"readyReplicas": 2}
    live.update(server_additions)
    return live


def test_stamp_adds_a_hash_that_ignores_itself() -> None:
    stamped = stamp(DEPLOYMENT)
    assert stamped["metadata"]["annotations"][HASH_ANNOTATION] == desired_hash(DEPLOYMENT)
    assert desired_hash(stamped) == desired_hash(DEPLOYMENT)
    assert "annotations" not in DEPLOYMENT["metadata"], "stamp must not mutate its input"


def test_a_live_object_with_server_defaults_needs_no_apply() -> None:
    stamped = stamp(DEPLOYMENT)
    assert not needs_apply(stamped, live_copy(stamped))


@pytest.mark.parametrize(
    ("mutate", "expect_apply", "expect_drift"),
    [
        (lambda live: live["spec"].update(replicas=5), True, True),
        (lambda live: live["metadata"]["labels"].pop("app"), True, True),
        (lambda live: live["spec"]["template"]["spec"]["containers"].append({"name": "extra"}), True, True),
        (lambda live: live["metadata"]["annotations"].update({HASH_ANNOTATION: "old"}), True, False),
        (lambda live: live["metadata"]["labels"].update({"someone-else": "x"}), False, False),
    ],
    ids=["field-edited", "label-removed", "list-grew", "rendered-from-other-input", "foreign-label-added"],
)
def test_edits_are_classified(mutate: Any, expect_apply: bool, expect_drift: bool) -> None:
    stamped = stamp(DEPLOYMENT)
    live = live_copy(stamped)
    mutate(live)
    assert needs_apply(stamped, live) is expect_apply
    assert drifted(stamped, live) is expect_drift


def test_missing_object_needs_apply_but_is_not_drift() -> None:
    stamped = stamp(DEPLOYMENT)
    assert needs_apply(stamped, None)
    assert not drifted(stamped, None)


@pytest.mark.parametrize(
    ("desired", "live", "expected"),
    [
        ({"a": 1}, {"a": 1.0}, True),
        ({"a": True}, {"a": 1}, False),
        ({"a": []}, {}, True),
        ({"a": [1, 2]}, {"a": [1]}, False),
        ({"a": "x"}, {"a": "x", "b": 2}, True),
        ({"a": {"b": None}}, {"a": {}}, True),
    ],
)
def test_contains(desired: Any, live: Any, expected: bool) -> None:
    assert contains(desired, live) is expected
