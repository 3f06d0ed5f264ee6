"""Reviewed differences from upstream: `tests/conformance/allowlist/<component>.yaml`.

A rendered manifest may be broader than upstream's, or shaped differently, only where an entry
names the object (kind/name), the RBAC atom or the field, the minors it applies to, and a one-line
reason. Entries that match nothing are stale and fail the suite, so the list cannot outlive the
difference it excuses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

DIRECTORY = Path(__file__).parent / "allowlist"


@dataclass(frozen=True)
class Entry:
    kind: str
    name: str
    what: str  # an RBAC atom as `rbac.Atom.__str__` prints it, or a field path
    versions: tuple[str, ...]  # minors, e.g. ("v1.61", "v1.65")
    reason: str

    def applies(self, version: str) -> bool:
        return minor_of(version) in self.versions


def minor_of(version: str) -> str:
    """`"v1.65.0"` -> `"v1.65"`."""
    return ".".join(version.split(".")[:2])


def load(component: str) -> list[Entry]:
    path = DIRECTORY / f"{component}.yaml"
    if not path.exists():
        return []
    entries: list[Entry] = []
    for raw in yaml.safe_load(path.read_text()) or []:
        what = raw.get("atom") or raw.get("field")
        if not (raw.get("kind") and raw.get("name") and what and raw.get("versions") and raw.get("reason")):
            raise ValueError(f"{path}: an entry needs kind, name, atom or field, versions and reason: {raw}")
        entries.append(
            Entry(str(raw["kind"]), str(raw["name"]), str(what), tuple(raw["versions"]), str(raw["reason"]))
        )
    return entries


def unexcused(found: set[tuple[str, str, str]], entries: list[Entry], version: str) -> list[str]:
    """The (kind, name, what) differences no entry for `version` excuses, printed."""
    excused = {(e.kind, e.name, e.what) for e in entries if e.applies(version)}
    return sorted(f"{kind}/{name}: {what}" for kind, name, what in found - excused)


def stale(found: set[tuple[str, str, str]], entries: list[Entry], version: str) -> list[str]:
    """Entries for `version` that excuse nothing found."""
    return sorted(
        f"{e.kind}/{e.name}: {e.what}"
        for e in entries
        if e.applies(version) and (e.kind, e.name, e.what) not in found
    )
