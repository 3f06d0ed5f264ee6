"""The real snapshot-controller (v8.6.0) under the RBAC this project renders for it.

The component's objects are installed as the engine would install them (CRDs, ClusterRole, the
leader-election Role, the default VolumeSnapshotClass), and the controller runs as a process with
the rendered Deployment's args and credentials of the rendered ServiceAccount, so RBAC gives it
exactly what we render. There is no CSI driver here, so the test asserts on what the snapshot
controller itself does for a VolumeSnapshot of a bound PVC (external-snapshotter
pkg/common-controller): it picks the default class for the PV's driver, protects the PVC with a
finalizer, creates `snapcontent-<snapshot uid>` with the PV's volume handle, the class's driver
and deletion policy, and binds the VolumeSnapshot to it. Its log must hold no 403: the
group-snapshot informers once retried a forbidden list for 30 s.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from tests.conformance import upstream
from tests.support.kube import apply_crd_files
from tests.support.operands import RealOperand, install_rendered, rendered_workload, running
from tests.support.waiting import eventually
from vmo_operator.kube.objects import Manifest
from vmo_operator.localenv.controlplane import ControlPlane

pytestmark = pytest.mark.integration

GROUP, VERSION = "snapshot.storage.k8s.io", "v1"
VERSION_UNDER_TEST = "v8.6.0"
PVC_FINALIZER = "snapshot.storage.kubernetes.io/pvc-as-source-protection"
LEASE = "snapshot-controller-leader"


@pytest.fixture
def driver(namespace: str) -> str:
    """A CSI driver name of this test's own, so its default class is the only one for it."""
    return f"{namespace}.csi.vmo.test"


@pytest.fixture
def rendered(api_client: Any, namespace: str, driver: str) -> list[Manifest]:
    """The component installed, with a default VolumeSnapshotClass for this test's driver."""
    spec = {
        "snapshotController": {
            "mode": "Enabled",
            "version": VERSION_UNDER_TEST,
            "volumeSnapshotClass": {
                "name": f"class-{namespace}",
                "driver": driver,
                "deletionPolicy": "Retain",
                "isDefault": True,
            },
        }
    }
    return install_rendered(api_client, "snapshotController", spec)


@pytest.fixture
def group_snapshot_crds(api_client: Any) -> Iterator[list[str]]:
    """Upstream's groupsnapshot.storage.k8s.io CRDs (client/v8 at the same release), from the module cache.

    This project does not install them; an admin who wants group snapshots adds them and turns the
    controller's CSIVolumeGroupSnapshot gate on, and then our RBAC must be enough.
    """
    crd_dir = upstream.module_dir(upstream.SNAPSHOTTER_CLIENT, VERSION_UNDER_TEST) / "config" / "crd"
    names = apply_crd_files(api_client, sorted(crd_dir.glob("groupsnapshot.storage.k8s.io_*.yaml")))
    yield names
    for name in names:
        client.ApiextensionsV1Api(api_client).delete_custom_resource_definition(name)


@pytest.fixture
def cleanup(api_client: Any, namespace: str) -> Iterator[None]:
    """After the controller has stopped: drop the finalizers a CSI sidecar would have cleared."""
    yield
    custom: Any = client.CustomObjectsApi(api_client)
    core: Any = client.CoreV1Api(api_client)
    no_finalizers = {"metadata": {"finalizers": None}}
    snapshots = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, "volumesnapshots")["items"]
    for vs in snapshots:  # the snapshots go first, so no controller re-creates a content for them
        name = vs["metadata"]["name"]
        custom.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, "volumesnapshots", name, no_finalizers
        )
        custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, "volumesnapshots", name)
    eventually(
        lambda: (
            not custom.list_namespaced_custom_object(GROUP, VERSION, namespace, "volumesnapshots")["items"]
        ),
        what="VolumeSnapshots gone",
    )
    for vs in snapshots:
        content = vs.get("status", {}).get("boundVolumeSnapshotContentName")
        if content:
            custom.patch_cluster_custom_object(
                GROUP, VERSION, "volumesnapshotcontents", content, no_finalizers
            )
            custom.delete_cluster_custom_object(GROUP, VERSION, "volumesnapshotcontents", content)
    for pvc in core.list_namespaced_persistent_volume_claim(namespace).items:
        core.patch_namespaced_persistent_volume_claim(pvc.metadata.name, namespace, no_finalizers)
        if pvc.spec.volume_name:
            core.delete_persistent_volume(pvc.spec.volume_name)


def _controller(control_plane: ControlPlane, rendered: list[Manifest], *extra_args: str) -> RealOperand:
    """The controller as the rendered Deployment runs it, under the rendered ServiceAccount."""
    workload = rendered_workload(rendered, "Deployment", "snapshot-controller")
    assert "--leader-election=true" in workload.args  # as upstream's Deployment
    return RealOperand(
        "snapshot-controller",
        control_plane,
        workload.namespace,
        workload.service_account,
        args=[*workload.args, *extra_args, "--kubeconfig={kubeconfig}"],
        # In a pod the namespace comes from the downward API; leader election uses it.
        env={**workload.env, "POD_NAMESPACE": workload.namespace},
    )


def _bound_pvc(api_client: Any, namespace: str, driver: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A PV with a CSI source, pre-bound to a PVC; the PV controller (KCM) binds the pair."""
    core: Any = client.CoreV1Api(api_client)
    pv_name = f"pv-{namespace}"
    core.create_persistent_volume(
        {
            "metadata": {"name": pv_name},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": "",
                "csi": {"driver": driver, "volumeHandle": f"handle-{namespace}"},
                "claimRef": {"namespace": namespace, "name": "disk"},
            },
        }
    )
    core.create_namespaced_persistent_volume_claim(
        namespace,
        {
            "metadata": {"name": "disk"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
                "storageClassName": "",
                "volumeName": pv_name,
            },
        },
    )
    pvc = eventually(
        lambda: _if(core.read_namespaced_persistent_volume_claim("disk", namespace), "Bound"),
        timeout=60,
        what="PVC disk Bound",
    )
    return core.read_persistent_volume(pv_name).to_dict(), pvc.to_dict()


def _if(obj: Any, phase: str) -> Any:
    return obj if obj.status.phase == phase else None


@pytest.mark.usefixtures("cleanup")
def test_snapshot_of_a_bound_pvc_gets_a_bound_content(
    control_plane: ControlPlane, api_client: Any, rendered: list[Manifest], namespace: str, driver: str
) -> None:
    with running(_controller(control_plane, rendered)) as operand:
        _snapshot_is_bound(operand, api_client, namespace, driver)


@pytest.mark.usefixtures("cleanup", "group_snapshot_crds")
def test_group_snapshot_feature_runs_under_the_rendered_rbac(
    control_plane: ControlPlane, api_client: Any, rendered: list[Manifest], namespace: str, driver: str
) -> None:
    """With the gate on, the controller lists and watches the three group-snapshot kinds at start-up.

    Before the conformance fix the ClusterRole had no groupsnapshot rules: the controller retried
    the forbidden list for 30 s and exited.
    """
    gate = "--feature-gates=CSIVolumeGroupSnapshot=true"
    with running(_controller(control_plane, rendered, gate)) as operand:
        _snapshot_is_bound(operand, api_client, namespace, driver)
        assert "volumegroupsnapshot" in operand.log().lower(), "the group-snapshot informers did not start"


def _snapshot_is_bound(
    snapshot_controller: RealOperand, api_client: Any, namespace: str, driver: str
) -> None:
    custom: Any = client.CustomObjectsApi(api_client)
    pv, _ = _bound_pvc(api_client, namespace, driver)
    created = custom.create_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        "volumesnapshots",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "VolumeSnapshot",
            "metadata": {"name": "snap"},
            # No class named: the controller must pick the default class for the PV's driver.
            "spec": {"source": {"persistentVolumeClaimName": "disk"}},
        },
    )
    uid = created["metadata"]["uid"]

    def bound() -> dict[str, Any] | None:
        snapshot_controller.check_alive()
        vs: dict[str, Any] = custom.get_namespaced_custom_object(
            GROUP, VERSION, namespace, "volumesnapshots", "snap"
        )
        return vs if vs.get("status", {}).get("boundVolumeSnapshotContentName") else None

    vs = eventually(bound, timeout=90, what="VolumeSnapshot bound to a VolumeSnapshotContent")
    content_name = vs["status"]["boundVolumeSnapshotContentName"]
    assert content_name == f"snapcontent-{uid}"
    assert vs["spec"]["volumeSnapshotClassName"] == f"class-{namespace}"
    # Nothing took a snapshot (no CSI driver), so the controller must not call it ready.
    assert vs["status"].get("readyToUse") is False

    content = custom.get_cluster_custom_object(GROUP, VERSION, "volumesnapshotcontents", content_name)
    spec = content["spec"]
    assert spec["source"] == {"volumeHandle": pv["spec"]["csi"]["volume_handle"]}
    assert spec["driver"] == driver
    assert spec["volumeSnapshotClassName"] == f"class-{namespace}"
    assert spec["deletionPolicy"] == "Retain"
    assert spec["sourceVolumeMode"] == "Filesystem"  # --prevent-volume-mode-conversion (default on)
    ref = spec["volumeSnapshotRef"]
    assert (ref["kind"], ref["namespace"], ref["name"], ref["uid"]) == (
        "VolumeSnapshot",
        namespace,
        "snap",
        uid,
    )

    core: Any = client.CoreV1Api(api_client)
    pvc = core.read_namespaced_persistent_volume_claim("disk", namespace)
    assert PVC_FINALIZER in (pvc.metadata.finalizers or [])

    coordination: Any = client.CoordinationV1Api(api_client)
    lease = coordination.read_namespaced_lease(LEASE, "kube-system")
    assert lease.spec.holder_identity, "the controller ran without holding its leader lease"
