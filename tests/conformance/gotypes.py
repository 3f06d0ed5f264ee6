"""The JSON fields of a Go struct, read from its source: for configs decoded with encoding/json.

Used where upstream decodes a config with plain `json.Unmarshal` (which ignores unknown keys and
matches names case-insensitively), so "decodes strictly" means: every key we write is exactly a
json tag of the struct(s) that read it, with a value of the Go type's JSON kind.
"""

from __future__ import annotations

import re
from pathlib import Path

_FIELD = re.compile(r'^\s*\w+\s+(\S+)\s+`[^`]*json:"([^",]*)[^`]*`')
JSON_KINDS = {"string": str, "bool": bool, "int": int, "*int": int, "int64": int, "uint": int}


def struct_fields(path: Path, name: str) -> dict[str, str]:
    """`{json name: Go type}` of `type <name> struct` in `path` (fields tagged `json:"-"` left out)."""
    text = path.read_text()
    start = re.search(rf"^type {re.escape(name)} struct {{\n", text, re.M)
    if start is None:
        raise LookupError(f"{path}: no struct {name}")
    end = text.index("\n}", start.end())
    out = {}
    for line in text[start.end() : end].splitlines():
        match = _FIELD.match(line)
        if match and match.group(2) not in ("", "-"):
            out[match.group(2)] = match.group(1)
    return out


def undecodable(config: dict[str, object], fields: dict[str, str]) -> list[str]:
    """Keys of `config` that are no field, or whose value is not of the field's JSON kind."""
    out = []
    for key, value in config.items():
        if key not in fields:
            out.append(f"{key}: no such field")
            continue
        kind = JSON_KINDS.get(fields[key])
        if kind is not None and not (
            isinstance(value, kind) and (kind is not int or not isinstance(value, bool))
        ):
            out.append(f"{key}: {value!r} is not a Go {fields[key]}")
    return out
