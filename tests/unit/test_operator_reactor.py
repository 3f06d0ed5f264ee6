"""When the operator restarts kopf's reactor: a stale view of the VirtualMachine API, and only then."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import kopf
import pytest
import structlog

from vmo_operator.operator.macpool.probe import ProbeResult, Readiness
from vmo_operator.operator.reactor import Reactor


@dataclass
class Answers:
    """What the fake probe and discovery say in the next rounds."""

    probes: list[ProbeResult] = field(default_factory=list)
    served: bool = True


@pytest.fixture
def reactor() -> Reactor:
    return Reactor()


@pytest.fixture
def answers() -> Answers:
    return Answers()


@pytest.fixture
def readiness(reactor: Reactor, answers: Answers) -> Readiness:
    return Readiness(lambda: answers.probes.pop(0), lambda: answers.served, reactor.request_restart)


def probe_rounds(readiness: Readiness, answers: Answers, results: list[ProbeResult], served: bool) -> None:
    answers.probes[:] = results
    answers.served = served
    for _ in results:
        readiness.check()


def test_two_404s_in_a_row_while_discovery_serves_vms_restart_the_reactor(
    reactor: Reactor, readiness: Readiness, answers: Answers
) -> None:
    probe_rounds(readiness, answers, ["unknown-resource"], served=True)
    assert not reactor.restart_requested.is_set()  # kopf may be about to re-scan by itself
    probe_rounds(readiness, answers, ["unknown-resource"], served=True)
    assert reactor.restart_requested.is_set()


def test_404s_while_the_vm_api_is_absent_are_expected(
    reactor: Reactor, readiness: Readiness, answers: Answers
) -> None:
    probe_rounds(readiness, answers, ["unknown-resource"] * 5, served=False)
    assert not reactor.restart_requested.is_set()


def test_a_good_probe_in_between_resets_the_count(
    reactor: Reactor, readiness: Readiness, answers: Answers
) -> None:
    probe_rounds(readiness, answers, ["unknown-resource", "ok", "unknown-resource", "failed"], served=True)
    assert not reactor.restart_requested.is_set()


def test_a_requested_restart_runs_kopf_again_and_a_clean_stop_ends(
    monkeypatch: pytest.MonkeyPatch, reactor: Reactor
) -> None:
    from vmo_operator.operator import main
    from vmo_operator.operator.config import OperatorConfig

    flags: list[asyncio.Event] = []

    async def fake_operator(**kwargs: Any) -> None:
        flag = kwargs["stop_flag"]
        flags.append(flag)
        if len(flags) == 1:
            # What a handler does, from a worker thread as the probe does; kopf then stops.
            await asyncio.to_thread(reactor.request_restart, "test")
            await asyncio.wait_for(flag.wait(), timeout=30)

    monkeypatch.setattr(kopf, "operator", fake_operator)
    log = structlog.get_logger()
    assert main._run_kopf(OperatorConfig.from_env(), log, kopf.OperatorRegistry(), reactor) == 0
    assert len(flags) == 2
    assert flags[0].is_set()
    assert not flags[1].is_set()  # each run gets a fresh flag


def test_a_stop_flag_made_after_a_request_is_already_raised(reactor: Reactor) -> None:
    reactor.request_restart("before kopf started")

    async def flag_state() -> bool:
        return reactor.stop_flag().is_set()

    assert asyncio.run(flag_state())


def test_restarts_in_a_burst_end_the_process(monkeypatch: pytest.MonkeyPatch, reactor: Reactor) -> None:
    from vmo_operator.operator import main
    from vmo_operator.operator.config import OperatorConfig

    async def always_restart(**_: Any) -> None:
        reactor.request_restart("always")

    monkeypatch.setattr(kopf, "operator", always_restart)
    log = structlog.get_logger()
    assert main._run_kopf(OperatorConfig.from_env(), log, kopf.OperatorRegistry(), reactor) == 1


@pytest.fixture
def default_signal_actions() -> Any:
    """The test process's SIGTERM and SIGINT actions, put back afterwards."""
    import signal

    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    yield
    for signum, action in saved.items():
        signal.signal(signum, action)


@pytest.mark.usefixtures("default_signal_actions")
def test_a_sigterm_before_kopf_runs_stops_the_run_and_ends_cleanly(
    monkeypatch: pytest.MonkeyPatch, reactor: Reactor
) -> None:
    """The kubelet may stop a pod that is still starting: the signal must end it as a stop, exit 0."""
    import os
    import signal

    from vmo_operator.operator import main
    from vmo_operator.operator.config import OperatorConfig

    flags: list[bool] = []

    async def fake_operator(**kwargs: Any) -> None:
        flags.append(kwargs["stop_flag"].is_set())

    monkeypatch.setattr(kopf, "operator", fake_operator)
    # What `vmo run` does first; the signal comes before kopf's loop exists.
    reactor.catch_signals()
    os.kill(os.getpid(), signal.SIGTERM)
    assert reactor.stopping.is_set()
    assert (
        main._run_kopf(OperatorConfig.from_env(), structlog.get_logger(), kopf.OperatorRegistry(), reactor)
        == 0
    )
    assert flags == [True], "the run started with its stop flag already raised, and was the only one"
