"""`pip install .` into a fresh venv gives a working `vmo`: the same install the image does.

Slow (about a minute: it resolves and installs every pinned dependency), so it is one test.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from tests.support.paths import REPO

EXAMPLE = REPO / "examples" / "vmoprofile.yaml"


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, f"{' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-4000:]}"
    return proc


def test_fresh_venv_install_runs_vmo(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path)
    # A non-editable install from the source tree, with the pins the image installs (requirements.lock
    # holds the same versions with their hashes).
    pip = str(venv / "bin" / "pip")
    run([pip, "install", "--quiet", "--constraint", str(REPO / "constraints.txt"), str(REPO)], cwd=tmp_path)
    # The pins must cover everything that gets installed, and nothing else: an incomplete or stale
    # constraints.txt would let the image drift from what was tested.
    frozen = run([pip, "freeze", "--exclude", "vmo-operator", "--exclude", "pip"], cwd=tmp_path).stdout
    lines = (REPO / "constraints.txt").read_text().splitlines()
    pinned = [line for line in lines if not line.startswith("#")]
    assert sorted(frozen.split()) == sorted(pinned), "constraints.txt is stale: run make constraints"
    vmo = str(venv / "bin" / "vmo")
    # Run from outside the checkout, so nothing is imported from src/ by accident.
    help_text = run([vmo, "--help"], cwd=tmp_path).stdout
    assert "render" in help_text
    where = run(
        [str(venv / "bin" / "python"), "-c", "import vmo_operator; print(vmo_operator.__file__)"], tmp_path
    )
    assert str(venv) in where.stdout
    rendered = run([vmo, "render", "-f", str(EXAMPLE)], cwd=tmp_path).stdout
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    kinds = {d["kind"] for d in docs}
    assert {"CustomResourceDefinition", "Deployment", "KubeVirt", "NetworkAttachmentDefinition"} <= kinds
    # Package data (the operand manifests) must ship in the wheel, not only in the source tree.
    assert any(d["kind"] == "CDI" for d in docs)
    # The local control plane ships too: its CLI, and the kwok stages as package data, found beside it.
    python = str(venv / "bin" / "python")
    usage = run([python, "-m", "vmo_operator.localenv", "--help"], cwd=tmp_path).stdout
    assert "--bin-dir" in usage
    stages = run(
        [python, "-c", "from vmo_operator.localenv import controlplane as c; print(c.STAGES_FILE.is_file())"],
        tmp_path,
    )
    assert stages.stdout.strip() == "True"
