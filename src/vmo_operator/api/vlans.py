"""VLAN id sets written as lists of ids and ranges (`["10", "20", "25-100"]`), and back.

One reading of the notation for the profile's validation, the rendered node-agent config and the
agent itself, so what admission accepts, what the operator renders and what a node applies agree.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence

MIN_VLAN = 1
MAX_VLAN = 4094
# One entry: an id or an inclusive range of ids, without leading zeros or spaces.
ENTRY = r"^[1-9][0-9]{0,3}(-[1-9][0-9]{0,3})?$"
_ENTRY = re.compile(ENTRY)


class VlanListError(ValueError):
    """A list entry that is malformed, out of range, reversed or overlapping another."""


def parse_entry(entry: str) -> tuple[int, int]:
    """`"25-100"` -> (25, 100), `"10"` -> (10, 10); raises VlanListError."""
    if not _ENTRY.match(entry):
        raise VlanListError(f"{entry!r} is not a VLAN id or range like 10 or 25-100")
    low, _, high = entry.partition("-")
    first, last = int(low), int(high or low)
    if not (MIN_VLAN <= first <= MAX_VLAN and MIN_VLAN <= last <= MAX_VLAN):
        raise VlanListError(f"{entry!r} is outside {MIN_VLAN}-{MAX_VLAN}")
    if first > last:
        raise VlanListError(f"{entry!r} is a reversed range")
    return first, last


def parse(entries: Sequence[str]) -> frozenset[int]:
    """Every VLAN id the entries name; raises VlanListError on a bad entry or an overlap."""
    ranges = sorted((parse_entry(e), e) for e in entries)
    for (previous, before), (current, entry) in itertools.pairwise(ranges):
        if current[0] <= previous[1]:
            raise VlanListError(f"{before!r} and {entry!r} overlap")
    return frozenset(v for (first, last), _ in ranges for v in range(first, last + 1))


def compress(vlans: Iterable[int]) -> list[str]:
    """The shortest entry list for a set of ids: {10, 11, 12, 20} -> ["10-12", "20"]."""
    out: list[str] = []
    ordered = sorted(set(vlans))
    start = 0
    for i, vlan in enumerate(ordered):
        if i + 1 == len(ordered) or ordered[i + 1] != vlan + 1:
            first = ordered[start]
            out.append(str(first) if first == vlan else f"{first}-{vlan}")
            start = i + 1
    return out


def _bounds(var: str) -> tuple[str, str]:
    """CEL for the first and last id of an entry held in `var`."""
    parts = f"{var}.split('-')"
    return f"int({parts}[0])", f"int({parts}[size({parts}) - 1])"


def cel_entries_in_range() -> str:
    """CEL over one entry (`self`): inside 1-4094 and not reversed (the pattern checked its shape)."""
    low, high = _bounds("self")
    return f"!self.matches('{ENTRY}') || ({low} >= {MIN_VLAN} && {high} <= {MAX_VLAN} && {low} <= {high})"


def cel_no_overlap() -> str:
    """CEL over the list (`self`): each entry overlaps exactly one entry, itself."""
    a_low, a_high = _bounds("a")
    b_low, b_high = _bounds("b")
    well_formed = f"self.all(e, e.matches('{ENTRY}'))"
    overlap = f"self.all(a, self.exists_one(b, {a_low} <= {b_high} && {b_low} <= {a_high}))"
    return f"!{well_formed} || {overlap}"
