"""The admission deadline: no write starts after it, and what a late request reserved is undone.

The clocks here are fake and advanced by the stores themselves, so "time passes during a write"
is a fact of the test, not a race with the machine's load.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from tests.unit.macpool_fakes import MemoryReservationStore
from tests.unit.macpool_objects import context, vm
from vmo_operator.macpool import mac as macs
from vmo_operator.macpool.allocator import Allocator, Claimed
from vmo_operator.macpool.deadline import NO_DEADLINE, Deadline, DeadlineExceededError
from vmo_operator.macpool.fanout import Task, in_turn, on_executor
from vmo_operator.macpool.reservation import Holder, Reservation
from vmo_operator.macpool.webhook import AdmissionRequest, Denied, mutate
from vmo_operator.operator.macpool.admission import _decide_in_time

LAYOUT = macs.PoolLayout(macs.DEFAULT_PREFIXES, (0x12, 0x34))
HOLDER = Holder("VirtualMachine", "ns1", "vm-a", claim="c1")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class SlowStore(MemoryReservationStore):
    """Every create takes `seconds` of the fake clock."""

    def __init__(self, clock: Clock, seconds: float) -> None:
        super().__init__()
        self.clock = clock
        self.seconds = seconds

    def create(self, reservation: Reservation) -> Reservation | None:
        self.clock.now += self.seconds
        return super().create(reservation)


def test_a_deadline_counts_down_and_none_never_passes() -> None:
    clock = Clock()
    deadline = Deadline.after(9, clock)
    assert deadline.remaining() == 9
    assert not deadline.passed()
    clock.now = 9
    assert deadline.passed()
    assert deadline.remaining() == 0
    with pytest.raises(DeadlineExceededError):
        deadline.check()
    assert not NO_DEADLINE.passed()


def test_allocation_starts_no_write_after_the_deadline() -> None:
    clock = Clock()
    store = MemoryReservationStore()
    allocator = Allocator(store, rng=random.Random(3))
    clock.now = 10
    with pytest.raises(DeadlineExceededError):
        allocator.allocate(LAYOUT, HOLDER, "nic", deadline=Deadline(5, clock))
    with pytest.raises(DeadlineExceededError):
        allocator.claim(macs.parse("02:12:34:00:00:01"), HOLDER, "nic", deadline=Deadline(5, clock))
    assert sum(store.calls.values()) == 0


class TakenStore(SlowStore):
    """Every MAC is taken (409) and every attempt costs a second."""

    def create(self, reservation: Reservation) -> Reservation | None:
        self.calls["create"] += 1
        self.clock.now += self.seconds
        return None


def test_a_long_search_for_a_free_mac_stops_at_the_deadline() -> None:
    clock = Clock()
    store = TakenStore(clock, seconds=1)
    allocator = Allocator(store, rng=random.Random(3), max_attempts=64)
    with pytest.raises(DeadlineExceededError):
        allocator.allocate(LAYOUT, HOLDER, "nic", deadline=Deadline(5, clock))
    assert store.calls["create"] == 5  # not the 64 the attempt budget would allow


def test_a_request_that_runs_past_its_deadline_is_denied_and_leaves_nothing_reserved() -> None:
    clock = Clock()
    store = SlowStore(clock, seconds=4)  # the third of five creates ends past the 9 s deadline
    late = replace(context(store), deadline=Deadline(9, clock))
    obj = vm(macs_by_iface={f"nic{n}": None for n in range(5)})
    decision = mutate(AdmissionRequest("CREATE", "VirtualMachine", obj), late)
    assert isinstance(decision, Denied)
    assert "deadline" in decision.message
    assert store.calls["create"] == 3  # the fourth and fifth never started
    assert store.list() == []  # the three made were undone at once, not left for the grace period


def test_a_request_that_queued_past_its_deadline_does_no_work() -> None:
    clock = Clock()
    store = MemoryReservationStore()
    queued = replace(context(store), deadline=Deadline(9, clock))
    clock.now = 12
    obj = vm(macs_by_iface={"a": None})
    decision = _decide_in_time(mutate, AdmissionRequest("CREATE", "VirtualMachine", obj), queued)
    assert isinstance(decision, Denied)
    assert decision.code == 503
    assert sum(store.calls.values()) == 0


def test_the_sequential_fan_out_reports_tasks_after_the_deadline_as_out_of_time() -> None:
    clock = Clock()
    ran: list[int] = []

    def task(n: int) -> Task:
        def run() -> Claimed:
            ran.append(n)
            clock.now += 5
            return Claimed(Reservation(macs.Mac(n), HOLDER, "nic", "Pending", T0), wrote=True)

        return run

    outcomes = in_turn([task(1), task(2), task(3)], deadline=Deadline(9, clock))
    assert ran == [1, 2]
    assert isinstance(outcomes[2], DeadlineExceededError)


def test_the_executor_fan_out_stops_waiting_at_the_deadline_and_undoes_a_late_reservation() -> None:
    clock = Clock()
    release_slow_task = threading.Event()
    undone: list[Claimed] = []
    undo_called = threading.Event()

    def claimed(n: int) -> Claimed:
        return Claimed(Reservation(macs.Mac(n), HOLDER, f"nic{n}", "Pending", T0), wrote=True)

    def fast() -> Claimed:
        clock.now = 10  # the first task (run in the caller's thread) ends past the deadline
        return claimed(1)

    def slow() -> Claimed:
        release_slow_task.wait(timeout=30)
        return claimed(2)

    def undo(claims: Sequence[Claimed]) -> None:
        undone.extend(claims)
        undo_called.set()

    with ThreadPoolExecutor(2) as pool:
        outcomes = on_executor(pool)([fast, slow], deadline=Deadline(9, clock), undo=undo)
        # Returned while `slow` was still blocked: the fan-out did not wait for it.
        assert not release_slow_task.is_set()
        assert outcomes[0] == claimed(1)  # the caller has it and reverts it itself
        assert isinstance(outcomes[1], DeadlineExceededError)
        release_slow_task.set()
        assert undo_called.wait(timeout=30)
    assert undone == [claimed(2)]
