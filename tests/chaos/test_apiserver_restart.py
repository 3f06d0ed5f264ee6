"""kube-apiserver restarts while the operator reconciles and VMs are being created through the MAC
webhook. The same operator process must recover by itself: no restart of it, a change made after
the restart converges, VM creates are admitted again, and no VM ever got in without MACs.

The recovery time is printed (and `make bench` reports it as a row).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.chaos.harness import (
    WORKLOAD_NAMESPACE,
    ChaosCluster,
    Workloads,
    assert_converged,
    current_condition,
    install_base,
    put_profile,
    settle,
    uncommitted_macs,
)
from tests.support.faults import restart_apiserver_under_load

pytestmark = pytest.mark.integration


def test_the_operator_recovers_by_itself_from_an_apiserver_restart(
    based: ChaosCluster, workloads: Workloads, say: Callable[[str], None]
) -> None:
    chaos = based
    spec = install_base(chaos, workloads)
    operator = chaos.operator
    pid = operator.pid

    def change_before() -> None:
        spec["kubevirt"] = {"featureGates": {"add": ["CPUManager"]}}
        put_profile(chaos.api, spec)

    def change_after() -> int:
        spec["descheduler"] = {"interval": "90s"}
        return put_profile(chaos.api, spec)

    def available(generation: int) -> bool:
        cond = current_condition(chaos.api, "Available")
        return bool(cond and cond["status"] == "True" and cond["observedGeneration"] >= generation)

    recovery, creator = restart_apiserver_under_load(
        chaos.plane,
        chaos.api,
        namespace=WORKLOAD_NAMESPACE,
        change_before=change_before,
        change_after=change_after,
        available=available,
    )
    creator.stop()
    say(
        f"apiserver restart: outage {recovery.outage:.1f}s; after it, profile Available in "
        f"{recovery.profile:.1f}s, VM admitted in {recovery.vm_create:.1f}s; "
        f"recovery {recovery.recovery:.1f}s "
        f"({recovery.created} VMs created, {recovery.failed_attempts} attempts refused meanwhile)"
    )

    assert operator.alive(), operator.log_tail()
    assert operator.pid == pid, "the operator must recover without being restarted"
    assert not creator.without_valid_macs(), "a VM was admitted without MACs"
    assert_converged(chaos, spec, workloads)  # every VM's MACs valid and unique, nothing orphaned
    settle(lambda: uncommitted_macs(chaos.api), timeout=60, what="every created VM's MACs committed")
    assert chaos.unexpected_errors() == 0, operator.log_tail()
