"""`vmo` as an admin runs it (issue 13, problem 7): one clear line without a cluster, and a `--help`
that does not load the operator to print a list of commands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

VMO = Path(sys.executable).with_name("vmo")


def test_status_without_a_kubeconfig_is_one_clear_line(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # no KUBECONFIG, no ~/.kube, no cluster
    done = subprocess.run([str(VMO), "status"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: no Kubernetes configuration")
    assert "KUBECONFIG" in lines[0]
    assert "Traceback" not in done.stderr


def test_help_loads_neither_the_operator_nor_its_libraries() -> None:
    heavy = ("kopf", "kubernetes", "pydantic", "yaml", "structlog", "vmo_operator.operator")
    script = (
        "import sys\n"
        "from vmo_operator import cli\n"
        "try:\n"
        "    cli.main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r} or m in {heavy!r}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert "run" in done.stdout
    assert "status" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout
    # And each subcommand's help still lists its own options.
    run_help = subprocess.run(
        [str(VMO), "run", "--help"], capture_output=True, text=True, check=True, timeout=120
    )
    assert "--log-level" in run_help.stdout


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "vmoprofile.yaml"


def test_images_lists_the_example_profiles_pulls_without_loading_the_operator() -> None:
    script = (
        "import sys\n"
        "from vmo_operator import cli\n"
        f"code = cli.main(['images', '-f', {str(EXAMPLE)!r}, '--registry', 'mirror.example:5000'])\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('kopf', 'kubernetes')), code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    lines = done.stdout.strip().splitlines()
    assert lines[-1] == "[] 0", done.stdout
    names = lines[:-1]
    assert names == sorted(set(names))
    assert "mirror.example:5000/kubevirt/virt-launcher:v1.9.0" in names
    assert "mirror.example:5000/kubevirt/cdi-importer:v1.65.0" in names
    assert all(name.startswith("mirror.example:5000/") for name in names)


def test_images_of_a_missing_file_is_one_clear_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(VMO), "images", "-f", str(tmp_path / "nope.yaml")], capture_output=True, text=True, timeout=120
    )
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.strip().splitlines() == [
        f"error: cannot read {tmp_path / 'nope.yaml'}: No such file or directory"
    ]
