"""The checked-MACs mark: the mutating call writes it only over MACs it confirmed, on creates.

The API server's side (the validating webhook's condition) is tested against a real API server
in tests/integration/test_macpool_checked_macs.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.macpool_fakes import MemoryReservationStore
from tests.unit.macpool_objects import admit, holder_of, macs_of, vm
from vmo_operator.macpool import checked_macs

MARK = checked_macs.ANNOTATION


@pytest.fixture
def store() -> MemoryReservationStore:
    return MemoryReservationStore()


def mark_of(obj: dict[str, Any]) -> str | None:
    return (obj["metadata"].get("annotations") or {}).get(MARK)


def test_a_create_is_marked_with_every_interface_and_its_final_mac_in_order(
    store: MemoryReservationStore,
) -> None:
    _, result = admit(store, vm(macs_by_iface={"b": None, "a": "02-AA-00-00-00-07"}))
    final = macs_of(result)
    assert final["a"] == "02:aa:00:00:00:07"  # the user's MAC as the patch rewrites it
    assert mark_of(result) == f"b={final['b']},a={final['a']}"


def test_a_mark_the_user_wrote_is_replaced_by_what_the_call_checked(store: MemoryReservationStore) -> None:
    forged = "nic=02:aa:00:00:00:01"
    _, result = admit(store, vm(macs_by_iface={"nic": None}, annotations={MARK: forged}))
    assert mark_of(result) == f"nic={macs_of(result)['nic']}"
    assert mark_of(result) != forged


def test_a_permitted_duplicate_is_not_marked_so_the_validating_call_still_happens(
    store: MemoryReservationStore,
) -> None:
    holder_of(store, "owner-vm", "ns1", "02:aa:00:00:00:01")
    obj = vm(macs_by_iface={"nic": "02:aa:00:00:00:01"}, annotations={MARK: "nic=02:aa:00:00:00:01"})
    decision, result = admit(store, obj, duplicate_policy="Warn")
    assert any("owner-vm" in warning for warning in decision.warnings)
    assert mark_of(result) is None


def test_a_dry_run_is_not_marked(store: MemoryReservationStore) -> None:
    _, result = admit(store, vm(macs_by_iface={"nic": None}, annotations={MARK: "nic="}), dry_run=True)
    assert mark_of(result) is None


def test_an_object_without_interfaces_loses_a_mark_it_brought(store: MemoryReservationStore) -> None:
    _, result = admit(store, vm(macs_by_iface={}, annotations={MARK: ""}))
    assert mark_of(result) is None


def test_an_interface_being_unplugged_is_listed_without_a_mac(store: MemoryReservationStore) -> None:
    obj = vm(macs_by_iface={"nic": None})
    obj["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"].append(
        {"name": "gone", "state": "absent"}
    )
    _, result = admit(store, obj)
    assert mark_of(result) == f"nic={macs_of(result)['nic']},gone="


def test_a_name_holding_a_separator_is_not_marked(store: MemoryReservationStore) -> None:
    _, result = admit(store, vm(macs_by_iface={"a=b": None}))
    assert macs_of(result)["a=b"]
    assert mark_of(result) is None


def test_an_update_leaves_a_stored_mark_alone(store: MemoryReservationStore) -> None:
    _, created = admit(store, vm(macs_by_iface={"nic": None}))
    stored = created | {"metadata": created["metadata"] | {"uid": "uid-a"}}
    changed = stored | {"metadata": stored["metadata"] | {"labels": {"team": "blue"}}}
    decision, result = admit(store, changed, op="UPDATE", old=stored)
    assert not any(MARK.replace("/", "~1") in str(op.get("path")) for op in decision.patch)
    assert mark_of(result) == mark_of(created)


def test_the_value_is_none_for_no_interfaces_or_an_ambiguous_name() -> None:
    assert checked_macs.value([]) is None
    assert checked_macs.value([("a,b", "")]) is None
    assert checked_macs.value([("a", "02:00:00:00:00:01"), ("b", "")]) == "a=02:00:00:00:00:01,b="
