"""`spec.goldenImages`: boot-source disks imported once, or refreshed on a schedule, for VMs to clone.

They live in spec.vmNamespaces.goldenImageNamespace (one source of truth for where golden images
are: the VM namespaces' clone permission points at it). CDI does the importing: a scheduled source
becomes a DataImportCron, which CDI only runs against a container registry, so a schedule needs a
`docker://` URL; an unscheduled one a DataVolume and a DataSource naming it.
"""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from vmo_operator.api.models.base import (
    DNS1123_LABEL,
    DNS1123_SUBDOMAIN,
    QUANTITY,
    REGISTRY,
    Model,
    cel,
    require_unique,
    schema_extra,
)

MAX_SOURCES = 16
# CDI's DataImportCron names the DataVolumes it imports `<cron>-<12 hex digits>` (a label value and a
# DNS label), and the DataVolume of an unscheduled source is `<name>-<8 hex digits>`: 40 leaves room.
MAX_NAME = 40
REGISTRY_URL = r"^docker://[^\s]+$"
SOURCE_URL = r"^(docker|https?)://[^\s/]+(/[^\s]*)?$"
# A standard 5-field cron expression or a descriptor, as CDI parses it (robfig/cron ParseStandard).
CRON = (
    r"^(@(yearly|annually|monthly|weekly|daily|hourly)|"
    r"[0-9*/,?LW#A-Za-z-]+( [0-9*/,?LW#A-Za-z-]+){4})$"
)


class GoldenImageSource(Model):
    """One golden image: a disk imported from a registry or HTTP(S) URL into the golden-image
    namespace, published as a DataSource of the same name (VMs clone it with
    dataVolumeTemplates[].spec.sourceRef: {kind: DataSource, namespace, name})."""

    model_config = Model.model_config | {
        "json_schema_extra": schema_extra(
            cel(
                "!has(self.schedule) || self.url.startsWith('docker://')",
                "schedule: only a docker:// (registry) source can be refreshed on a schedule; CDI's "
                "DataImportCron does not import from HTTP",
                ".schedule",
            ),
            cel(
                "!has(self.importsToKeep) || has(self.schedule)",
                "importsToKeep: only a scheduled source keeps several imports",
                ".importsToKeep",
            ),
        )
    }

    name: str = Field(
        min_length=1,
        max_length=MAX_NAME,
        pattern=DNS1123_LABEL,
        description=(
            f"Name of the DataSource VMs clone from (a DNS label of at most {MAX_NAME} characters), "
            "e.g. fedora."
        ),
    )
    url: str = Field(
        min_length=1,
        max_length=1024,
        pattern=SOURCE_URL,
        description=(
            "Where the disk comes from: docker://registry/repository:tag (a containerDisk image; "
            "spec.goldenImages.registry redirects it to a mirror) or http(s)://host/path (a qcow2, raw "
            "or compressed image)."
        ),
    )
    schedule: str | None = Field(
        default=None,
        max_length=64,
        pattern=CRON,
        description=(
            "Cron schedule (5 fields, e.g. '0 3 * * 0', or @daily) on which CDI looks for a newer "
            "image and imports it (a DataImportCron). Only for docker:// sources. Unset: imported once."
        ),
    )
    imports_to_keep: int | None = Field(
        default=None,
        ge=1,
        le=32,
        description="Scheduled sources: how many imported disks CDI keeps (CDI's default is 3).",
    )
    size: str = Field(
        min_length=1,
        max_length=32,
        pattern=QUANTITY,
        description="Size of the disk to import into, e.g. 10Gi; at least the image's virtual size.",
    )
    storage_class: str | None = Field(
        default=None,
        max_length=253,
        pattern=DNS1123_SUBDOMAIN,
        description="StorageClass of the imported disk. Unset: the cluster's default (CDI picks it).",
    )

    @model_validator(mode="after")
    def _schedule_needs_registry(self) -> GoldenImageSource:
        if self.schedule is not None and not self.url.startswith("docker://"):
            raise ValueError(
                "schedule: only a docker:// (registry) source can be refreshed on a schedule; CDI's "
                "DataImportCron does not import from HTTP"
            )
        if self.imports_to_keep is not None and self.schedule is None:
            raise ValueError("importsToKeep: only a scheduled source keeps several imports")
        return self


class GoldenImagesSpec(Model):
    """Golden images (boot sources) imported by CDI into spec.vmNamespaces.goldenImageNamespace, which
    every VM namespace may clone from. A removed source's imported disks are kept, never deleted
    (released: status.goldenImages lists them), an unscheduled one's DataSource is deleted, and a
    scheduled one's DataImportCron is deleted while CDI keeps its DataSource (retentionPolicy All).
    status.goldenImages shows each import's state and last success."""

    sources: list[GoldenImageSource] = Field(
        default_factory=list,
        max_length=MAX_SOURCES,
        description=f"The golden images, at most {MAX_SOURCES}, each with a unique name.",
        # A map keyed by name: the API server refuses a duplicate name itself, naming the entry.
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    registry: str | None = Field(
        default=None,
        max_length=253,
        pattern=REGISTRY,
        description=(
            "Mirror to import docker:// sources from instead of their own registry, for air-gapped "
            "clusters: the registry host is replaced and the repository path kept "
            "(docker://quay.io/containerdisks/fedora:41 with mirror.example.com:5000 imports "
            "docker://mirror.example.com:5000/containerdisks/fedora:41), as `vmo images --registry` "
            "prints them. HTTP sources are not changed."
        ),
    )

    @field_validator("sources")
    @classmethod
    def _unique_names(cls, value: list[GoldenImageSource]) -> list[GoldenImageSource]:
        require_unique([source.name for source in value], "golden image name")
        return value
