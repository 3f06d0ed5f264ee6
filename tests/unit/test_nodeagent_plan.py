"""The node agent's decisions: what it changes on a bridge and what it reports, from observed facts."""

from __future__ import annotations

from vmo_operator.nodeagent import plan
from vmo_operator.nodeagent.main import report

WANT = plan.Wanted("br0", allowed=frozenset({100, 200}))
UPLINK = plan.Port("eth1", None, frozenset({100, 300}))
VM_PORT = plan.Port("veth1234", "veth", frozenset())


def _kinds(actions: list[plan.Action]) -> list[tuple[str, str, list[int]]]:
    return [(a.kind, a.port, sorted(a.vids)) for a in actions]


def test_a_missing_bridge_is_only_reported_unless_creation_is_asked_for() -> None:
    assert plan.actions(WANT, None, {}) == ([], "")
    assert plan.finding(WANT, None) == plan.Finding("br0", exists=False)


def test_creation_enslaves_only_the_named_free_uplink() -> None:
    want = plan.Wanted("br0", create=True, uplink="eth1", vlan_filtering=False)
    todo, note = plan.actions(want, None, {"eth1": plan.Link("eth1"), "eth2": plan.Link("eth2")})
    assert _kinds(todo) == [("create-bridge", "", []), ("enslave", "eth1", [])]
    assert note == ""
    busy, note = plan.actions(want, None, {"eth1": plan.Link("eth1", master="bond0")})
    assert _kinds(busy) == [("create-bridge", "", [])]
    assert note == "uplink eth1 already belongs to bond0; left alone"
    assert plan.actions(want, None, {})[1] == "uplink eth1 not found"


def test_vlan_filtering_brings_the_uplink_to_exactly_the_allowed_set() -> None:
    bridge = plan.Bridge("br0", (UPLINK, VM_PORT), vlan_filtering=False)
    todo, _ = plan.actions(WANT, bridge, {})
    assert _kinds(todo) == [
        ("vlan-filtering-on", "", []),
        ("add-vlans", "eth1", [200]),
        ("remove-vlans", "eth1", [300]),
    ]


def test_host_vlans_go_on_the_uplink_and_the_bridge_itself() -> None:
    want = plan.Wanted("br0", allowed=frozenset({100}), host=frozenset({7}))
    bridge = plan.Bridge("br0", (plan.Port("eth1", None, frozenset({100})),), True, frozenset({8}))
    assert _kinds(plan.actions(want, bridge, {})[0]) == [
        ("add-vlans", "eth1", [7]),
        ("add-self-vlans", "", [7]),
        ("remove-self-vlans", "", [8]),
    ]


def test_nothing_is_done_when_filtering_is_off_or_unreadable() -> None:
    off = plan.Wanted("br0", vlan_filtering=False, allowed=frozenset({100}))
    assert plan.actions(off, plan.Bridge("br0", (UPLINK,)), {}) == ([], "")
    assert plan.actions(WANT, plan.Bridge("br0", (UPLINK,), vlan_filtering=None), {}) == ([], "")


def test_uplinks_are_the_named_port_else_every_port_that_is_not_a_vm_end() -> None:
    bridge = plan.Bridge("br0", (UPLINK, VM_PORT, plan.Port("bond0", "bond")))
    assert [p.name for p in plan.uplinks(WANT, bridge)] == ["eth1", "bond0"]
    named = plan.Wanted("br0", uplink="veth1234")
    assert [p.name for p in plan.uplinks(named, bridge)] == ["veth1234"]


def test_the_finding_names_allowed_vlans_the_uplink_does_not_carry() -> None:
    bridge = plan.Bridge("br0", (UPLINK, VM_PORT), vlan_filtering=True)
    found = plan.finding(WANT, bridge)
    assert found.as_json() == {
        "name": "br0",
        "exists": True,
        "created": False,
        "uplinks": ["eth1"],
        "vlanFilteringSupported": True,
        "vlanFiltering": True,
        "uplinkVlans": ["100", "300"],
        "filteredVlans": ["200"],
    }
    lonely = plan.finding(WANT, plan.Bridge("br0", (VM_PORT,), vlan_filtering=True))
    assert (lonely.uplinks, lonely.filtered_vlans) == ((), frozenset())


def test_the_report_is_ours_named_after_the_node() -> None:
    obj = report("node-1", "abc", [plan.Finding("br0", exists=False, messages=("x",))])
    assert obj["metadata"]["name"] == "node-1"
    assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "vmo-operator"
    assert obj["status"]["configHash"] == "abc"
    assert obj["status"]["bridges"][0]["message"] == "x"
