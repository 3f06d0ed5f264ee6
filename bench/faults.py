"""Benchmark of recovery from an API server restart, measured the way the fault test asserts it
(tests/support/faults.py): kube-apiserver restarts while two operator replicas reconcile a profile
change and VMs are being created through the MAC webhook."""

from __future__ import annotations

import contextlib
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from bench.core import Bench, Row, available
from tests.support.faults import restart_apiserver_under_load
from tests.support.kube import PROFILE, get_profile, manifest
from tests.support.vms import list_vms
from tests.support.waiting import eventually

PROFILE_NAME = "bench-restart"
NAMESPACE = "bench-restart"


def _put(api: Any, spec: dict[str, Any]) -> int:
    custom = client.CustomObjectsApi(api)
    live = manifest(custom.get_cluster_custom_object(*PROFILE, PROFILE_NAME))
    live["spec"] = spec
    replaced = manifest(custom.replace_cluster_custom_object(*PROFILE, PROFILE_NAME, live))
    return int(replaced["metadata"]["generation"])


def restart_rows(bench: Bench) -> list[Row]:
    api = bench.api
    bench.use_replicas(2)
    custom = client.CustomObjectsApi(api)
    core = client.CoreV1Api(api)
    with contextlib.suppress(ApiException):
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE)))
    # The snapshot controller's upstream minReadySeconds (35 s) has nothing to do with recovery.
    spec: dict[str, Any] = {
        "snapshotController": {"mode": "Disabled"},
        "uninstallStrategy": "RemoveWorkloads",
    }
    body = {"apiVersion": "vmo.dev/v1alpha1", "kind": "VMOProfile", "metadata": {"name": PROFILE_NAME}}
    custom.create_cluster_custom_object(*PROFILE, body | {"spec": spec})
    eventually(lambda: available(api, PROFILE_NAME), timeout=300, what="restart profile Available")

    def change_before() -> None:
        spec["kubevirt"] = {"featureGates": {"add": ["CPUManager"]}}
        _put(api, spec)

    def change_after() -> int:
        spec["descheduler"] = {"interval": "90s"}
        return _put(api, spec)

    recovery, creator = restart_apiserver_under_load(
        bench.plane,
        api,
        namespace=NAMESPACE,
        change_before=change_before,
        change_after=change_after,
        available=lambda generation: available(api, PROFILE_NAME, generation),
    )
    creator.stop()
    without_macs = creator.without_valid_macs()
    replicas_alive = all(r.alive() for r in bench.replicas)

    for vm in list_vms(api):
        with contextlib.suppress(ApiException):
            custom.delete_namespaced_custom_object(
                "kubevirt.io", "v1", vm["metadata"]["namespace"], "virtualmachines", vm["metadata"]["name"]
            )
    custom.delete_cluster_custom_object(*PROFILE, PROFILE_NAME)
    eventually(lambda: get_profile(api, PROFILE_NAME) is None, timeout=300, what="restart profile removed")
    return [
        Row(
            "API server restart: recovery after it is back",
            round(recovery.recovery, 2),
            "s",
            "informational",
            ok=None if replicas_alive and not without_macs else False,
            note=(
                f"kube-apiserver down and up again in {recovery.outage:.1f} s; then a profile change was "
                f"Available after {recovery.profile:.1f} s and VM creates were admitted after "
                f"{recovery.vm_create:.1f} s; {recovery.created} VMs created, {recovery.failed_attempts} "
                f"attempts refused during the outage, {len(without_macs)} admitted without MACs; "
                f"replicas alive without restart: {replicas_alive}"
            ),
        )
    ]
