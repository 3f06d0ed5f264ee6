"""Reviewed deviations from upstream: every finding of a conformance check needs an entry here.

A check reports `Finding`s (an object and one atom or field, e.g. `broader: create events` or
`container descheduler: args --feature-gates`). A finding fails its test unless an entry of
`tests/conformance/allowlist/<component>.yaml` names the same object and item for that release and
gives the reason. An entry that matches no finding at a release it names is stale and fails too,
so the list only ever holds deviations that exist.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

HERE = Path(__file__).parent / "allowlist"


@dataclass(frozen=True, order=True)
class Finding:
    object: str  # "Kind/name"
    item: str  # the atom or field, with what is wrong about it

    def __str__(self) -> str:
        return f"{self.object}: {self.item}"


@dataclass(frozen=True)
class Entry:
    object: str
    item: str
    versions: tuple[str, ...]
    reason: str

    def matches(self, release: str, finding: Finding) -> bool:
        return release in self.versions and (finding.object, finding.item) == (self.object, self.item)


@functools.cache
def entries(component: str) -> tuple[Entry, ...]:
    path = HERE / f"{component}.yaml"
    if not path.exists():
        return ()
    raw = yaml.safe_load(path.read_text()) or []
    out = []
    for item in raw:
        if not (item.get("reason") or "").strip():
            raise ValueError(f"{path.name}: entry {item!r} gives no reason")
        out.append(Entry(item["object"], item["item"], tuple(item["versions"]), item["reason"]))
    return tuple(out)


def unexplained(component: str, release: str, findings: Iterable[Finding]) -> list[Finding]:
    """The findings at `release` that no allowlist entry explains."""
    allowed = entries(component)
    return sorted(f for f in findings if not any(e.matches(release, f) for e in allowed))


def stale(component: str, findings: Mapping[str, Iterable[Finding]]) -> list[str]:
    """Entries that match nothing at some release they name (`findings`: release -> all findings)."""
    seen = {release: set(found) for release, found in findings.items()}
    out = []
    for entry in entries(component):
        for release in entry.versions:
            if release not in seen:
                out.append(f"{entry.object}: {entry.item} names {release}, which is not a proven release")
            elif not any(entry.matches(release, f) for f in seen[release]):
                out.append(f"{entry.object}: {entry.item} matches nothing at {release}")
    return out


def report(findings: Iterable[Finding]) -> str:
    return "\n".join(f"  {f}" for f in findings)
