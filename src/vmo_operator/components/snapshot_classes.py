"""The snapshot component's VolumeSnapshotClasses: one or more per CSI driver, labelled for Velero.

Backups of VMs (Velero's CSI support) and VM snapshots need, for the provisioner of every storage
class a VM disk lives on, a VolumeSnapshotClass with that driver. This module renders the classes
the profile lists and works out, from what the cluster holds, which storage classes no class
serves. It is pure: the snapshot component hands it the facts its queries found.

Velero picks, per driver, the first VolumeSnapshotClass in its list that carries its label (the
value is not read), so exactly one class per driver is labelled: the one marked isDefault, else
the first listed. A class of the same name that someone else created is never overwritten.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from vmo_operator.api.models import SnapshotControllerSpec, VolumeSnapshotClassSpec
from vmo_operator.api.models.operands import VELERO_CLASS_LABEL
from vmo_operator.components import _workloads as w
from vmo_operator.kube.objects import Manifest, is_ours

GROUP = "snapshot.storage.k8s.io"
DEFAULT_CLASS_ANNOTATION = "snapshot.storage.kubernetes.io/is-default-class"


@dataclass(frozen=True, order=True)
class LiveClass:
    """A VolumeSnapshotClass found in the cluster."""

    name: str
    driver: str
    ours: bool


@dataclass(frozen=True)
class StorageFacts:
    """What the cluster holds that decides whether snapshots of VM disks can work."""

    classes: tuple[LiveClass, ...] = ()
    storage_classes: tuple[tuple[str, str], ...] = ()  # (name, provisioner)


def storage_facts(snapshot_classes: Iterable[Manifest], storage_classes: Iterable[Manifest]) -> StorageFacts:
    return StorageFacts(
        classes=tuple(
            sorted(
                LiveClass(str(c["metadata"]["name"]), str(c.get("driver", "")), is_ours(c))
                for c in snapshot_classes
            )
        ),
        storage_classes=tuple(
            sorted((str(s["metadata"]["name"]), str(s.get("provisioner", ""))) for s in storage_classes)
        ),
    )


def foreign_names(spec: SnapshotControllerSpec, facts: StorageFacts | None) -> list[str]:
    """Classes the profile lists whose name someone else's class already holds: left alone."""
    if facts is None:
        return []
    theirs = {c.name for c in facts.classes if not c.ours}
    return [c.name for c in spec.snapshot_classes() if c.name in theirs]


def wanted(spec: SnapshotControllerSpec, facts: StorageFacts | None) -> list[VolumeSnapshotClassSpec]:
    """The listed classes this round writes: all but those whose name a foreign class holds."""
    skipped = set(foreign_names(spec, facts))
    return [c for c in spec.snapshot_classes() if c.name not in skipped]


def velero_labelled(classes: Sequence[VolumeSnapshotClassSpec]) -> set[str]:
    """Per driver, the one class Velero should pick: its default, else the first listed."""
    chosen: dict[str, str] = {}
    for c in classes:
        if c.is_default:
            chosen[c.driver] = c.name
    for c in classes:
        chosen.setdefault(c.driver, c.name)
    return set(chosen.values())


def render(spec: SnapshotControllerSpec, facts: StorageFacts | None) -> list[Manifest]:
    classes = wanted(spec, facts)
    labelled = velero_labelled(classes)
    out = []
    for vsc in classes:
        annotations = {DEFAULT_CLASS_ANNOTATION: "true"} if vsc.is_default else None
        labels = {VELERO_CLASS_LABEL: "true"} if vsc.name in labelled else None
        obj: dict[str, Any] = {
            "apiVersion": f"{GROUP}/v1",
            "kind": "VolumeSnapshotClass",
            "metadata": w.meta(vsc.name, labels=labels, annotations=annotations),
            "driver": vsc.driver,
            "deletionPolicy": vsc.deletion_policy,
        }
        if vsc.parameters:
            obj["parameters"] = dict(sorted(vsc.parameters.items()))
        out.append(obj)
    return out


def uncovered(facts: StorageFacts, rendered: Iterable[Manifest]) -> list[str]:
    """StorageClasses whose provisioner no VolumeSnapshotClass serves, counting the ones just written."""
    drivers = {c.driver for c in facts.classes}
    drivers |= {str(obj.get("driver", "")) for obj in rendered if obj.get("kind") == "VolumeSnapshotClass"}
    return [name for name, provisioner in facts.storage_classes if provisioner not in drivers]
