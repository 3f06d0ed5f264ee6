"""Files generated from the code (CRDs, reference docs, RBAC): write them, or check they are current.

Each generator module supplies a mapping of repository-relative paths to expected content; this
module gives them the same `--write` / `--check` command line, so a stale file fails the same way
(and names the command that fixes it) whichever generator owns it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

GeneratedFiles = Callable[[], Mapping[Path, str]]


def repository_root() -> Path:
    # src/vmo_operator/api/generated.py -> repository root
    return Path(__file__).resolve().parents[3]


def stale(files: Mapping[Path, str], root: Path) -> list[Path]:
    """The paths whose content under `root` differs from what the code generates."""
    return [path for path, text in files.items() if _read(root / path) != text]


def _read(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.exists() else None


def main(
    *,
    module: str,
    description: str,
    files: GeneratedFiles,
    printed: Callable[[], str],
    argv: list[str] | None = None,
) -> int:
    """`python -m <module> [--write | --check] [--root DIR]`; without a flag, print `printed()`."""
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=description)
    parser.add_argument("--write", action="store_true", help="write the generated files")
    parser.add_argument("--check", action="store_true", help="exit 1 if a generated file is stale")
    parser.add_argument("--root", type=Path, default=None, help="repository root (default: this checkout)")
    args = parser.parse_args(argv)
    root = args.root or repository_root()
    if args.write:
        for path, text in files().items():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_text(text, encoding="utf-8")
            print(f"wrote {path}")
        return 0
    if args.check:
        outdated = stale(files(), root)
        for path in outdated:
            print(f"stale: {path} (run: python -m {module} --write)", file=sys.stderr)
        return 1 if outdated else 0
    sys.stdout.write(printed())
    return 0
