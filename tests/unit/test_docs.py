"""The docs say what the project does (issue 13, problem 10): `make help`, the VM roles, the timings."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_make_help_lists_every_documented_target() -> None:
    documented = re.findall(r"^([^\s:#]+):.*?## ", (ROOT / "Makefile").read_text(), flags=re.MULTILINE)
    shown = subprocess.run(
        ["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    listed = {line.split()[0] for line in shown.splitlines() if line.strip()}
    assert "kind-e2e" in documented
    assert set(documented) <= listed, set(documented) - listed


def test_the_vm_roles_are_said_to_come_from_the_operator_and_nothing_ships_them() -> None:
    install = (ROOT / "docs" / "install.md").read_text()
    assert "The chart and the kustomize base add four ClusterRoles" not in install
    assert "The operator creates four ClusterRoles" in install
    shipped = [*ROOT.glob("charts/vmo-operator/templates/*.yaml"), *ROOT.glob("deploy/base/*.yaml")]
    assert not [path for path in shipped if re.search(r"name: vmo-vm-", path.read_text())]


def test_every_timing_in_the_readme_says_on_what_machine_and_load() -> None:
    readme = (ROOT / "README.md").read_text()
    for target in ("make unit", "make testenv-up"):
        line = next(line for line in readme.splitlines() if line.startswith(target))
        assert re.search(r"\d+(\.\d+)? (s|min)", line), line
        assert re.search(r"\d+ cores?", line), line
        assert "load" in line, line
