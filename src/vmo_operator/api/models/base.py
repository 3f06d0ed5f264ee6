"""The building blocks of the VMOProfile API: the API's coordinates, patterns, CEL helpers and field types.

Every model module builds on these, so a pattern or a rule is written once for pydantic and the CRD.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from vmo_operator.api import versions

GROUP = "vmo.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "VMOProfile"
PLURAL = "vmoprofiles"
SINGULAR = "vmoprofile"
SHORT_NAMES = ("vmop",)

# The pseudo-gate that stands for "CPU hotplug": not a KubeVirt gate but a set of config fields.
CPU_HOTPLUG = "CPUHotplug"
DEFAULT_KUBEVIRT_GATES: tuple[str, ...] = (
    "LiveMigration",
    "Snapshot",
    "HotplugVolumes",
    "VMExport",
    "ExpandDisks",
    "HotplugNICs",
    "VMLiveUpdateFeatures",
    CPU_HOTPLUG,
)
MAC_PREFIXES: tuple[str, ...] = ("02", "06", "0A", "0E")

DNS1123_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS1123_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
QUALIFIED_NAME = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
GATE_NAME = r"^[A-Za-z][A-Za-z0-9]*$"
GO_DURATION = r"^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$"
QUANTITY = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$"
REGISTRY = r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]([a-z0-9._-]*[a-z0-9])?)*$"
OVERHEAD = r"^(0(\.[0-9]{1,3})?|1(\.0{1,3})?)$"
BRIDGE_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$"
CSI_DRIVER = r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
CLUSTER_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"
HTTP_URL = r"^https?://[^\s]+$"


def cel(rule: str, message: str, field_path: str | None = None) -> dict[str, str]:
    """One `x-kubernetes-validations` entry; `fieldPath` makes the API server name the field."""
    entry = {"rule": rule, "message": message}
    if field_path:
        entry["fieldPath"] = field_path
    return entry


def schema_extra(*rules: dict[str, str], **more: Any) -> dict[str, Any]:
    out: dict[str, Any] = dict(more)
    if rules:
        out["x-kubernetes-validations"] = list(rules)
    return out


def require_unique(items: Sequence[str], what: str) -> None:
    seen: set[str] = set()
    for item in items:
        if item in seen:
            raise ValueError(f"duplicate {what} {item!r}")
        seen.add(item)


def _in_range(rng: versions.SupportedVersions) -> AfterValidator:
    def check(value: str) -> str:
        if not rng.contains(value):
            raise ValueError(rng.error())
        return value

    return AfterValidator(check)


def _version_field(rng: versions.SupportedVersions) -> Any:
    return Field(
        max_length=32,
        description=(
            f"{rng.component} release to install, as a tag like {rng.default}. Supported minors: "
            f"{rng.described}. The default is pinned per operator release; a profile keeps the version it "
            "was created with until you change it."
        ),
        json_schema_extra=schema_extra(cel(f"self.matches('{rng.regex}')", rng.error())),
    )


KubeVirtVersion = Annotated[str, _in_range(versions.KUBEVIRT), _version_field(versions.KUBEVIRT)]
CDIVersion = Annotated[str, _in_range(versions.CDI), _version_field(versions.CDI)]
MultusVersion = Annotated[str, _in_range(versions.MULTUS), _version_field(versions.MULTUS)]
DeschedulerVersion = Annotated[str, _in_range(versions.DESCHEDULER), _version_field(versions.DESCHEDULER)]
SnapshotVersion = Annotated[
    str, _in_range(versions.SNAPSHOT_CONTROLLER), _version_field(versions.SNAPSHOT_CONTROLLER)
]

Namespace = Annotated[str, Field(min_length=1, max_length=63, pattern=DNS1123_LABEL)]
GateName = Annotated[str, Field(min_length=1, max_length=64, pattern=GATE_NAME)]
LabelKey = Annotated[str, Field(min_length=1, max_length=317, pattern=QUALIFIED_NAME)]
LabelValue = Annotated[str, Field(max_length=63, pattern=LABEL_VALUE)]


class Model(BaseModel):
    # strict: YAML `vlan: "10"` must fail here exactly as it fails in the API server.
    # forbid: a misspelt field would be pruned silently by the API server; say so instead.
    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="forbid",
        frozen=True,
        strict=True,
    )


def registry_field(default_registry: str) -> Any:
    return Field(
        default=None,
        max_length=253,
        pattern=REGISTRY,
        description=(
            f"Image registry (and optional path) to pull this component's images from instead of "
            f"{default_registry}, for air-gapped clusters. Image names and tags are kept, e.g. "
            "registry.example.com:5000/mirror."
        ),
    )
