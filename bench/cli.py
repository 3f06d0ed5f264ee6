"""The `vmo` command line's own cost: `vmo --help` must not import the operator to print a list.

Figures, not assertions. CPU time is the children's user + system time, which a loaded machine
inflates far less than wall time; both are printed.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.core import Bench, Row

VMO = Path(sys.executable).with_name("vmo")
RUNS = 5


def _one(args: list[str]) -> tuple[float, float]:
    """(wall, cpu) seconds of one `vmo` run."""
    before = os.times()
    started = time.monotonic()
    subprocess.run([str(VMO), *args], check=True, capture_output=True)
    wall = time.monotonic() - started
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return wall, cpu


def cli_rows(bench: Bench) -> list[Row]:
    del bench  # no cluster needed
    runs = [_one(["--help"]) for _ in range(RUNS)]
    cpu = statistics.median(c for _, c in runs)
    wall = statistics.median(w for w, _ in runs)
    return [
        Row(
            "vmo --help, CPU time (median of 5)",
            round(cpu, 3),
            "s",
            "<= 0.3 s",
            ok=cpu <= 0.3,
            note=f"wall {wall:.2f} s; before lazy imports 1.3 to 1.7 s of CPU",
        )
    ]
