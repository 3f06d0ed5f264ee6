"""When the operator restarts kopf's reactor: a stale view of the VirtualMachine API, and only then."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from vmo_operator.operator import macpool_handlers as wiring
from vmo_operator.operator import reactor


@pytest.fixture(autouse=True)
def fresh_state() -> Iterator[None]:
    reactor.RESTART_REQUESTED.clear()
    wiring.STATE.stale_probes = 0
    yield
    reactor.RESTART_REQUESTED.clear()
    wiring.STATE.stale_probes = 0


def probe_rounds(monkeypatch: pytest.MonkeyPatch, results: list[wiring.ProbeResult], served: bool) -> None:
    answers = iter(results)
    monkeypatch.setattr(wiring, "_probe", lambda: next(answers))
    monkeypatch.setattr(wiring, "_vm_api_served", lambda: served)
    for _ in results:
        asyncio.run(wiring._check_readiness())


def test_two_404s_in_a_row_while_discovery_serves_vms_restart_the_reactor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    probe_rounds(monkeypatch, ["unknown-resource"], served=True)
    assert not reactor.RESTART_REQUESTED.is_set()  # kopf may be about to re-scan by itself
    probe_rounds(monkeypatch, ["unknown-resource"], served=True)
    assert reactor.RESTART_REQUESTED.is_set()


def test_404s_while_the_vm_api_is_absent_are_expected(monkeypatch: pytest.MonkeyPatch) -> None:
    probe_rounds(monkeypatch, ["unknown-resource"] * 5, served=False)
    assert not reactor.RESTART_REQUESTED.is_set()


def test_a_good_probe_in_between_resets_the_count(monkeypatch: pytest.MonkeyPatch) -> None:
    probe_rounds(monkeypatch, ["unknown-resource", "ok", "unknown-resource", "failed"], served=True)
    assert not reactor.RESTART_REQUESTED.is_set()


def test_a_requested_restart_runs_kopf_again_and_a_clean_stop_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    from vmo_operator.operator import main
    from vmo_operator.operator.config import OperatorConfig

    runs: list[object] = []

    def fake_run(**kwargs: object) -> None:
        runs.append(kwargs["stop_flag"])
        if len(runs) == 1:
            reactor.request_restart("test")  # what a handler does; kopf then returns

    monkeypatch.setattr(main.kopf, "run", fake_run)
    assert main._run_kopf(OperatorConfig.from_env(), main.structlog.get_logger()) == 0
    assert runs == [reactor.RESTART_REQUESTED, reactor.RESTART_REQUESTED]


def test_restarts_in_a_burst_end_the_process(monkeypatch: pytest.MonkeyPatch) -> None:
    from vmo_operator.operator import main
    from vmo_operator.operator.config import OperatorConfig

    monkeypatch.setattr(main.kopf, "run", lambda **_: reactor.request_restart("always"))
    assert main._run_kopf(OperatorConfig.from_env(), main.structlog.get_logger()) == 1
