"""Admission decides on the event loop only when it sends no API request (`admission._decide_on_loop`).

The guard is `kube.client.no_requests`: inside it, a request raises before anything is sent. A
decision that would send one is abandoned, whatever it took from the spare pool goes back, and
the caller runs it again in a worker thread.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.unit.macpool_fakes import MemoryReservationStore
from tests.unit.macpool_objects import context, vm
from vmo_operator.kube import kinds
from vmo_operator.kube.client import KubeClient, WouldBlockError, no_requests
from vmo_operator.kube.kubeconfig import Endpoint
from vmo_operator.kube.transport import Answer, Transport
from vmo_operator.macpool import spares
from vmo_operator.macpool.allocator import Allocator
from vmo_operator.macpool.reservation import Reservation
from vmo_operator.macpool.webhook import AdmissionRequest, Allowed, mutate
from vmo_operator.operator.macpool.admission import _decide_in_time, _decide_on_loop

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ME = "replica-a"


class Recorder(Transport):
    """An API transport that records every request it would send and answers each with `{}`."""

    def __init__(self) -> None:
        super().__init__(Endpoint("https://127.0.0.1:1"))
        self.sent: list[str] = []

    def request(self, method: str, path: str, **_: Any) -> Answer:
        self.sent.append(f"{method} {path}")
        return Answer(200, "OK", b"{}")


def test_no_request_leaves_inside_no_requests_and_the_guard_ends_with_the_block() -> None:
    api = Recorder()
    kube = KubeClient(api)
    with no_requests(), pytest.raises(WouldBlockError):
        kube.get(kinds.NAMESPACE, "tenant")
    assert api.sent == []
    assert kube.requests == {}  # not even counted: nothing was sent
    assert kube.get(kinds.NAMESPACE, "tenant") == {}
    assert api.sent == ["GET /api/v1/namespaces/tenant"]


class GuardedStore(MemoryReservationStore):
    """A store whose creates are API requests, as `store.KubeReservationStore`'s are."""

    def __init__(self) -> None:
        super().__init__()
        self.api = Recorder()
        self.kube = KubeClient(self.api)

    def create(self, reservation: Reservation) -> Reservation | None:
        self.kube.get(kinds.NAMESPACE, "stands-for-the-create")
        return super().create(reservation)


def pooled(store: MemoryReservationStore, count: int) -> tuple[spares.SparePool, Allocator]:
    pool = spares.SparePool(ME, clock=lambda: 0.0)
    maker = Allocator(store, clock=lambda: T0, rng=random.Random(5))
    for _ in range(count):
        assert pool.add(maker.make_spare(context(store).layout, ME))
    return pool, maker


def create(nics: int) -> AdmissionRequest:
    return AdmissionRequest(
        "CREATE", "VirtualMachine", vm(macs_by_iface={f"nic{n}": None for n in range(nics)})
    )


def test_spares_enough_for_every_interface_are_handed_out_on_the_loop_without_a_write() -> None:
    store = GuardedStore()
    pool, _ = pooled(store, 2)
    ctx = context(store)
    ctx.allocator.spares = pool
    sent = len(store.api.sent)
    decision = _decide_on_loop(mutate, create(2), ctx)
    assert isinstance(decision, Allowed)
    assert len(decision.patch) >= 2
    assert len(pool) == 0
    assert len(store.api.sent) == sent  # no request


def test_a_decision_that_needs_a_write_is_abandoned_its_spares_given_back_and_rerun_in_a_thread() -> None:
    store = GuardedStore()
    pool, _ = pooled(store, 1)  # one spare for two interfaces: the second needs a create
    ctx = context(store)
    ctx.allocator.spares = pool
    written, sent = len(store.list()), len(store.api.sent)
    assert _decide_on_loop(mutate, create(2), ctx) is None
    assert len(pool) == 1  # the spare it took is free again
    assert pool.outstanding == 0
    assert (len(store.list()), len(store.api.sent)) == (written, sent)
    decision = _decide_in_time(mutate, create(2), ctx)  # where the caller runs it next
    assert isinstance(decision, Allowed)
    assert len(store.list()) == written + 1  # one reservation created for the second interface
    assert len(store.api.sent) == sent + 1
