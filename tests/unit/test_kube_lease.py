"""Leader election by a Lease: one leader, takeover after a silent duration, handover on release."""

from __future__ import annotations

import copy

from tests.unit.macpool_fakes import Leases
from vmo_operator.kube import kinds
from vmo_operator.kube.lease import LeaderElection


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def election(leases: Leases, identity: str, clock: Clock) -> LeaderElection:
    return LeaderElection(leases, "gc", "vmo-system", identity, duration_seconds=15, clock=clock)  # type: ignore[arg-type]


def test_the_first_replica_leads_and_the_second_waits() -> None:
    leases, clock = Leases(), Clock()
    a, b = election(leases, "a", clock), election(leases, "b", clock)
    assert a.attempt()
    assert not b.attempt()
    clock.now += 5
    assert a.attempt()  # renewed
    assert not b.attempt()
    assert (a.is_leader, b.is_leader) == (True, False)
    assert leases.holder() == "a"


def test_a_silent_leader_is_replaced_after_one_duration_on_the_others_clock() -> None:
    leases, clock = Leases(), Clock()
    a, b = election(leases, "a", clock), election(leases, "b", clock)
    assert a.attempt()
    assert not b.attempt()
    clock.now += 14
    assert not b.attempt()
    assert a.is_leader  # 14 s since its last renewal
    clock.now += 2  # 16 s without a renewal that b could see
    assert not a.is_leader
    assert b.attempt()
    assert leases.holder() == "b"
    assert leases.objects[("vmo-system", "gc")]["spec"]["leaseTransitions"] == 1
    assert not a.attempt()  # the old leader sees the new holder renewing


def test_a_released_lease_is_taken_over_at_once() -> None:
    leases, clock = Leases(), Clock()
    a, b = election(leases, "a", clock), election(leases, "b", clock)
    assert a.attempt()
    assert not b.attempt()
    a.release()
    assert not a.is_leader
    assert b.attempt()
    assert leases.holder() == "b"


def test_of_two_replicas_racing_for_a_free_lease_only_one_leads() -> None:
    leases, clock = Leases(), Clock()
    a, b = election(leases, "a", clock), election(leases, "b", clock)
    assert a.attempt()
    a.release()
    free = leases.get(kinds.LEASE, "gc", "vmo-system")
    assert a.attempt()
    # b read the free lease before a's write landed; its write at that resourceVersion is refused.
    leases.get = lambda *_args: copy.deepcopy(free)  # type: ignore[method-assign]
    assert not b.attempt()
    assert not b.is_leader
    assert leases.holder() == "a"
