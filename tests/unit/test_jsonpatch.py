"""The RFC 6902 applier behind spec.<operand>.overrides: add, remove, replace, test; atomic."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from vmo_operator.api import jsonpatch

DOC: dict[str, Any] = {"spec": {"a": 1, "list": [1, 2, 3], "m": {"x/y": True, "t~": None}}}


@pytest.mark.parametrize(
    ("ops", "expected"),
    [
        ([{"op": "add", "path": "/spec/b", "value": {"c": [1]}}], {**DOC["spec"], "b": {"c": [1]}}),
        ([{"op": "add", "path": "/spec/a", "value": 5}], {**DOC["spec"], "a": 5}),
        ([{"op": "add", "path": "/spec/list/0", "value": 0}], {**DOC["spec"], "list": [0, 1, 2, 3]}),
        ([{"op": "add", "path": "/spec/list/3", "value": 4}], {**DOC["spec"], "list": [1, 2, 3, 4]}),
        ([{"op": "add", "path": "/spec/list/-", "value": 9}], {**DOC["spec"], "list": [1, 2, 3, 9]}),
        ([{"op": "remove", "path": "/spec/a"}], {"list": [1, 2, 3], "m": DOC["spec"]["m"]}),
        ([{"op": "remove", "path": "/spec/list/1"}], {**DOC["spec"], "list": [1, 3]}),
        (
            [{"op": "replace", "path": "/spec/m/x~1y", "value": False}],
            {**DOC["spec"], "m": {"x/y": False, "t~": None}},
        ),
        (
            [{"op": "replace", "path": "/spec/m/t~0", "value": 1}],
            {**DOC["spec"], "m": {"x/y": True, "t~": 1}},
        ),
        ([{"op": "test", "path": "/spec/list", "value": [1, 2, 3]}], DOC["spec"]),
        ([{"op": "test", "path": "/spec/a", "value": 1.0}], DOC["spec"]),
        (
            [{"op": "add", "path": "/spec/n", "value": {}}, {"op": "add", "path": "/spec/n/k", "value": "v"}],
            {**DOC["spec"], "n": {"k": "v"}},
        ),
    ],
)
def test_operations(ops: list[dict[str, Any]], expected: dict[str, Any]) -> None:
    before = copy.deepcopy(DOC)
    assert jsonpatch.apply(DOC, ops) == {"spec": expected}
    assert before == DOC  # the input is never changed


def test_the_value_is_copied_not_shared() -> None:
    value: dict[str, Any] = {"k": []}
    out = jsonpatch.apply(DOC, [{"op": "add", "path": "/spec/v", "value": value}])
    out["spec"]["v"]["k"].append(1)
    assert value == {"k": []}


@pytest.mark.parametrize(
    ("ops", "index", "words"),
    [
        ([{"op": "remove", "path": "/spec/missing"}], 0, "'missing' does not exist"),
        ([{"op": "replace", "path": "/spec/missing", "value": 1}], 0, "does not exist"),
        ([{"op": "add", "path": "/spec/no/such", "value": 1}], 0, "'no' does not exist"),
        ([{"op": "remove", "path": "/spec/list/3"}], 0, "out of range"),
        ([{"op": "add", "path": "/spec/list/4", "value": 1}], 0, "out of range"),
        ([{"op": "remove", "path": "/spec/list/-"}], 0, "not an array index"),
        ([{"op": "add", "path": "/spec/list/01", "value": 1}], 0, "not an array index"),
        ([{"op": "add", "path": "/spec/a/b", "value": 1}], 0, "not an object or array"),
        ([{"op": "test", "path": "/spec/a", "value": 2}], 0, "test failed"),
        ([{"op": "test", "path": "/spec/m/x~1y", "value": 1}], 0, "test failed"),  # true is not 1
        (
            [{"op": "test", "path": "/spec/a", "value": 1}, {"op": "move", "path": "/spec/a"}],
            1,
            "unsupported",
        ),
        ([{"op": "add", "path": "/spec/a"}], 0, "no value"),
        ([{"op": "add", "path": "spec", "value": 1}], 0, "starts with /"),
    ],
)
def test_failures_name_the_operation_and_apply_nothing(
    ops: list[dict[str, Any]], index: int, words: str
) -> None:
    with pytest.raises(jsonpatch.PatchError) as failed:
        jsonpatch.apply(DOC, [{"op": "add", "path": "/spec/first", "value": 1}, *ops])
    assert failed.value.index == index + 1
    assert failed.value.path == ops[index]["path"]
    assert str(failed.value).startswith(f"override {index + 1} ({ops[index]['op']} {ops[index]['path']}): ")
    assert words in str(failed.value)
    assert "first" not in DOC["spec"]


def test_whole_document() -> None:
    assert jsonpatch.apply(DOC, [{"op": "replace", "path": "", "value": {"x": 1}}]) == {"x": 1}
    with pytest.raises(jsonpatch.PatchError):
        jsonpatch.apply(DOC, [{"op": "remove", "path": ""}])


def test_pointer_unescapes_tilde_one_before_tilde_zero() -> None:
    assert jsonpatch.pointer("/a~01/b~1c") == ["a~1", "b/c"]
