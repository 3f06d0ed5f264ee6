"""Admission rules for VM and VMI interfaces, run against an in-memory reservation store."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest

from tests.unit.macpool_fakes import MemoryReservationStore
from tests.unit.macpool_objects import (
    KEY,
    T0,
    VM,
    VMI,
    admit,
    context,
    holder_of,
    macs_of,
    vm,
    vmi,
    vms_by_name,
)
from vmo_operator.macpool import grant as grants
from vmo_operator.macpool import mac as macs
from vmo_operator.macpool.allocator import ClaimResult
from vmo_operator.macpool.fanout import FanOut, Task, on_executor
from vmo_operator.macpool.reservation import CLAIM_ANNOTATION, Holder, Reservation
from vmo_operator.macpool.settings import ALLOW_DUPLICATE_ANNOTATION
from vmo_operator.macpool.vmshape import apply_patch
from vmo_operator.macpool.webhook import (
    AdmissionRequest,
    Allowed,
    Denied,
    mutate,
    plan,
    validate,
)


@pytest.fixture
def store() -> MemoryReservationStore:
    return MemoryReservationStore()


def deny(
    store: MemoryReservationStore,
    obj: dict[str, Any],
    *,
    op: str = "CREATE",
    old: dict[str, Any] | None = None,
    **settings: Any,
) -> Denied:
    decision = mutate(AdmissionRequest(op, VM, obj, old), context(store, **settings))
    assert isinstance(decision, Denied), decision
    return decision


# ---- assignment -----------------------------------------------------------------------------


def test_three_interfaces_get_three_distinct_valid_prefixed_reserved_macs(
    store: MemoryReservationStore,
) -> None:
    _, mutated = admit(store, vm(macs_by_iface={"a": None, "b": None, "c": None}))
    assigned = macs_of(mutated)
    parsed = [macs.parse(text) for text in assigned.values()]
    assert len(set(parsed)) == 3
    for text, mac in zip(assigned.values(), parsed, strict=True):
        assert text == str(mac)  # lowercase, colon-separated
        assert mac.first_octet in macs.DEFAULT_PREFIXES
        assert mac.cluster_part == (0x12, 0x34)
    stored = {r.mac: r for r in store.list()}
    assert set(stored) == set(parsed)
    assert all(r.state == "Pending" and r.holder.name == "vm-a" for r in stored.values())
    assert {r.interface for r in stored.values()} == {"a", "b", "c"}
    claim = mutated["metadata"]["annotations"][CLAIM_ANNOTATION]
    assert all(r.holder.claim == claim for r in stored.values())


def test_user_set_valid_mac_is_kept_and_normalised(store: MemoryReservationStore) -> None:
    _, mutated = admit(store, vm(macs_by_iface={"a": "52-54-00-AA-BB-CC"}))
    assert macs_of(mutated) == {"a": "52:54:00:aa:bb:cc"}
    assert store.get(macs.parse("52:54:00:aa:bb:cc")) is not None


def test_claim_annotation_is_added_next_to_existing_annotations(store: MemoryReservationStore) -> None:
    _, mutated = admit(store, vm(annotations={"team": "blue", "a/b": "c"}))
    annotations = mutated["metadata"]["annotations"]
    assert annotations["team"] == "blue"
    assert annotations[CLAIM_ANNOTATION] == "claim-0"


def test_object_without_interfaces_is_left_alone(store: MemoryReservationStore) -> None:
    decision, _ = admit(store, vm(macs_by_iface={}))
    assert decision.patch == ()
    assert store.list() == []


def test_disabled_pool_changes_nothing(store: MemoryReservationStore) -> None:
    decision, _ = admit(store, vm(), enabled=False)
    assert decision.patch == ()
    assert store.writes() == 0


def test_dry_run_reserves_nothing_but_shows_the_result(store: MemoryReservationStore) -> None:
    _, mutated = admit(store, vm(macs_by_iface={"a": None, "b": "02:aa:bb:cc:dd:ee"}), dry_run=True)
    assert isinstance(macs.check(macs_of(mutated)["a"]), macs.Mac)
    assert store.writes() == 0


def test_bare_vmi_gets_macs_but_the_vmi_a_vm_started_is_skipped(store: MemoryReservationStore) -> None:
    _, bare = admit(store, vmi(), kind=VMI)
    assert isinstance(macs.check(macs_of(bare, VMI)["default"]), macs.Mac)
    owner = vm("vm-b", uid="uid-b", macs_by_iface={"default": "02:aa:00:00:00:07"})
    started = vmi("vmi-b", owner="vm-b", owner_uid="uid-b", ifaces={"default": "02:aa:00:00:00:07"})
    decision = mutate(AdmissionRequest("CREATE", VMI, started), context(store, find_vm=vms_by_name(owner)))
    assert decision == Allowed()
    assert len(store.list()) == 1


def test_reinvocation_of_the_same_create_is_idempotent(store: MemoryReservationStore) -> None:
    _, first = admit(store, vm(macs_by_iface={"a": None, "b": None}))
    decision, second = admit(store, first)
    assert decision.patch == ()
    assert second == first
    assert len(store.list()) == 2


# ---- updates --------------------------------------------------------------------------------


def persisted(obj: dict[str, Any], uid: str = "uid-a") -> dict[str, Any]:
    copy = apply_patch(obj, [])
    copy["metadata"]["uid"] = uid
    return copy


def test_update_keeps_macs_and_a_hotplugged_nic_gets_one(store: MemoryReservationStore) -> None:
    _, created = admit(store, vm(macs_by_iface={"a": None, "b": None}))
    old = persisted(created)
    new = persisted(created)
    new["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"].append({"name": "hot", "bridge": {}})
    decision, updated = admit(store, new, op="UPDATE", old=old)
    before, after = macs_of(old), macs_of(updated)
    assert {k: after[k] for k in before} == before
    assert isinstance(macs.check(after["hot"]), macs.Mac)
    assert after["hot"] not in before.values()
    hot = store.stored(macs.parse(after["hot"]))
    assert hot.holder.uid == "uid-a"
    mac_ops = [op for op in decision.patch if op["path"].endswith("/macAddress")]
    assert [op["path"].rsplit("/", 2)[-2] for op in mac_ops] == ["2"]
    assert grant_of(updated)["m"] == {"hot": after["hot"]}  # what this update reserved


def test_update_that_drops_mac_fields_gets_them_restored(store: MemoryReservationStore) -> None:
    _, created = admit(store, vm(macs_by_iface={"a": None}))
    old = persisted(created)
    stripped = persisted(vm(macs_by_iface={"a": None}, annotations=dict(created["metadata"]["annotations"])))
    _, updated = admit(store, stripped, op="UPDATE", old=old)
    assert macs_of(updated) == macs_of(old)
    assert len(store.list()) == 1


def test_metadata_only_update_touches_no_reservation(store: MemoryReservationStore) -> None:
    _, created = admit(store, vm(macs_by_iface={"a": None, "b": None}))
    old, new = persisted(created), persisted(created)
    new["metadata"]["labels"] = {"x": "y"}
    before = sum(store.calls.values())
    decision, _ = admit(store, new, op="UPDATE", old=old)
    assert decision.patch == ()
    assert sum(store.calls.values()) == before


def test_explicit_mac_change_is_checked_and_warned(store: MemoryReservationStore) -> None:
    _, created = admit(store, vm(macs_by_iface={"a": None}))
    old, new = persisted(created), persisted(created)
    new["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"][0]["macAddress"] = "02:12:34:00:00:77"
    decision, updated = admit(store, new, op="UPDATE", old=old)
    assert macs_of(updated) == {"a": "02:12:34:00:00:77"}
    assert any("changes from" in w for w in decision.warnings)
    assert store.stored(macs.parse("02:12:34:00:00:77")).holder.uid == "uid-a"


# ---- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mac", "reason"),
    [
        ("01:00:5e:00:00:01", "multicast"),
        ("ff:ff:ff:ff:ff:ff", "broadcast"),
        ("02:00:00:00:00", "six"),
        ("zz:00:00:00:00:01", "six"),
        ("00:00:00:00:00:00", "all-zero"),
        ("02:00:00:00:00:00", "reserved"),
    ],
)
def test_invalid_user_macs_are_denied_naming_interface_and_reason(
    store: MemoryReservationStore, mac: str, reason: str
) -> None:
    denied = deny(store, vm(macs_by_iface={"good": None, "bad-nic": mac}))
    assert '"bad-nic"' in denied.message
    assert reason in denied.message
    assert store.list() == []


def test_duplicate_interface_names_are_denied(store: MemoryReservationStore) -> None:
    obj = vm(macs_by_iface={"a": None})
    obj["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"].append({"name": "a"})
    assert 'interface name "a"' in deny(store, obj).message


def test_non_object_interface_items_are_denied_not_mispatched(store: MemoryReservationStore) -> None:
    """Patch paths index the raw list: skipping a junk item would write a MAC into the wrong one."""
    obj = vm(macs_by_iface={"real": None})
    obj["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"].insert(0, "junk")
    assert deny(store, obj).message == "interface #0 is not an object"
    assert store.list() == []


def test_an_interface_name_too_long_to_record_is_denied(store: MemoryReservationStore) -> None:
    denied = deny(store, vm(macs_by_iface={"x" * 254: None}))
    assert "longer than 253 characters" in denied.message
    assert store.list() == []


def test_duplicate_macs_within_one_vm_are_denied_even_when_spelt_differently(
    store: MemoryReservationStore,
) -> None:
    denied = deny(store, vm(macs_by_iface={"a": "02:aa:bb:cc:dd:ee", "b": "02-AA-BB-CC-DD-EE"}))
    assert '"a" and "b"' in denied.message
    assert store.list() == []


def test_other_vms_mac_in_same_namespace_is_denied_naming_the_holder(store: MemoryReservationStore) -> None:
    holder_of(store, "owner-vm", "ns1", "02:aa:00:00:00:01")
    denied = deny(store, vm(macs_by_iface={"nic": "02:aa:00:00:00:01"}))
    assert denied.code == 409
    assert 'VirtualMachine "owner-vm" in this namespace' in denied.message
    assert '"nic"' in denied.message


def test_other_namespaces_holder_is_never_named(store: MemoryReservationStore) -> None:
    holder_of(store, "secret-vm", "tenant-b", "02:aa:00:00:00:01")
    denied = deny(store, vm(macs_by_iface={"nic": "02:aa:00:00:00:01"}))
    assert "elsewhere in the cluster" in denied.message
    assert "secret-vm" not in denied.message
    assert "tenant-b" not in denied.message


def test_warn_policy_admits_a_duplicate_with_a_warning_and_without_reserving(
    store: MemoryReservationStore,
) -> None:
    holder_of(store, "owner-vm", "ns1", "02:aa:00:00:00:01")
    decision, mutated = admit(store, vm(macs_by_iface={"nic": "02:aa:00:00:00:01"}), duplicate_policy="Warn")
    assert macs_of(mutated) == {"nic": "02:aa:00:00:00:01"}
    assert any("owner-vm" in w for w in decision.warnings)
    assert store.stored(macs.parse("02:aa:00:00:00:01")).holder.name == "owner-vm"


def test_opt_out_annotation_admits_a_duplicate_for_a_permitted_requester(
    store: MemoryReservationStore,
) -> None:
    holder_of(store, "owner-vm", "other", "02:aa:00:00:00:01")
    obj = vm(macs_by_iface={"nic": "02:aa:00:00:00:01"}, annotations={ALLOW_DUPLICATE_ANNOTATION: "true"})
    decision = mutate(AdmissionRequest("CREATE", VM, obj), context(store, may_use_duplicates=lambda *_: True))
    assert isinstance(decision, Allowed)
    assert any("elsewhere in the cluster" in w for w in decision.warnings)


def test_denial_after_partial_reservation_reverts_everything(store: MemoryReservationStore) -> None:
    holder_of(store, "owner-vm", "ns1", "02:aa:00:00:00:09")
    deny(store, vm(macs_by_iface={"first": "02:aa:00:00:00:01", "auto": None, "late": "02:aa:00:00:00:09"}))
    assert [str(r.mac) for r in store.list()] == ["02:aa:00:00:00:09"]


def test_recreating_a_vm_with_its_own_macs_is_allowed(store: MemoryReservationStore) -> None:
    holder_of(store, "vm-a", "ns1", "02:aa:00:00:00:01")
    _, mutated = admit(store, vm("vm-a", macs_by_iface={"nic": "02:aa:00:00:00:01"}))
    assert macs_of(mutated) == {"nic": "02:aa:00:00:00:01"}
    assert store.stored(macs.parse("02:aa:00:00:00:01")).state == "Pending"


# ---- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize("keys", [(), (KEY,)], ids=["without-grants", "with-grants"])
def test_validation_accepts_what_mutation_reserved_without_writing(
    store: MemoryReservationStore, keys: tuple[bytes, ...]
) -> None:
    _, mutated = admit(store, vm(name="", macs_by_iface={"a": None, "b": "02:aa:00:00:00:05"}))
    final = persisted(mutated, uid="uid-new")
    final["metadata"]["name"] = "vm-x7k2p"  # generateName resolved after mutation
    writes = store.writes()
    decision = validate(AdmissionRequest("CREATE", VM, final), context(store, keys=keys))
    assert isinstance(decision, Allowed)
    assert store.writes() == writes


def test_validation_reserves_a_mac_another_webhook_added_after_us(store: MemoryReservationStore) -> None:
    obj = persisted(vm(macs_by_iface={"a": "02:aa:00:00:00:05"}, annotations={CLAIM_ANNOTATION: "c1"}))
    decision = validate(AdmissionRequest("CREATE", VM, obj), context(store))
    assert isinstance(decision, Allowed)
    assert store.stored(macs.parse("02:aa:00:00:00:05")).holder.claim == "c1"


def test_validation_denies_a_mac_held_elsewhere(store: MemoryReservationStore) -> None:
    holder_of(store, "owner-vm", "ns2", "02:aa:00:00:00:05")
    obj = persisted(vm(macs_by_iface={"a": "02:aa:00:00:00:05"}))
    decision = validate(AdmissionRequest("CREATE", VM, obj), context(store))
    assert isinstance(decision, Denied)
    assert "elsewhere" in decision.message


def test_plan_is_pure_and_describes_each_interface() -> None:
    old = persisted(vm(macs_by_iface={"kept": "02:aa:00:00:00:01", "dropped": "02:aa:00:00:00:02"}))
    new = persisted(
        vm(
            macs_by_iface={
                "kept": "02:aa:00:00:00:01",
                "dropped": None,
                "new": None,
                "mine": "02:aa:00:00:00:03",
            }
        )
    )
    new["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"].append(
        {"name": "gone", "state": "absent"}
    )
    result = plan(AdmissionRequest("UPDATE", VM, new, old))
    assert not isinstance(result, Denied)
    assert [(s.name, s.origin) for s in result.slots] == [
        ("kept", "kept"),
        ("dropped", "restored"),
        ("new", "allocate"),
        ("mine", "user"),
    ]


def test_update_of_a_vm_with_a_legacy_invalid_mac_is_not_blocked(store: MemoryReservationStore) -> None:
    legacy = persisted(vm(macs_by_iface={"old": "01:00:5e:00:00:01"}))
    new = persisted(vm(macs_by_iface={"old": "01:00:5e:00:00:01"}))
    new["metadata"]["labels"] = {"touched": "yes"}
    decision, _ = admit(store, new, op="UPDATE", old=legacy)
    assert decision.patch == ()
    # Changing it to another invalid value is still refused.
    changed = persisted(vm(macs_by_iface={"old": "01:00:5e:00:00:02"}))
    assert "multicast" in deny(store, changed, op="UPDATE", old=legacy).message


# ---- grants: validation without reading reservations -----------------------------------------


def grant_of(obj: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(obj["metadata"]["annotations"][grants.GRANT_ANNOTATION]))


def test_mutation_grants_exactly_the_macs_it_reserved_and_validation_reads_nothing(
    store: MemoryReservationStore,
) -> None:
    _, mutated = admit(store, vm(name="", macs_by_iface={"a": None, "b": "02:aa:00:00:00:05"}))
    assert grant_of(mutated)["m"] == macs_of(mutated)
    final = persisted(mutated, uid="uid-new")
    final["metadata"]["name"] = "vm-x7k2p"
    calls = sum(store.calls.values())
    decision = validate(AdmissionRequest("CREATE", VM, final), context(store))
    assert decision == Allowed()
    assert sum(store.calls.values()) == calls  # no store call at all


def test_a_mac_changed_after_mutation_is_checked_and_the_rest_is_not(store: MemoryReservationStore) -> None:
    _, mutated = admit(store, vm(macs_by_iface={"a": None, "b": None}))
    final = persisted(mutated, uid="uid-new")
    interfaces = final["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"]
    interfaces[1]["macAddress"] = "02:aa:00:00:00:07"  # another mutating webhook's doing
    store.calls.clear()
    decision = validate(AdmissionRequest("CREATE", VM, final), context(store))
    assert isinstance(decision, Allowed)
    assert store.calls == {"get": 1, "create": 1}  # only "b"'s new MAC was looked at (and reserved)
    assert store.stored(macs.parse("02:aa:00:00:00:07")).holder.claim == macs_of_claim(final)


def macs_of_claim(obj: dict[str, Any]) -> str:
    return str(obj["metadata"]["annotations"][CLAIM_ANNOTATION])


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda ctx_kw: ctx_kw | {"keys": (grants.derive_key(b"rotated"),)}, id="unknown-key"),
        pytest.param(lambda ctx_kw: ctx_kw | {"now": T0 + timedelta(minutes=10)}, id="expired"),
    ],
)
def test_a_grant_that_does_not_verify_means_the_full_check(store: MemoryReservationStore, spoil: Any) -> None:
    _, mutated = admit(store, vm(macs_by_iface={"a": None, "b": None}))
    final = persisted(mutated, uid="uid-new")
    store.calls.clear()
    decision = validate(AdmissionRequest("CREATE", VM, final), context(store, **spoil({})))
    assert isinstance(decision, Allowed)
    assert store.calls["get"] == 2


def copy_claim_and_grant(source: dict[str, Any], target: dict[str, Any]) -> dict[str, Any]:
    annotations = target["metadata"].setdefault("annotations", {})
    for key in (CLAIM_ANNOTATION, grants.GRANT_ANNOTATION):
        annotations[key] = source["metadata"]["annotations"][key]
    return target


def test_a_copied_claim_and_grant_do_not_get_another_vms_mac_past_mutation(
    store: MemoryReservationStore,
) -> None:
    _, vm_a = admit(store, vm("vm-a", macs_by_iface={"nic": None}))
    mac_a = macs_of(vm_a)["nic"]
    thief = copy_claim_and_grant(vm_a, vm("vm-b", macs_by_iface={"nic": mac_a}))
    denied = deny(store, thief)
    assert denied.code == 409
    assert 'VirtualMachine "vm-a"' in denied.message


def test_a_copied_grant_is_replaced_when_duplicates_are_allowed_so_validation_still_warns(
    store: MemoryReservationStore,
) -> None:
    _, vm_a = admit(store, vm("vm-a", macs_by_iface={"nic": None}))
    mac_a = macs_of(vm_a)["nic"]
    thief = copy_claim_and_grant(vm_a, vm("vm-b", macs_by_iface={"nic": mac_a, "own": None}))
    decision, mutated = admit(store, thief, duplicate_policy="Warn")
    assert any("already used" in w for w in decision.warnings)
    assert grant_of(mutated)["m"] == {"own": macs_of(mutated)["own"]}  # not A's MAC
    checked = validate(
        AdmissionRequest("CREATE", VM, persisted(mutated, "uid-b")), context(store, duplicate_policy="Warn")
    )
    assert isinstance(checked, Allowed)
    assert any("already used" in w for w in checked.warnings)
    assert store.stored(macs.parse(mac_a)).holder.name == "vm-a"


def test_a_copied_grant_is_removed_from_a_create_mutation_does_not_grant(
    store: MemoryReservationStore,
) -> None:
    _, vm_a = admit(store, vm("vm-a", macs_by_iface={"nic": None}))
    decision, mutated = admit(store, copy_claim_and_grant(vm_a, vm("vm-b", macs_by_iface={})))
    assert grants.GRANT_ANNOTATION not in mutated["metadata"]["annotations"]
    assert [op["op"] for op in decision.patch] == ["remove"]


def test_a_copied_grant_without_mutation_never_gets_a_held_mac_validated(
    store: MemoryReservationStore,
) -> None:
    """Defence in depth, should an object ever reach validation without our mutation."""
    _, vm_a = admit(store, vm("vm-a", macs_by_iface={"nic": None}))
    persisted_a = persisted(vm_a, uid="uid-a")
    store.put(
        store.stored(macs.parse(macs_of(vm_a)["nic"])).committed_to(
            Holder(VM, "ns1", "vm-a", "uid-a", macs_of_claim(vm_a)), "nic", T0
        )
    )
    thief = copy_claim_and_grant(persisted_a, vm("vm-b", macs_by_iface={"nic": macs_of(vm_a)["nic"]}))
    # Later than the grant's lifetime: the copy is stale, so the full check runs and refuses.
    later = context(store, now=T0 + timedelta(seconds=grants.TTL_SECONDS + 1))
    assert isinstance(validate(AdmissionRequest("CREATE", VM, persisted(thief, "uid-b")), later), Denied)
    # As an UPDATE of another existing object, the grant is bound to A's (empty) CREATE identity.
    old_b = persisted(vm("vm-b", macs_by_iface={"nic": None}), "uid-b")
    update = AdmissionRequest("UPDATE", VM, persisted(thief, "uid-b"), old_b)
    assert isinstance(validate(update, context(store)), Denied)


def test_reinvocation_keeps_the_grant_and_dry_run_leaves_reservations_alone(
    store: MemoryReservationStore,
) -> None:
    _, first = admit(store, vm(macs_by_iface={"a": None}))
    decision, _ = admit(store, first)
    assert decision.patch == ()
    _, dry = admit(store, vm("vm-dry", macs_by_iface={"a": None}), dry_run=True)
    assert store.get(macs.parse(macs_of(dry)["a"])) is None


# ---- concurrency: one round trip for all interfaces --------------------------------------------


class MeetingStore(MemoryReservationStore):
    """Every create waits until `parties` creates are in flight at once: sequential calls fail."""

    def __init__(self, parties: int) -> None:
        super().__init__()
        self.barrier = threading.Barrier(parties, timeout=10)

    def create(self, reservation: Reservation) -> Reservation | None:
        self.barrier.wait()
        return super().create(reservation)


def threads(pool: ThreadPoolExecutor) -> FanOut:
    def fan_out(tasks: Sequence[Task], **_deadline_and_undo: Any) -> list[ClaimResult | BaseException]:
        futures = [pool.submit(task) for task in tasks]
        return [f.exception() or f.result() for f in futures]

    return fan_out


def test_all_interfaces_are_reserved_concurrently() -> None:
    store = MeetingStore(parties=3)
    with ThreadPoolExecutor(4) as pool:
        obj = vm(macs_by_iface={"a": None, "b": "02:aa:00:00:00:05", "c": None})
        decision = mutate(AdmissionRequest("CREATE", VM, obj), context(store, fan_out=threads(pool)))
    assert isinstance(decision, Allowed)
    assert len(store.list()) == 3
    assert len({r.mac for r in store.list()}) == 3


def test_concurrent_reservation_is_still_all_or_nothing(store: MemoryReservationStore) -> None:
    holder_of(store, "owner-vm", "ns1", "02:aa:00:00:00:09")
    with ThreadPoolExecutor(4) as pool:
        obj = vm(macs_by_iface={"first": "02:aa:00:00:00:01", "auto": None, "late": "02:aa:00:00:00:09"})
        decision = mutate(AdmissionRequest("CREATE", VM, obj), context(store, fan_out=threads(pool)))
    assert isinstance(decision, Denied)
    assert decision.code == 409
    assert [str(r.mac) for r in store.list()] == ["02:aa:00:00:00:09"]


def test_the_executor_fan_out_runs_the_first_task_here_and_the_rest_on_the_pool() -> None:
    store = MeetingStore(parties=3)  # three creates in flight at once, so all three ran together
    with ThreadPoolExecutor(2) as pool:
        obj = vm(macs_by_iface={"a": None, "b": "02:aa:00:00:00:05", "c": None})
        decision = mutate(AdmissionRequest("CREATE", VM, obj), context(store, fan_out=on_executor(pool)))
    assert isinstance(decision, Allowed)
    assert len({r.mac for r in store.list()}) == 3


class FailingStore(MemoryReservationStore):
    def get(self, mac: macs.Mac) -> Reservation | None:
        if str(mac) == "02:aa:00:00:00:02":
            raise ConnectionError("API server unreachable")
        return super().get(mac)


def test_a_transport_error_on_one_interface_reverts_the_others_and_propagates() -> None:
    store = FailingStore()
    obj = vm(macs_by_iface={"a": "02:aa:00:00:00:01", "b": "02:aa:00:00:00:02", "c": None})
    with pytest.raises(ConnectionError):
        mutate(AdmissionRequest("CREATE", VM, obj), context(store))
    assert store.list() == []
    with ThreadPoolExecutor(2) as pool, pytest.raises(ConnectionError):
        mutate(AdmissionRequest("CREATE", VM, obj), context(store, fan_out=on_executor(pool)))
    assert store.list() == []
