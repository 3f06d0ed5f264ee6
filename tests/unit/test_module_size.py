"""Modules of one idea: none in src/ over 400 lines, none of the kopf wiring (operator/) over about 300.

Issue 10's limits, checked so a growing module is split when it grows, not found later.
"""

from __future__ import annotations

from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "vmo_operator"
LIMIT = 400
OPERATOR_LIMIT = 310  # "about 300"


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines())


def test_no_source_module_is_over_the_limit() -> None:
    over = {str(p.relative_to(SRC)): n for p in SRC.rglob("*.py") if (n := _lines(p)) > LIMIT}
    assert over == {}, f"split these modules (over {LIMIT} lines): {over}"


def test_no_operator_module_is_over_its_limit() -> None:
    operator = SRC / "operator"
    over = {str(p.relative_to(SRC)): n for p in operator.rglob("*.py") if (n := _lines(p)) > OPERATOR_LIMIT}
    assert over == {}, f"split these operator modules (over {OPERATOR_LIMIT} lines): {over}"
