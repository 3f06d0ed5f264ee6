"""Pinned operand versions and the ranges this operator is tested against.

The API validates `spec.<component>.version` against these ranges (in pydantic and, through CEL,
in the API server), and the components render images from the same defaults. Keeping both in one
table means a bump of a default cannot drift away from what the schema accepts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass


def parse(version: str) -> tuple[int, int, int]:
    """`"v1.9.0"` -> `(1, 9, 0)`; raises ValueError on anything else."""
    match = re.fullmatch(r"v?(\d+)\.(\d+)\.(\d+)", version)
    if match is None:
        raise ValueError(f"not a semantic version: {version!r}")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


@dataclass(frozen=True)
class SupportedVersions:
    """The minors of one operand this operator supports, each proven by one served release.

    A minor is supported only when the conformance suite (tests/conformance) checks the rendered
    manifests against upstream's own source at `proven[minor]`, a release the Go module proxy
    serves. Any patch of a proven minor is accepted; minors the suite cannot read are not.
    """

    component: str
    major: int
    proven: Mapping[int, str]  # minor -> the release whose source proves it, e.g. 9 -> "v1.9.0"
    default: str

    def __post_init__(self) -> None:
        for minor, release in self.proven.items():
            if parse(release)[:2] != (self.major, minor):
                raise ValueError(f"{self.component}: {release} does not prove v{self.major}.{minor}")
        if parse(self.default)[1] not in self.proven:
            raise ValueError(f"{self.component}: default {self.default} is not a proven minor")

    @property
    def minors(self) -> tuple[int, ...]:
        return tuple(sorted(self.proven))

    @property
    def regex(self) -> str:
        # Minors spelled out as alternatives, and `[.]` rather than a backslash escape, so the same
        # expression is valid in Python, RE2 and inside a CEL string literal.
        minors = "|".join(str(m) for m in self.minors)
        return f"^v{self.major}[.]({minors})[.](0|[1-9][0-9]*)$"

    @property
    def described(self) -> str:
        return ", ".join(f"v{self.major}.{minor}.x" for minor in self.minors)

    def contains(self, version: str) -> bool:
        return re.fullmatch(self.regex, version) is not None

    def error(self) -> str:
        return (
            f"{self.component} version must be one of the supported minors {self.described} "
            f"(e.g. {self.default})"
        )


# Which releases the Go module proxy serves decides what can be proven (probe of 2026-11-30; see the
# README's support table). CDI v1.62-v1.64 and v1.66, descheduler v0.32 and v0.34, and
# snapshot-controller v8.0 have no served release, so they are not supported. Descheduler v0.33
# is dropped too: the proxy answers v0.33.0's .info and .mod (so a `go list` probe lists it) but
# refuses its source zip, so no check can read it.
KUBEVIRT = SupportedVersions(
    "KubeVirt",
    1,
    {4: "v1.4.1", 5: "v1.5.3", 6: "v1.6.1", 7: "v1.7.0", 8: "v1.8.4", 9: "v1.9.0"},
    "v1.9.0",
)
CDI = SupportedVersions("CDI", 1, {61: "v1.61.1", 65: "v1.65.0"}, "v1.65.0")
MULTUS = SupportedVersions("Multus", 4, {0: "v4.0.2", 1: "v4.1.4", 2: "v4.2.4"}, "v4.2.4")
# EvictionsInBackground (needed so KubeVirt's 429 "migration started" is not retried) exists from v0.32.
DESCHEDULER = SupportedVersions("descheduler", 0, {35: "v0.35.1", 36: "v0.36.0"}, "v0.36.0")
SNAPSHOT_CONTROLLER = SupportedVersions(
    "snapshot-controller",
    8,
    {1: "v8.1.0", 2: "v8.2.0", 3: "v8.3.0", 4: "v8.4.0", 5: "v8.5.0", 6: "v8.6.0"},
    "v8.6.0",
)

ALL: tuple[SupportedVersions, ...] = (KUBEVIRT, CDI, MULTUS, DESCHEDULER, SNAPSHOT_CONTROLLER)
