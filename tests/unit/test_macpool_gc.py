"""Garbage collection of orphaned reservations: a backlog runs in parallel, a bounded number at a time.

The timing figure (20,000 orphans within their grace period plus a minute) is `make bench`'s;
here the behaviour that makes it possible: every write of a round is applied, several at once, and
never more at once than the bound.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from tests.unit.macpool_fakes import MemoryReservationStore
from vmo_operator.macpool import mac as macs
from vmo_operator.macpool.audit import run_audit
from vmo_operator.macpool.reconcile import carriers_of, execute, plan_reconcile
from vmo_operator.macpool.reservation import Holder, Reservation

T0 = datetime(2026, 1, 1, tzinfo=UTC)
GRACE = 60
LAYOUT = macs.PoolLayout((0x02,), (0x12, 0x34))
ORPHANS = 2_000


class Nothing:
    """No VM or VMI carries any MAC: every Pending reservation is an orphan."""

    def list_objects(self, kind: str) -> list[dict[str, object]]:
        return []


class CountingStore(MemoryReservationStore):
    """Records how many replaces run at once; the first `meet` of them wait for each other, which
    only writes running side by side can do."""

    def __init__(self, meet: int) -> None:
        super().__init__()
        self.meeting = threading.Barrier(meet, timeout=30)
        self.met = 0
        self.in_flight = 0
        self.most_in_flight = 0
        self.counter = threading.Lock()

    def replace(self, reservation: Reservation) -> Reservation | None:
        with self.counter:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            meet = self.met < self.meeting.parties
            self.met += 1
        try:
            if meet:
                self.meeting.wait()
            return super().replace(reservation)
        finally:
            with self.counter:
                self.in_flight -= 1


def orphan(n: int) -> Reservation:
    holder = Holder("VirtualMachine", f"ns-{n % 7}", f"never-created-{n}", claim=f"c{n}")
    return Reservation(macs.Mac(0x02_12_34_00_00_00 + n), holder, "nic", "Pending", T0)


def test_a_backlog_of_orphans_is_released_in_one_round_by_parallel_writers() -> None:
    store = CountingStore(meet=8)
    for n in range(ORPHANS):
        store.put(orphan(n))
    report = run_audit(
        store,
        Nothing(),
        layout=LAYOUT,
        grace_seconds=GRACE,
        clock=lambda: T0 + timedelta(seconds=GRACE),
        workers=8,
    )
    assert report.execution.applied == {"Release": ORPHANS}
    assert report.execution.errors == ()
    assert all(r.state == "Released" for r in store.list())
    assert store.most_in_flight == 8  # eight met at once, and never more than the bound


def test_orphans_still_in_their_grace_period_are_left_alone() -> None:
    store = MemoryReservationStore()
    for n in range(10):
        store.put(orphan(n))
    assert plan_reconcile(store.list(), [], now=T0 + timedelta(seconds=GRACE - 1), grace_seconds=GRACE) == []


def test_a_round_over_its_limit_writes_the_most_urgent_first_and_defers_the_rest() -> None:
    """Live VMs' MACs first, then orphans oldest first; tombstones, which only free a MAC, last."""
    store = MemoryReservationStore()
    carried = Reservation(
        macs.Mac(0x02_12_34_00_01_00), Holder("VirtualMachine", "ns", "vm", "uid"), "nic", "Pending", T0
    )
    store.put(carried)
    young, old = orphan(1), replace(orphan(2), reserved_at=T0 - timedelta(seconds=30))
    store.put(young)
    store.put(old)
    tombstone = replace(orphan(3), state="Released", released_at=T0 - timedelta(seconds=2 * GRACE))
    store.put(tombstone)
    vm = {
        "metadata": {"name": "vm", "namespace": "ns", "uid": "uid"},
        "spec": {
            "template": {
                "spec": {
                    "domain": {"devices": {"interfaces": [{"name": "nic", "macAddress": str(carried.mac)}]}}
                }
            }
        },
    }
    actions = plan_reconcile(
        store.list(),
        carriers_of("VirtualMachine", vm),
        now=T0 + timedelta(seconds=GRACE),
        grace_seconds=GRACE,
    )
    assert sorted(type(a).__name__ for a in actions) == ["Commit", "Delete", "Release", "Release"]
    report = execute(actions, store, now=T0 + timedelta(seconds=GRACE), limit=2)
    assert report.applied == {"Commit": 1, "Release": 1}
    assert report.deferred == 2
    assert store.stored(old.mac).state == "Released"  # the older orphan went first
    assert store.stored(young.mac).state == "Pending"
    assert store.stored(tombstone.mac).state == "Released"  # still there: deleting it can wait
