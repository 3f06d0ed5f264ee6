"""Which KubeVirt CR configuration fields each supported KubeVirt release has, for the profile's
optional settings that map onto them.

A field the configured release lacks is not written (an older virt-operator would ignore it, and a
setting silently ignored is worse than one refused), and the component's status names it with the
release that brought it. Like `api.featuregates`, this table is a fact about upstream:
tests/conformance/test_kubevirt.py checks it against upstream's KubeVirt CRD schema at every
release that proves a supported minor.

Source: the Go types of kubevirt.io/api at v1.4.1, v1.5.3, v1.6.1, v1.7.0, v1.8.4 and v1.9.0
(core/v1/types.go: KubeVirtConfiguration, DeveloperConfiguration, KSMConfiguration,
CommonInstancetypesDeployment; at v1.4.1 and v1.5.3, which the proxy serves only as part of
kubevirt.io/kubevirt, its manifests/generated/kv-resource.yaml). Every field
below is present in all of them, so no supported release lacks one today; they are older than
v1.4, the oldest supported minor, and are recorded as available from there (`OLDEST`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from vmo_operator.api import versions

Version = tuple[int, int]
OLDEST: Version = (versions.KUBEVIRT.major, versions.KUBEVIRT.minors[0])


@dataclass(frozen=True)
class ConfigField:
    """One profile setting and the KubeVirt CR field it is written to."""

    setting: str  # where the profile holds it, e.g. "spec.kubevirt.density.cpuAllocationRatio"
    path: tuple[str, ...]  # under the KubeVirt CR's spec
    since: Version  # the first KubeVirt minor whose CR has the field

    @property
    def cr_path(self) -> str:
        return "spec." + ".".join(self.path)


_DEV = ("configuration", "developerConfiguration")
VM_STATE_STORAGE_CLASS = ConfigField(
    "spec.kubevirt.vmStateStorageClass", ("configuration", "vmStateStorageClass"), OLDEST
)
MEMORY_OVERCOMMIT = ConfigField(
    "spec.kubevirt.density.memoryOvercommitPercent", (*_DEV, "memoryOvercommit"), OLDEST
)
CPU_ALLOCATION_RATIO = ConfigField(
    "spec.kubevirt.density.cpuAllocationRatio", (*_DEV, "cpuAllocationRatio"), OLDEST
)
KSM = ConfigField("spec.kubevirt.density.ksm", ("configuration", "ksmConfiguration"), OLDEST)
USE_EMULATION = ConfigField("spec.kubevirt.useEmulation", (*_DEV, "useEmulation"), OLDEST)
# Its deployment gate (CommonInstancetypesDeploymentGate) is GA from before v1.4, so the field
# alone decides (kubevirt v1.4.1 pkg/virt-config/deprecation/feature-gates.go).
COMMON_INSTANCETYPES = ConfigField(
    "spec.kubevirt.commonInstancetypes.enabled",
    ("configuration", "commonInstancetypesDeployment"),
    OLDEST,
)

FIELDS: tuple[ConfigField, ...] = (
    VM_STATE_STORAGE_CLASS,
    MEMORY_OVERCOMMIT,
    CPU_ALLOCATION_RATIO,
    KSM,
    USE_EMULATION,
    COMMON_INSTANCETYPES,
)


def has(field: ConfigField, version: str) -> bool:
    """Whether KubeVirt `version` (e.g. "v1.5.3") has `field` in its CR."""
    return versions.parse(version)[:2] >= field.since


def missing(version: str, in_use: Iterable[ConfigField]) -> list[ConfigField]:
    """The fields of `in_use` that KubeVirt `version` lacks, in table order."""
    used = set(in_use)
    return [field for field in FIELDS if field in used and not has(field, version)]


def described(field: ConfigField) -> str:
    """How a status message names a field the configured release lacks."""
    major, minor = field.since
    return f"{field.setting} (KubeVirt {field.cr_path}, from v{major}.{minor})"
