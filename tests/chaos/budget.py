"""How much fault injection and fuzzing one run does, from the environment.

`make test` runs the bounded defaults (a few minutes on two cores); `make chaos` raises them.
Every random choice the fault suites make, and every Hypothesis example, comes from one seed, so a
failing run can be replayed with the seed it prints (VMO_CHAOS_SEED).
"""

from __future__ import annotations

import os
from dataclasses import dataclass


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, "") or default)


@dataclass(frozen=True)
class Budget:
    rounds: int = 5
    """Operator SIGKILL rounds (VMO_CHAOS_ROUNDS)."""

    seed: int = 20261125
    """Seed of the fault-injection RNG and of Hypothesis (VMO_CHAOS_SEED); fixed for `make test`."""

    profiles: int = 500
    """Hypothesis-generated VMOProfiles sent to the API server as dry runs (VMO_FUZZ_PROFILES)."""

    reconciled: int = 20
    """Accepted generated profiles that the running operator then really reconciles (VMO_FUZZ_RECONCILED)."""

    vms: int = 200
    """Hypothesis-generated VirtualMachines created through the MAC webhook (VMO_FUZZ_VMS)."""

    @classmethod
    def from_env(cls) -> Budget:
        return cls(
            rounds=_int("VMO_CHAOS_ROUNDS", cls.rounds),
            seed=_int("VMO_CHAOS_SEED", cls.seed),
            profiles=_int("VMO_FUZZ_PROFILES", cls.profiles),
            reconciled=_int("VMO_FUZZ_RECONCILED", cls.reconciled),
            vms=_int("VMO_FUZZ_VMS", cls.vms),
        )


BUDGET = Budget.from_env()
