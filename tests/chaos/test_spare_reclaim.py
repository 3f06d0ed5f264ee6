"""SIGKILL a webhook replica that holds spares, in the middle of a burst of creates (#17).

Two replicas serve the shared port, each with its spare pool (`macpool.spares`). Each round starts
a fresh victim, waits for its spares, fires a burst of VM creates at both replicas and SIGKILLs
the victim after a random number of them, as an OOM kill or a node loss would. Then:

- no Spare of the victim survives: once its Lease has stood still for a whole duration, the
  survivor's GC releases them (tombstones), or they were committed to the VMs the victim admitted;
- every VM carries valid MACs that no other interface has, each Committed to that VM: a spare the
  victim handed out just before dying is adopted by its VM, never handed out a second time;
- creates after the reclaim get fresh MACs, none of them one of the victim's spares.

VMO_CHAOS_ROUNDS bounds the rounds (half of it, at most 20; at least one) and VMO_CHAOS_SEED seeds
where each kill falls.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.chaos.budget import Budget
from tests.chaos.harness import (
    WORKLOAD_NAMESPACE,
    ChaosCluster,
    Workloads,
    carried_macs,
    install_base,
    reservations,
    settle,
    uncommitted_macs,
)
from tests.support.vms import create_with_retry, list_vms
from tests.support.waiting import eventually
from vmo_operator.macpool import mac as macs
from vmo_operator.macpool import spares

pytestmark = pytest.mark.integration

BURST = 12
# The victim's Lease (20 s) must be seen standing still for a whole duration by the GC leader,
# which may first have to take the GC lease over (15 s) from the victim: generous on a loaded machine.
RECLAIM_SECONDS = 120


def spares_of(api: Any) -> dict[str, set[macs.Mac]]:
    found: dict[str, set[macs.Mac]] = {}
    for reservation in reservations(api):
        if reservation.state == "Spare":
            found.setdefault(reservation.replica, set()).add(reservation.mac)
    return found


def carried_twice(api: Any) -> list[str]:
    counts = Counter(
        text for vm in list_vms(api) for text in carried_macs(vm).values() if isinstance(text, str)
    )
    return [f"{text} carried {n} times" for text, n in counts.items() if n > 1]


def burst_killing(chaos: ChaosCluster, victim: Any, round_no: int, kill_after: int) -> list[dict[str, Any]]:
    """BURST creates at both replicas; the victim is SIGKILLed once `kill_after` have succeeded."""
    done = [0]
    lock = threading.Lock()

    def create(n: int) -> dict[str, Any]:
        name = f"spare-r{round_no}-{n:02d}"
        vm = create_with_retry(chaos.api, WORKLOAD_NAMESPACE, name, {"a": None, "b": None})
        with lock:
            done[0] += 1
            if done[0] == kill_after and victim.alive():
                victim.kill()
        return vm

    with ThreadPoolExecutor(max_workers=4) as pool:
        created = list(pool.map(create, range(BURST)))
    if victim.alive():
        victim.kill()
    return created


def one_round(
    chaos: ChaosCluster, workloads: Workloads, round_no: int, kill_after: int, known: set[str]
) -> int:
    """Start a victim, burst, kill it, check the invariants; how many spares it held."""
    api = chaos.api
    victim = chaos.start_operator()
    victim_id = eventually(
        lambda: next((r for r in spares_of(api) if r not in known), None),
        timeout=90,
        what="the victim's spares",
    )
    known.add(victim_id)
    eventually(
        lambda: len(spares_of(api).get(victim_id, ())) == spares.TARGET,
        timeout=60,
        what="the victim's full pool",
    )
    held_by_victim = set(spares_of(api)[victim_id])
    for vm in burst_killing(chaos, victim, round_no, kill_after):
        workloads.vms[vm["metadata"]["name"]] = vm["metadata"]["uid"]

    settle(
        lambda: [f"{mac} still a spare" for mac in spares_of(api).get(victim_id, set())],
        timeout=RECLAIM_SECONDS,
        what=f"round {round_no}: the killed replica's spares reclaimed",
    )
    settle(workloads.problems, timeout=30, what="every VM intact with valid, unique MACs")
    settle(lambda: uncommitted_macs(api), timeout=60, what="every MAC committed to its VM")
    after = [workloads.add_vm() for _ in range(3)]
    fresh = {macs.parse(m) for vm in after for m in carried_macs(vm).values()}
    assert not fresh & held_by_victim, "a reclaimed spare was handed out again"
    settle(lambda: carried_twice(api), timeout=5, what="no MAC carried twice")
    settle(lambda: uncommitted_macs(api), timeout=60, what="every MAC committed to its VM")
    return len(held_by_victim)


def test_a_killed_replicas_spares_are_reclaimed_and_never_handed_out_twice(
    based: ChaosCluster, workloads: Workloads, budget: Budget, say: Callable[[str], None]
) -> None:
    chaos, api = based, based.api
    install_base(chaos, workloads)
    # The module's operator serves the shared port as every replica below does: it is the survivor
    # (a stopped and restarted one would only add a start, and a wait for the GC lease it held).
    survivor = chaos.operator
    rng = random.Random(budget.seed)
    rounds = max(1, min(budget.rounds // 2, 20))
    reclaimed = 0
    try:
        known = set(eventually(lambda: spares_of(api) or None, timeout=90, what="the survivor's spares"))
        for round_no in range(rounds):
            reclaimed += one_round(chaos, workloads, round_no, rng.randint(1, BURST - 1), known)
        say(f"spare reclaim: {rounds} rounds, {reclaimed} spares of killed replicas reclaimed")
    finally:
        if survivor.alive():
            chaos.keep_only(survivor)  # the next module's operator, on the shared port
        else:
            chaos.stop_operators()  # the next module's reset starts one on the shared port again
