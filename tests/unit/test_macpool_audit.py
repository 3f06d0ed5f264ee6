"""The audit round: collisions among existing objects, reconcile, pool usage and status."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from tests.unit.macpool_fakes import MemoryReservationStore
from vmo_operator.macpool import audit
from vmo_operator.macpool import mac as macs
from vmo_operator.macpool.audit import collision_message, pool_usage, run_audit, status_of
from vmo_operator.macpool.reconcile import Carrier, Collision
from vmo_operator.macpool.reservation import Holder, Reservation

T0 = datetime(2026, 1, 1, tzinfo=UTC)
LAYOUT = macs.PoolLayout((0x02, 0x0A), (0x12, 0x34))
VM = "VirtualMachine"


def vm(name: str, ns: str, uid: str, mac: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": ns, "uid": uid},
        "spec": {
            "template": {"spec": {"domain": {"devices": {"interfaces": [{"name": "n", "macAddress": mac}]}}}}
        },
    }


class Objects:
    def __init__(self, vms: list[dict[str, Any]]) -> None:
        self.vms = vms

    def list_objects(self, kind: str) -> list[Mapping[str, Any]]:
        return list(self.vms) if kind == VM else []


def test_audit_finds_duplicates_created_behind_the_webhooks_back_and_adopts_them() -> None:
    store = MemoryReservationStore()
    objects = Objects(
        [
            vm("a", "ns1", "u1", "02:12:34:00:00:01"),
            vm("b", "ns2", "u2", "02:12:34:00:00:01"),
            vm("c", "ns1", "u3", "0a:12:34:00:00:02"),
        ]
    )
    report = run_audit(store, objects, layout=LAYOUT, grace_seconds=300, clock=lambda: T0)
    assert report.objects == 3
    assert [str(c.mac) for c in report.collisions] == ["02:12:34:00:00:01"]
    assert report.execution.applied == {"Adopt": 2}
    assert report.usage.allocated == 2
    assert report.usage.free_per_prefix == {"02": 2**24 - 3, "0A": 2**24 - 3}
    status = status_of(report, webhook_ready=True)
    assert status["collisions"] == 1
    assert status["collidingMACs"] == [
        {
            "mac": "02:12:34:00:00:01",
            "carriers": ["VirtualMachine ns1/a", "VirtualMachine ns2/b"],
            "namespaces": ["ns1", "ns2"],
        }
    ]
    assert status["freePerPrefix"]["02"] == 2**24 - 3
    assert status["webhookReady"] is True


def test_a_quiet_cluster_costs_no_writes() -> None:
    store = MemoryReservationStore()
    objects = Objects([vm("a", "ns1", "u1", "02:12:34:00:00:01")])
    run_audit(store, objects, layout=LAYOUT, grace_seconds=300, clock=lambda: T0)
    writes = store.writes()
    report = run_audit(store, objects, layout=LAYOUT, grace_seconds=300, clock=lambda: T0)
    assert store.writes() == writes
    assert report.collisions == ()
    assert "collidingMACs" not in status_of(report, webhook_ready=True)


def test_the_status_lists_collisions_bounded_and_counts_them_all() -> None:
    many = [
        vm(f"v{i}-{j}", f"ns{j}", f"u{i}-{j}", f"02:12:34:00:01:{i:02x}")
        for i in range(25)
        for j in range(10)
    ]
    report = run_audit(
        MemoryReservationStore(), Objects(many), layout=LAYOUT, grace_seconds=300, clock=lambda: T0
    )
    status = status_of(report, webhook_ready=True)
    assert status["collisions"] == 25
    listed = status["collidingMACs"]
    assert len(listed) == audit.LISTED_COLLISIONS
    assert listed[0]["mac"] == "02:12:34:00:01:00"
    assert len(listed[0]["carriers"]) == audit.LISTED_CARRIERS
    assert listed[0]["namespaces"] == [f"ns{j}" for j in range(10)]


def test_usage_counts_tombstones_as_unavailable_and_foreign_macs_not_against_the_pool() -> None:
    holder = Holder(VM, "ns1", "a", "u1")
    reservations = [
        Reservation(macs.parse("02:12:34:00:00:01"), holder, "n", "Committed", T0),
        Reservation(macs.parse("02:12:34:00:00:02"), holder, "n", "Released", T0, released_at=T0),
        Reservation(macs.parse("52:54:00:00:00:01"), holder, "n", "Pending", T0),
    ]
    usage = pool_usage(LAYOUT, reservations)
    assert (usage.allocated, usage.quarantined) == (2, 1)
    assert usage.free_per_prefix == {"02": 2**24 - 2 - 2, "0A": 2**24 - 2}


def test_collision_event_names_only_same_namespace_peers() -> None:
    mac = macs.parse("02:12:34:00:00:01")
    collision = Collision(
        mac,
        (
            Carrier(Holder(VM, "ns1", "a", "u1"), "n", mac),
            Carrier(Holder(VM, "ns1", "b", "u2"), "n", mac),
            Carrier(Holder(VM, "secret", "hidden", "u3"), "n", mac),
        ),
    )
    message = collision_message(collision, "ns1")
    assert "a, b in this namespace" in message
    assert "1 object(s) in other namespaces" in message
    assert "hidden" not in message
    assert "secret" not in message
