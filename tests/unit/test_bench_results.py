"""`make bench` results: a partial run (`--only`) updates its own rows of the last full table."""

from __future__ import annotations

import json
from pathlib import Path

from bench.run import merged


def row(name: str, value: float) -> dict[str, object]:
    return {"name": name, "value": value}


def test_a_partial_run_replaces_its_rows_in_place_and_keeps_the_rest(tmp_path: Path) -> None:
    latest = tmp_path / "latest.json"
    latest.write_text(json.dumps({"time": "t0", "rows": [row("a", 1), row("b", 2), row("c", 3)]}))
    first = merged({"time": "t1", "rows": [row("b", 20), row("new", 9)]}, latest)
    assert first["time"] == "t0"  # the full table's own time
    assert first["rows"] == [row("a", 1), row("b", 20), row("c", 3), row("new", 9)]
    assert first["updated"] == {"b": "t1", "new": "t1"}
    latest.write_text(json.dumps(first))
    second = merged({"time": "t2", "rows": [row("c", 30)]}, latest)
    assert second["rows"] == [row("a", 1), row("b", 20), row("c", 30), row("new", 9)]
    assert second["updated"] == {"b": "t1", "new": "t1", "c": "t2"}


def test_without_a_table_yet_the_partial_run_is_the_table(tmp_path: Path) -> None:
    record = {"time": "t1", "rows": [row("a", 1)]}
    assert merged(record, tmp_path / "absent.json") == record
