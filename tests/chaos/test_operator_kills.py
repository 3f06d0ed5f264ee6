"""SIGKILL the operator at random points of its work; a fresh operator must finish the job.

Each round picks one piece of work the current state allows (install; a version, gate or network
change; a component disabled or re-enabled; the profile deleted), starts it, waits a random delay
drawn from the seeded RNG, SIGKILLs the operator as an OOM kill or node loss would, and starts a
fresh one. The fresh operator must converge:

- Available for the current generation, with exactly the rendered objects: nothing missing,
  orphaned, doubled or stuck deleting, and the profile's finalizer present once;
- every VM and DataVolume the tests created still there with the same UID;
- every VM interface carrying a valid MAC that no other interface has, reserved for that VM.

A deletion is killed twice: while workloads block it (nothing may be torn down) and, after the
tests delete their workloads, while it tears down (it must end with nothing left).

VMO_CHAOS_ROUNDS sets the number of rounds (5 in `make test`, 200 in `make chaos`);
VMO_CHAOS_SEED the seed, printed with every round so a failure can be replayed.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.chaos.budget import BUDGET, Budget
from tests.chaos.harness import (
    WORKLOAD_NAMESPACE,
    ChaosCluster,
    Workloads,
    assert_converged,
    assert_removed,
    base_spec,
    delete_profile,
    inventory_problems,
    leaked_reservations,
    put_profile,
    settle,
    uncommitted_macs,
)
from tests.support.kube import condition, get_profile
from vmo_operator.api import versions

pytestmark = pytest.mark.integration

KUBEVIRT_VERSIONS = ("v1.7.2", "v1.8.4", "v1.9.0")
CDI_VERSIONS = ("v1.61.1", "v1.65.0")
EXTRA_GATES = ("CPUManager", "Sidecar")


class Rounds:
    """The state the rounds walk through, and one method per kind of interrupted work."""

    def __init__(self, chaos: ChaosCluster, workloads: Workloads, rng: random.Random) -> None:
        self.chaos = chaos
        self.workloads = workloads
        self.rng = rng
        self.spec: dict[str, Any] | None = None  # None: no profile exists
        self.kills = 0

    def choose(self) -> Callable[[], str]:
        if self.spec is None:
            return self.install
        return self.rng.choices([self.change, self.toggle, self.delete], weights=[4, 4, 2])[0]

    def kill_after(self, low: float, high: float) -> float:
        """The fault: a bounded random delay into the work, then SIGKILL and a fresh operator."""
        delay = self.rng.uniform(low, high)
        time.sleep(delay)
        self.chaos.replace_operator()
        self.kills += 1
        return delay

    # ---- kinds of work -------------------------------------------------------------------------

    def install(self) -> str:
        spec = base_spec()
        put_profile(self.chaos.api, spec)
        delay = self.kill_after(0, 6)
        self.spec = spec
        self._converged_with_workloads()
        return f"install, killed after {delay:.2f}s"

    def change(self) -> str:
        assert self.spec is not None
        spec = self.spec
        what = self.rng.choice(["kubevirt version", "gate", "cdi version", "vlan"])
        if what == "kubevirt version":
            current = spec.setdefault("kubevirt", {}).get("version") or versions.KUBEVIRT.default
            spec["kubevirt"]["version"] = self.rng.choice([v for v in KUBEVIRT_VERSIONS if v != current])
            spec["kubevirt"]["acceptDowngradeFrom"] = current  # the CRD refuses an unacknowledged downgrade
            detail = spec["kubevirt"]["version"]
        elif what == "gate":
            gate = self.rng.choice(EXTRA_GATES)
            added = spec.setdefault("kubevirt", {}).setdefault("featureGates", {}).setdefault("add", [])
            if gate in added:
                added.remove(gate)
                detail = f"-{gate}"
            else:
                added.append(gate)
                detail = f"+{gate}"
        elif what == "cdi version":
            current = spec.setdefault("cdi", {}).get("version")
            spec["cdi"]["version"] = self.rng.choice([v for v in CDI_VERSIONS if v != current])
            detail = spec["cdi"]["version"]
        else:
            network = spec["multus"]["networks"][0]
            network["vlan"] = 11 if network["vlan"] == 10 else 10
            detail = str(network["vlan"])
        put_profile(self.chaos.api, spec)
        delay = self.kill_after(0, 2.5)
        self._converged_with_workloads()
        return f"change {what} to {detail}, killed after {delay:.2f}s"

    def toggle(self) -> str:
        assert self.spec is not None
        spec = self.spec
        if self.rng.random() < 0.5:
            descheduler = spec.setdefault("descheduler", {})
            descheduler["enabled"] = not descheduler.get("enabled", True)
            detail = f"descheduler {'enabled' if descheduler['enabled'] else 'disabled'}"
        else:
            networks = spec["multus"]["networks"]
            if any(n["name"] == "vlan-20" for n in networks):
                spec["multus"]["networks"] = [n for n in networks if n["name"] != "vlan-20"]
                detail = "network vlan-20 removed"
            else:
                networks.append({"name": "vlan-20", "vlan": 20, "namespaces": [WORKLOAD_NAMESPACE]})
                detail = "network vlan-20 added"
        put_profile(self.chaos.api, spec)
        delay = self.kill_after(0, 2.5)
        self._converged_with_workloads()
        return f"{detail}, killed after {delay:.2f}s"

    def delete(self) -> str:
        assert self.spec is not None
        api = self.chaos.api
        assert self.workloads.vms, "a delete round needs workloads to block it"
        delete_profile(api)
        blocked_delay = self.kill_after(0, 2)
        settle(self._not_blocked, timeout=60, what="removal blocked while workloads exist")
        settle(
            lambda: inventory_problems(api, self.spec or {}) + self.workloads.problems(),
            timeout=30,
            what="nothing torn down and no workload touched while the removal is blocked",
        )
        self.workloads.remove_all()
        teardown_delay = self.kill_after(0, 4)
        assert_removed(api)
        settle(lambda: leaked_reservations(api), timeout=60, what="no MAC held for a deleted VM")
        self.spec = None
        return f"delete, killed after {blocked_delay:.2f}s (blocked) and {teardown_delay:.2f}s (teardown)"

    # ---- checks ------------------------------------------------------------------------------

    def _not_blocked(self) -> list[str]:
        profile = get_profile(self.chaos.api, "vmo")
        if profile is None:
            return ["the profile was deleted although VMs and DataVolumes exist"]
        cond = condition(profile, "ReconcileComplete") or {}
        if not profile["metadata"].get("deletionTimestamp") or cond.get("reason") != "RemovalBlocked":
            return [f"ReconcileComplete is {cond.get('reason')}: {cond.get('message')}"]
        if "VirtualMachine" not in cond.get("message", ""):
            return [f"the blocking message does not name the VMs: {cond.get('message')}"]
        return []

    def _converged_with_workloads(self) -> None:
        assert self.spec is not None
        assert_converged(self.chaos, self.spec, self.workloads)
        # The webhook of the fresh operator hands out MACs no other VM carries ...
        self.workloads.add_vm()
        if not self.workloads.dvs:
            self.workloads.add_dv()
        settle(self.workloads.problems, timeout=30, what="MACs unique after the new VM")
        # ... and the truth in the API server says so: every MAC reserved for its VM.
        settle(lambda: uncommitted_macs(self.chaos.api), timeout=30, what="every MAC committed to its VM")


@pytest.mark.timeout(180 + 120 * BUDGET.rounds)
def test_a_fresh_operator_converges_after_sigkill_at_random_points(
    clean: ChaosCluster, workloads: Workloads, budget: Budget, say: Callable[[str], None]
) -> None:
    rng = random.Random(budget.seed)
    rounds = Rounds(clean, workloads, rng)
    started = time.monotonic()
    for number in range(1, budget.rounds + 1):
        work = rounds.choose()
        began = time.monotonic()
        try:
            done = work()
        except AssertionError as exc:
            raise AssertionError(
                f"round {number} ({work.__name__}, VMO_CHAOS_SEED={budget.seed}) failed: {exc}\n"
                f"--- operator log ---\n{clean.operator.log_tail(40)}"
            ) from None
        print(f"round {number:3d}: {done}; converged {time.monotonic() - began:.1f}s after the work began")
    say(
        f"{budget.rounds} rounds, {rounds.kills} SIGKILLs, seed {budget.seed}, "
        f"{time.monotonic() - started:.0f}s in all"
    )
    assert rounds.kills >= budget.rounds
