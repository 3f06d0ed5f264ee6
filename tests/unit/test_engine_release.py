"""Pruning an object marked for release takes the operator's fields off it and never deletes it."""

from __future__ import annotations

from typing import Any, cast

from vmo_operator.engine.apply import KindIndex, prune
from vmo_operator.kube import kinds
from vmo_operator.kube.client import FIELD_MANAGER, KubeClient
from vmo_operator.kube.kinds import Kind
from vmo_operator.kube.objects import (
    ON_PRUNE_ANNOTATION,
    RELEASE,
    RELEASE_AS_IS,
    RELEASED_LABEL,
    Manifest,
    ObjectKey,
    managed_labels,
)


class Calls:
    """The two writes pruning makes, recorded instead of sent."""

    field_manager = FIELD_MANAGER

    def __init__(self) -> None:
        self.applied: list[Manifest] = []
        self.deleted: list[tuple[str, str, str]] = []

    def apply(self, kind: Kind, obj: Manifest, *, dry_run: bool = False) -> Manifest:
        self.applied.append(obj)
        return obj

    def delete(self, kind: Kind, name: str, namespace: str = "") -> None:
        self.deleted.append((kind.kind, namespace, name))


def applied_by(manager: str, *annotations: str) -> list[dict[str, Any]]:
    """managedFields saying that `manager`'s server-side apply owns these annotations."""
    owned: dict[str, Any] = {f"f:{key}": {} for key in annotations}
    fields = {"f:metadata": {"f:annotations": owned}}
    return [{"manager": manager, "operation": "Apply", "fieldsType": "FieldsV1", "fieldsV1": fields}]


def live(
    kind: str, name: str, namespace: str = "", release: bool = False, marked_by: str = FIELD_MANAGER
) -> Manifest:
    meta: dict[str, Any] = {"name": name, "labels": {**managed_labels("vmNamespaces", "vmo"), "mine": "x"}}
    if namespace:
        meta["namespace"] = namespace
    if release:
        meta["annotations"] = {ON_PRUNE_ANNOTATION: RELEASE}
        meta["managedFields"] = applied_by(marked_by, ON_PRUNE_ANNOTATION)
    api_version = "v1" if kind == "Namespace" else "rbac.authorization.k8s.io/v1"
    return {"apiVersion": api_version, "kind": kind, "metadata": meta}


def test_a_released_namespace_is_applied_bare_and_its_binding_deleted() -> None:
    calls = Calls()
    namespace = live("Namespace", "vms", release=True)
    binding = live("RoleBinding", "vmo-vm-user", "vms")
    observed = {ObjectKey.of(namespace): namespace, ObjectKey.of(binding): binding}
    index = KindIndex([kinds.NAMESPACE, kinds.ROLE_BINDING])

    report = prune(cast(KubeClient, calls), index, [], observed)

    assert calls.deleted == [("RoleBinding", "vms", "vmo-vm-user")]
    assert calls.applied == [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "vms", "labels": {RELEASED_LABEL: "vmo"}},
        }
    ]
    assert {r.action for r in report.results} == {"deleted", "released"}
    assert observed == {}


def test_an_unmarked_namespace_is_still_deleted() -> None:
    calls = Calls()
    namespace = live("Namespace", "kubevirt")
    prune(cast(KubeClient, calls), KindIndex([kinds.NAMESPACE]), [], {ObjectKey.of(namespace): namespace})
    assert calls.deleted == [("Namespace", "", "kubevirt")]
    assert calls.applied == []


def test_a_data_volume_released_as_is_keeps_its_spec_and_loses_only_our_labels() -> None:
    """A golden image's DataVolume: CDI refuses spec changes, and its disk is users' data."""
    calls = Calls()
    spec = {"source": {"http": {"url": "https://example.com/x.img"}}, "storage": {}}
    dv: Manifest = {
        "apiVersion": kinds.DATA_VOLUME.api_version,
        "kind": "DataVolume",
        "metadata": {
            "name": "fedora-1234abcd",
            "namespace": "vmo-golden-images",
            "labels": managed_labels("goldenImages", "vmo"),
            "annotations": {ON_PRUNE_ANNOTATION: RELEASE_AS_IS},
            "managedFields": applied_by(FIELD_MANAGER, ON_PRUNE_ANNOTATION),
        },
        "spec": spec,
    }
    meta = {**dv["metadata"], "name": "fedora", "annotations": {}, "managedFields": []}
    source: Manifest = {**dv, "kind": "DataSource", "metadata": meta}
    observed = {ObjectKey.of(dv): dv, ObjectKey.of(source): source}
    index = KindIndex([kinds.DATA_VOLUME, kinds.DATA_SOURCE])

    report = prune(cast(KubeClient, calls), index, [], observed)

    assert calls.deleted == [("DataSource", "vmo-golden-images", "fedora")]
    assert calls.applied == [
        {
            "apiVersion": kinds.DATA_VOLUME.api_version,
            "kind": "DataVolume",
            "metadata": {
                "name": "fedora-1234abcd",
                "namespace": "vmo-golden-images",
                "labels": {RELEASED_LABEL: "vmo"},
            },
            "spec": spec,
        }
    ]
    assert {r.action for r in report.results} == {"deleted", "released"}
    assert observed == {}


def test_a_release_mark_someone_else_added_is_not_honoured() -> None:
    """A tenant who may edit a NetworkAttachmentDefinition must not keep it alive by annotating it."""
    calls = Calls()
    added_by_user = live("RoleBinding", "vmo-vm-user", "vms", release=True, marked_by="kubectl-annotate")
    observed = {ObjectKey.of(added_by_user): added_by_user}

    prune(cast(KubeClient, calls), KindIndex([kinds.ROLE_BINDING]), [], observed)

    assert calls.deleted == [("RoleBinding", "vms", "vmo-vm-user")]
    assert calls.applied == []
