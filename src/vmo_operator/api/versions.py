"""Pinned operand versions and the ranges this operator is tested against.

The API validates `spec.<component>.version` against these ranges (in pydantic and, through CEL,
in the API server), and the components render images from the same defaults. Keeping both in one
table means a bump of a default cannot drift away from what the schema accepts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class VersionRange:
    """A supported range `v<major>.<min_minor>.0` up to any patch of `v<major>.<max_minor>`."""

    component: str
    major: int
    min_minor: int
    max_minor: int
    default: str

    @property
    def regex(self) -> str:
        # Minors spelled out as alternatives, and `[.]` rather than a backslash escape, so the same
        # expression is valid in Python, RE2 and inside a CEL string literal.
        minors = "|".join(str(m) for m in range(self.min_minor, self.max_minor + 1))
        return f"^v{self.major}[.]({minors})[.](0|[1-9][0-9]*)$"

    @property
    def described(self) -> str:
        return f"v{self.major}.{self.min_minor}.0 to v{self.major}.{self.max_minor}.x"

    def contains(self, version: str) -> bool:
        return re.fullmatch(self.regex, version) is not None

    def error(self) -> str:
        return (
            f"{self.component} version must be in the supported range {self.described} (e.g. {self.default})"
        )


KUBEVIRT = VersionRange("KubeVirt", 1, 4, 9, "v1.9.0")
CDI = VersionRange("CDI", 1, 61, 66, "v1.66.0")
MULTUS = VersionRange("Multus", 4, 0, 2, "v4.2.4")
# EvictionsInBackground (needed so KubeVirt's 429 "migration started" is not retried) exists from v0.32.
DESCHEDULER = VersionRange("descheduler", 0, 32, 36, "v0.34.0")
SNAPSHOT_CONTROLLER = VersionRange("snapshot-controller", 8, 0, 6, "v8.6.0")

ALL: tuple[VersionRange, ...] = (KUBEVIRT, CDI, MULTUS, DESCHEDULER, SNAPSHOT_CONTROLLER)


def parse(version: str) -> tuple[int, int, int]:
    """`"v1.9.0"` -> `(1, 9, 0)`; raises ValueError on anything else."""
    match = re.fullmatch(r"v?(\d+)\.(\d+)\.(\d+)", version)
    if match is None:
        raise ValueError(f"not a semantic version: {version!r}")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch
