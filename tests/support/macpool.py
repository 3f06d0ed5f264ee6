"""The MAC allocator as the integration and security tests run it: two `vmo run` replicas serving
the webhooks on one loopback port, a test profile with every operand off, and upstream's
VirtualMachine API (the CRDs the real virt-operator registers, see `install_vm_api`).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.support.kube import cluster_uid, manifest
from tests.support.operator import OperatorProcess, bind_operator_identity
from tests.support.vms import create_vm, install_vm_api, vm_macs, webhook_operator
from tests.support.waiting import eventually
from vmo_operator.localenv.controlplane import ControlPlane
from vmo_operator.localenv.processes import free_port
from vmo_operator.macpool import mac as macs
from vmo_operator.macpool.admission_config import CONFIGURATION_NAME
from vmo_operator.macpool.reservation import GROUP, PLURAL, VERSION, Reservation

PROFILE = ("vmo.dev", "v1alpha1", "vmoprofiles")
PROFILE_NAME = "macpool-test"
GRACE_SECONDS = 3
RESYNC_SECONDS = 1


def admissions(replica: OperatorProcess, webhook: str) -> float:
    """How many admission requests of `webhook` this replica allowed (from its /metrics)."""
    prefix = f'vmo_macpool_admission_duration_seconds_count{{result="allowed",webhook="{webhook}"}}'
    return sum(value for key, value in replica.metrics().items() if key.startswith(prefix))


@dataclass
class MacPool:
    api: Any
    replicas: list[OperatorProcess]
    port: int
    cluster: tuple[int, int]
    scratch: str = ""
    extra: list[OperatorProcess] = field(default_factory=list)

    @property
    def custom(self) -> Any:
        return client.CustomObjectsApi(self.api)

    def reservations(self) -> dict[str, Reservation]:
        items = self.custom.list_cluster_custom_object(GROUP, VERSION, PLURAL)["items"]
        return {r.mac.reservation_name: r for r in map(Reservation.from_object, items)}

    def reservation(self, mac: str) -> Reservation | None:
        return self.reservations().get(macs.parse(mac).reservation_name)

    def stored(self, mac: str) -> Reservation:
        """The reservation a test expects to exist."""
        found = self.reservation(mac)
        assert found is not None, f"no reservation for {mac}"
        return found


def admission_ready(pool: MacPool) -> bool:
    """The webhooks answer through the API server: a dry-run create comes back with a MAC."""
    created = create_vm(pool.api, pool.scratch, f"probe-{uuid.uuid4().hex[:6]}", {"nic": None}, dry_run=True)
    return bool(vm_macs(created).get("nic"))


def put_profile(api: Any, spec: dict[str, Any]) -> None:
    """The test profile with every operand off, so only the MAC pool acts on it."""
    full = {
        "kubevirt": {"enabled": False},
        "cdi": {"enabled": False},
        "multus": {"enabled": False},
        "descheduler": {"enabled": False},
        # The MAC tests leave VMs behind; they must not hold the profile's deletion.
        "uninstallStrategy": "RemoveWorkloads",
        **spec,
    }
    custom = client.CustomObjectsApi(api)
    body = {
        "apiVersion": "vmo.dev/v1alpha1",
        "kind": "VMOProfile",
        "metadata": {"name": PROFILE_NAME},
        "spec": full,
    }
    try:
        custom.create_cluster_custom_object(*PROFILE, body)
    except ApiException as exc:
        if exc.status != 409:
            raise
        custom.patch_cluster_custom_object(*PROFILE, PROFILE_NAME, {"spec": spec})


def committed_to(pool: MacPool, mac: str, uid: str) -> bool:
    reservation = pool.reservation(mac)
    return reservation is not None and reservation.state == "Committed" and reservation.holder.uid == uid


@contextlib.contextmanager
def running_macpool(
    control_plane: ControlPlane, api_client: Any, logs: Path, *, mac_pool: dict[str, Any] | None = None
) -> Iterator[MacPool]:
    """Two webhook replicas on one port, answering through the API server, torn down afterwards.

    `mac_pool` is the profile's `spec.macPool` (the release grace period defaults to a short one).
    """
    install_vm_api(api_client, control_plane.kubeconfig)
    core = client.CoreV1Api(api_client)
    uid = cluster_uid(api_client)
    put_profile(api_client, {"macPool": {"releaseGracePeriodSeconds": GRACE_SECONDS, **(mac_pool or {})}})
    scratch = f"macpool-scratch-{uuid.uuid4().hex[:6]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=scratch)))

    kubeconfig = bind_operator_identity(control_plane)
    port = free_port()
    replicas = [
        webhook_operator(kubeconfig, log, port=port, resync_seconds=RESYNC_SECONDS).start()
        for log in (logs / "replica-0.log", logs / "replica-1.log")
    ]
    pool = MacPool(api_client, replicas, port, macs.cluster_octets(uid), scratch)
    try:
        eventually(lambda: admission_ready(pool), timeout=90, what="MAC webhook answering via the API server")
        yield pool
    finally:
        # Remove the profile while replicas still run, so its finalizer is handled by them and
        # no later test inherits a half-deleted profile.
        custom = client.CustomObjectsApi(api_client)
        with contextlib.suppress(ApiException):
            custom.delete_cluster_custom_object(*PROFILE, PROFILE_NAME)
        eventually(
            lambda: (
                PROFILE_NAME
                not in {
                    p["metadata"]["name"]
                    for p in manifest(custom.list_cluster_custom_object(*PROFILE))["items"]
                }
            ),
            timeout=60,
            what="test profile removed",
        )
        for replica in [*pool.replicas, *pool.extra]:
            replica.stop()
        for replica in [*pool.replicas, *pool.extra]:
            print(f"\n--- {replica.log_path.name} ---\n{replica.log_tail()}")
        admission = client.AdmissionregistrationV1Api(api_client)
        with contextlib.suppress(ApiException):
            admission.delete_mutating_webhook_configuration(CONFIGURATION_NAME)
        with contextlib.suppress(ApiException):
            admission.delete_validating_webhook_configuration(CONFIGURATION_NAME)
        with contextlib.suppress(ApiException):
            custom.delete_cluster_custom_object(*PROFILE, PROFILE_NAME)
        with contextlib.suppress(ApiException):
            core.delete_namespace(scratch)
