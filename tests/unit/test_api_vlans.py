"""VLAN lists: the notation, the bridge settings in the profile and their defaults."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import ValidationError

from vmo_operator.api import models, vlans


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        ([], set()),
        (["10"], {10}),
        (["10", "20", "25-27"], {10, 20, 25, 26, 27}),
        (["1", "4094"], {1, 4094}),
        (["30-31", "10"], {10, 30, 31}),
    ],
)
def test_parse(entries: list[str], expected: set[int]) -> None:
    assert vlans.parse(entries) == expected


@pytest.mark.parametrize(
    ("entries", "problem"),
    [
        (["10", "5-12"], "overlap"),
        (["10", "10"], "overlap"),
        (["0"], "not a VLAN id"),
        (["4095"], "outside 1-4094"),
        (["100-5000"], "outside 1-4094"),
        (["20-10"], "reversed"),
        (["10,20"], "not a VLAN id"),
        ([" 10"], "not a VLAN id"),
        (["010"], "not a VLAN id"),
    ],
)
def test_parse_rejects(entries: list[str], problem: str) -> None:
    with pytest.raises(vlans.VlanListError, match=problem):
        vlans.parse(entries)


@pytest.mark.parametrize(
    ("ids", "entries"),
    [(set(), []), ({10}, ["10"]), ({10, 11, 12, 20}, ["10-12", "20"]), ({1, 3, 4094}, ["1", "3", "4094"])],
)
def test_compress_round_trips(ids: set[int], entries: list[str]) -> None:
    assert vlans.compress(ids) == entries
    assert vlans.parse(entries) == ids


def test_entry_pattern_matches_the_parser() -> None:
    pattern = re.compile(vlans.ENTRY)
    for text in ["1", "4094", "25-100", "9999"]:
        assert pattern.match(text)
    for text in ["0", "-1", "1-", "a", "1,2", "01", "12345"]:
        assert not pattern.match(text)


def _multus(**multus: Any) -> models.MultusSpec:
    return models.parse_spec({"multus": multus}).multus


def test_allowed_vlans_default_to_the_networks_on_the_bridge() -> None:
    spec = _multus(
        networks=[
            {"name": "a", "vlan": 100},
            {"name": "b", "vlan": 200},
            {"name": "c", "vlan": 300, "bridge": "br1"},
        ]
    )
    bridges = spec.bridge_settings()
    assert [b.name for b in bridges] == ["br0", "br1"]
    assert spec.allowed_vlans(bridges[0]) == {100, 200}
    assert spec.allowed_vlans(bridges[1]) == {300}
    assert (bridges[0].vlan_filtering, bridges[0].host_vlans, bridges[0].create) == (True, None, False)


def test_an_explicit_list_replaces_the_default_and_a_bridge_needs_no_network() -> None:
    spec = _multus(
        networks=[{"name": "a", "vlan": 100}],
        bridges=[{"name": "br0", "allowedVlans": ["10", "20-22"]}, {"name": "br9", "hostVlans": ["5"]}],
    )
    br0, br9 = spec.bridge_settings()
    assert spec.allowed_vlans(br0) == {10, 20, 21, 22}
    assert (br9.name, spec.allowed_vlans(br9), br9.host_vlans) == ("br9", frozenset(), ["5"])


@pytest.mark.parametrize(
    ("bridge", "loc", "problem"),
    [
        ({"allowedVlans": ["10", "5-12"]}, ("allowedVlans",), "overlap"),
        ({"allowedVlans": ["4095"]}, ("allowedVlans",), "outside 1-4094"),
        ({"hostVlans": ["1-"]}, ("hostVlans", 0), "should match pattern"),
        ({"allowedVlans": [10]}, ("allowedVlans", 0), "valid string"),
        ({"create": True}, (), "create needs the uplink NIC"),
    ],
)
def test_bad_bridges_are_refused_naming_the_field(
    bridge: dict[str, Any], loc: tuple[Any, ...], problem: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        _multus(bridges=[{"name": "br0", **bridge}])
    error = refused.value.errors()[0]
    assert tuple(error["loc"]) == ("multus", "bridges", 0, *loc)
    assert problem in error["msg"]


def test_duplicate_bridges_are_refused() -> None:
    with pytest.raises(ValidationError, match="duplicate bridge name 'br0'"):
        _multus(bridges=[{"name": "br0"}, {"name": "br0"}])


def test_bridge_creation_is_off_by_default_and_names_its_uplink() -> None:
    (bridge,) = _multus(bridges=[{"name": "br0", "create": True, "uplink": "eth1"}]).bridge_settings()
    assert (bridge.create, bridge.uplink) == (True, "eth1")
    assert _multus().cni_plugins.bin_dir == "/opt/cni/bin"
