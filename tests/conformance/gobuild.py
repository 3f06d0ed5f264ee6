"""Small Go programs built against one upstream release, so a check can run upstream's own code.

A program is a directory of our own Go source (e.g. `policydecode/`) that imports a few packages
of an upstream module. It is built in a throwaway module that requires that upstream release and
copies the release's own non-local `replace` lines (a replace is ignored for a dependency, so
they must be repeated). Builds are cached under `~/.cache/vmo-operator/conformance/`, keyed on
the release, our source and this file, like the control-plane builds of hack/testenv.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.conformance import upstream

CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vmo-operator" / "conformance"
_REPLACE = re.compile(r"^\s*(?:replace\s+)?(\S+)(?:\s+\S+)?\s+=>\s+(\S+)\s+(v\S+)\s*$")


def _go_mod(program: str, module: str, version: str) -> str:
    text = (upstream.module_dir(module, version) / "go.mod").read_text()
    go = re.search(r"^go\s+(\S+)", text, re.M)
    lines = [f"module vmo.dev/conformance/{program}", "", f"go {go.group(1) if go else '1.24'}", ""]
    lines.append(f"require {module} {version}")
    in_block = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("replace ("):
            in_block = True
            continue
        if in_block and stripped == ")":
            in_block = False
            continue
        if (in_block or stripped.startswith("replace ")) and "=>" in stripped:
            match = _REPLACE.match(stripped)
            if match:  # a module path and a version: a local path (`=> ./x`) has no version
                lines.append(f"replace {match.group(1)} => {match.group(2)} {match.group(3)}")
    return "\n".join(lines) + "\n"


def build(program: str, module: str, version: str) -> Path:
    """The binary of `tests/conformance/<program>/` built against `module@version`."""
    source = Path(__file__).parent / program
    key = hashlib.sha256()
    for path in [*sorted(source.glob("*.go")), Path(__file__)]:
        key.update(path.read_bytes())
    out = CACHE / f"{program}-{version}-{key.hexdigest()[:16]}"
    binary = out / program
    if binary.exists():
        return binary
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE, prefix=f".{program}-") as scratch:
        work = Path(scratch)
        for path in source.glob("*.go"):
            shutil.copy(path, work / path.name)
        (work / "go.mod").write_text(_go_mod(program, module, version))
        env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"}
        for command in (
            ["go", "mod", "tidy"],
            ["nice", "go", "build", "-trimpath", "-ldflags=-s -w", "-o", str(work / program), "."],
        ):
            done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=1800)
            if done.returncode != 0:
                raise upstream.UpstreamUnavailableError(
                    f"building {program} against {module}@{version}: {' '.join(command)}: "
                    f"{done.stderr.strip()[-2000:]}"
                )
        staged = Path(tempfile.mkdtemp(dir=CACHE, prefix=f".{program}-out-"))
        shutil.move(str(work / program), staged / program)
        if out.exists():
            shutil.rmtree(out)
        staged.rename(out)
    return binary


def build_all() -> list[Path]:
    """Every program the conformance suite runs, at every release it runs it against.

    `make test` builds them in its set-up step, beside the other Go builds, so no conformance test
    waits on a cold Go build under its own timeout.
    """
    from vmo_operator.api import versions

    return [
        build("policydecode", upstream.DESCHEDULER, release)
        for release in sorted(versions.DESCHEDULER.proven.values())
    ]


if __name__ == "__main__":
    for binary in build_all():
        print(binary)
