"""The generated CRD: structural, described, defaulted like the models, CEL present, files fresh."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from vmo_operator.api import crd, models

ROOT = Path(__file__).resolve().parents[2]
CRD = crd.build_crd()
ROOT_SCHEMA = CRD["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
SPEC = ROOT_SCHEMA["properties"]["spec"]
STATUS = ROOT_SCHEMA["properties"]["status"]


def walk(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from walk(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from walk(node["additionalProperties"], f"{path}{{}}")


def test_checked_in_files_are_fresh() -> None:
    stale = crd.stale_files(ROOT)
    assert not stale, f"regenerate with: .venv/bin/python -m vmo_operator.api.crd --write ({stale})"


def test_checked_in_crd_parses_to_the_same_object() -> None:
    on_disk = list(yaml.safe_load_all((ROOT / crd.CRD_PATH).read_text()))
    assert on_disk == [CRD]


def test_names_scope_and_subresources() -> None:
    spec = CRD["spec"]
    assert CRD["metadata"]["name"] == "vmoprofiles.vmo.dev"
    assert spec["scope"] == "Cluster"
    assert spec["names"] == {
        "kind": "VMOProfile",
        "listKind": "VMOProfileList",
        "plural": "vmoprofiles",
        "singular": "vmoprofile",
        "shortNames": ["vmop"],
    }
    version = spec["versions"][0]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}


def test_printer_columns() -> None:
    columns = {c["name"]: c["jsonPath"] for c in CRD["spec"]["versions"][0]["additionalPrinterColumns"]}
    assert columns == {
        "Phase": ".status.phase",
        "Available": '.status.conditions[?(@.type=="Available")].status',
        "Progressing": '.status.conditions[?(@.type=="Progressing")].status',
        "Degraded": '.status.conditions[?(@.type=="Degraded")].status',
        "KubeVirt": ".status.kubevirtVersion",
        "Age": ".metadata.creationTimestamp",
    }


FORBIDDEN_KEYS = {"$ref", "$defs", "anyOf", "allOf", "oneOf", "title", "uniqueItems", "const", "examples"}


def test_schema_is_structural() -> None:
    for path, node in walk(ROOT_SCHEMA):
        assert not FORBIDDEN_KEYS & set(node), path
        assert "type" in node or node.get("x-kubernetes-preserve-unknown-fields"), path
        assert node.get("additionalProperties") is not False, path
        assert not ("properties" in node and "additionalProperties" in node), path
        for bound in ("exclusiveMinimum", "exclusiveMaximum"):
            assert node.get(bound, True) is True, path


def test_every_spec_and_status_field_is_described() -> None:
    for root in (SPEC, STATUS):
        for path, node in walk(root):
            if path and not path.endswith(("[]", "{}")):
                assert node.get("description"), f"no description at {path}"


def test_status_tolerates_unknown_fields() -> None:
    assert STATUS["x-kubernetes-preserve-unknown-fields"] is True
    assert STATUS["properties"]["macPool"]["x-kubernetes-preserve-unknown-fields"] is True
    conditions = STATUS["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    assert set(conditions["items"]["required"]) >= {"type", "status"}
    assert set(conditions["items"]["properties"]) >= {
        "type",
        "status",
        "reason",
        "message",
        "lastTransitionTime",
        "observedGeneration",
    }


def test_networks_are_a_map_keyed_by_required_name() -> None:
    networks = SPEC["properties"]["multus"]["properties"]["networks"]
    assert networks["x-kubernetes-list-type"] == "map"
    assert networks["x-kubernetes-list-map-keys"] == ["name"]
    assert "name" in networks["items"]["required"]
    vlan = networks["items"]["properties"]["vlan"]
    assert (vlan["minimum"], vlan["maximum"]) == (1, 4094)
    assert networks["items"]["properties"]["name"]["pattern"] == models.DNS1123_LABEL


def rules(path: str) -> list[str]:
    node = dict(walk(ROOT_SCHEMA))[path]
    return [r["rule"] for r in node.get("x-kubernetes-validations", [])]


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        (".spec.kubevirt.featureGates", "!self.add.exists(g, g in self.remove)"),
        (".spec.kubevirt", "self.vmRolloutStrategy == 'LiveUpdate'"),
        (".spec.macPool.prefixes", "p.matches('^0[26aAeE]$')"),
        (".spec.macPool.prefixes", "upperAscii()"),
        (".spec.macPool.namespaceSelector.matchExpressions[]", "self.operator in ['In', 'NotIn']"),
        (".spec.kubevirt.version", "self.matches('^v1[.](4|5|6|7|8|9)[.](0|[1-9][0-9]*)$')"),
        ("", "size(self.metadata.name) <= 63"),
    ],
)
def test_cel_rules_present(path: str, fragment: str) -> None:
    assert any(fragment in rule for rule in rules(path)), rules(path)


def test_cel_rules_are_cost_bounded_and_escape_free() -> None:
    for path, node in walk(ROOT_SCHEMA):
        for rule in node.get("x-kubernetes-validations", []):
            # A backslash is an invalid escape inside a CEL string literal (e.g. "\.").
            assert "\\" not in rule["rule"], path
            assert rule["message"], path
            if path == "":
                continue  # the root rule only reads metadata.name, which the API server bounds
            for sub_path, sub in referenced(node, rule["rule"], path):
                if sub.get("type") == "array":
                    assert "maxItems" in sub, f"unbounded list under a CEL rule: {sub_path}"
                if sub.get("type") == "string":
                    assert "maxLength" in sub or "enum" in sub, (
                        f"unbounded string under a CEL rule: {sub_path}"
                    )


def referenced(node: dict[str, Any], rule: str, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """What a rule reads: a whole list or string `self`, or each `self.a.b` chain of an object."""
    if node.get("type") != "object":
        yield from walk(node, path)
    for chain in re.findall(r"self((?:\.\w+)+)", rule):
        target = node
        for name in chain.strip(".").split("."):
            target = target.get("items", target).get("properties", {}).get(name, {})
        yield from walk(target, path + chain)


def test_every_spec_list_is_bounded() -> None:
    for path, node in walk(SPEC):
        if node.get("type") == "array":
            assert "maxItems" in node, path


def apply_schema_defaults(schema: dict[str, Any], value: Any) -> Any:
    """What the API server does on write: fill absent fields with defaults, top-down."""
    if isinstance(value, dict):
        value = dict(value)
        for name, prop in schema.get("properties", {}).items():
            if name not in value and "default" in prop:
                value[name] = copy.deepcopy(prop["default"])
            if name in value:
                value[name] = apply_schema_defaults(prop, value[name])
        if isinstance(schema.get("additionalProperties"), dict):
            value = {k: apply_schema_defaults(schema["additionalProperties"], v) for k, v in value.items()}
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        value = [apply_schema_defaults(schema["items"], v) for v in value]
    return value


@pytest.mark.parametrize(
    "spec",
    [
        {},
        {"kubevirt": {"featureGates": {"add": ["CPUManager"]}}},
        {"multus": {"networks": [{"name": "vlan-20", "vlan": 20}]}},
        {"macPool": {"namespaceSelector": {"matchLabels": {"vms": "yes"}}}},
        {"snapshotController": {"volumeSnapshotClass": {"name": "csi", "driver": "csi.example.com"}}},
        {"snapshotController": {"volumeSnapshotClasses": [{"name": "csi", "driver": "csi.example.com"}]}},
        {"monitoring": {"ruleLabels": {"release": "prom"}, "thresholds": {"driftRepairsPerHour": 3}}},
    ],
)
def test_server_side_defaults_match_pydantic_defaults(spec: dict[str, Any]) -> None:
    defaulted = apply_schema_defaults(SPEC, spec)
    expected = models.parse_spec(spec).model_dump(mode="json", exclude_none=True)
    assert _drop_empty(defaulted) == _drop_empty(expected)
    # The defaulted object must itself be valid and mean the same thing.
    assert models.parse_spec(defaulted) == models.parse_spec(spec)


def _drop_empty(value: Any) -> Any:
    """Empty maps and lists without a schema default are absent on the server, empty in pydantic."""
    if isinstance(value, dict):
        pruned = {k: _drop_empty(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in ({}, [])}
    if isinstance(value, list):
        return [_drop_empty(v) for v in value]
    return value


def test_default_namespace_selector_is_spelled_out() -> None:
    # `{}` would select every namespace, including kube-system.
    selector = SPEC["properties"]["macPool"]["properties"]["namespaceSelector"]
    assert selector["default"]["matchExpressions"][0]["values"] == ["kube-system"]


def test_reference_lists_every_spec_field() -> None:
    text = crd.generated_files()[crd.REFERENCE_PATH]
    for path, _node in walk(SPEC, "spec"):
        if path == "spec" or path.endswith(("{}", "[]")):
            continue
        assert f"`{path}`" in text, path
    assert "a feature gate cannot be both added and removed" in text


def test_regex_patterns_are_re2_compatible() -> None:
    # No look-around or back-references: the API server evaluates patterns with Go's RE2.
    for path, node in walk(ROOT_SCHEMA):
        pattern = node.get("pattern")
        if pattern:
            assert not re.search(r"\(\?[=!<]|\\[1-9]", pattern), path
            re.compile(pattern)


def test_cli_check_mode_detects_staleness(tmp_path: Path) -> None:
    assert crd.main(["--root", str(tmp_path), "--check"]) == 1
    assert crd.main(["--root", str(tmp_path), "--write"]) == 0
    assert crd.main(["--root", str(tmp_path), "--check"]) == 0


def test_object_rules_guard_optional_fields_with_has() -> None:
    # The API server evaluates rules against `default: {}` too, before nested defaults exist, and
    # rejects the CRD if a rule reads a field that may be absent without has() (found on v1.36).
    for path, node in walk(ROOT_SCHEMA):
        if path == "" or node.get("type") != "object":
            continue
        required = set(node.get("required", []))
        for rule in node.get("x-kubernetes-validations", []):
            # A name followed by "(" is a macro on the map itself (self.all(k, ...)), not a field.
            for field in set(re.findall(r"self\.(\w+)\b(?!\()", rule["rule"])) - required:
                assert f"has(self.{field})" in rule["rule"], f"{path}: {rule['rule']}"
