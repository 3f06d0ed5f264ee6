"""The MAC allocator as the integration and security tests run it: two `vmo run` replicas serving
the webhooks on one loopback port, a test profile with every operand off, and upstream's
VirtualMachine API (the CRDs the real virt-operator registers, see `install_vm_api`).
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.support.kube import cluster_uid, manifest
from tests.support.operator import OperatorProcess, bind_operator_identity, start_all
from tests.support.vms import create_vm, denial, install_vm_api, vm_macs, webhook_operator
from tests.support.waiting import eventually
from tests.support.webhook_calls import ClientCertificate, WebhookCaller, api_server_certificate
from vmo_operator.localenv.controlplane import ControlPlane
from vmo_operator.localenv.processes import free_port
from vmo_operator.macpool import duplicates
from vmo_operator.macpool import mac as macs
from vmo_operator.macpool.admission_config import CONFIGURATION_NAME
from vmo_operator.macpool.reservation import GROUP, PLURAL, VERSION, Holder, Reservation

PROFILE = ("vmo.dev", "v1alpha1", "vmoprofiles")
PROFILE_NAME = "macpool-test"
GRACE_SECONDS = 3
# The replicas audit the reservations every second, so releases and collections come quickly; their
# profile reconcile (a LIST of every owned kind a round, which none of these tests waits on) runs at
# a slower resync.
AUDIT_SECONDS = 1
RESYNC_SECONDS = 10


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
    client_ca: Path  # only a client certificate this CA signed may call the replicas:
    api_server: ClientCertificate  # the API server's
    scratch: str = ""
    extra: list[OperatorProcess] = field(default_factory=list)

    @property
    def custom(self) -> Any:
        return client.CustomObjectsApi(self.api)

    def as_api_server(self) -> WebhookCaller:
        """Straight to the replicas' shared port, presenting the API server's client certificate."""
        return WebhookCaller(self.port, self.api_server)

    def reservations(self) -> dict[str, Reservation]:
        items = self.custom.list_cluster_custom_object(GROUP, VERSION, PLURAL)["items"]
        return {r.mac.reservation_name: r for r in map(Reservation.from_object, items)}

    def reservation(self, mac: str) -> Reservation | None:
        name = macs.parse(mac).reservation_name
        try:
            found = self.custom.get_cluster_custom_object(GROUP, VERSION, PLURAL, name)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return Reservation.from_object(found)

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


def audit_rounds(replica: OperatorProcess) -> float:
    return replica.metrics().get("vmo_macpool_audits_total", 0.0)


def await_fresh_audits(pool: MacPool) -> None:
    """Until a whole audit round that started after this call has run.

    Only the replica holding the GC lease audits, so one replica's count moves. A round that was
    under way when we looked may have listed the objects before the change the caller waits on,
    so it takes two completions, not one; should the lease move meanwhile, the new holder's two.
    """
    start = [audit_rounds(replica) for replica in pool.replicas]
    eventually(
        lambda: any(audit_rounds(r) >= n + 2 for r, n in zip(pool.replicas, start, strict=True)),
        timeout=60,
        what="two audit rounds on the GC lease holder",
    )


def applied_grace(replica: OperatorProcess) -> int | None:
    """The release grace period a replica last logged as in effect ("macpool settings ...")."""
    lines = [
        line
        for line in replica.log_path.read_text(errors="replace").splitlines()
        if "macpool settings" in line
    ]
    found = re.search(r"grace_seconds=(\d+)", lines[-1]) if lines else None
    return int(found.group(1)) if found else None


@contextlib.contextmanager
def release_grace(pool: MacPool, seconds: int) -> Iterator[None]:
    """The profile's releaseGracePeriodSeconds set to `seconds` on every replica, then put back.

    For tests whose quarantine must outlast their own steps on a slow machine.
    """

    def use(grace: int) -> None:
        put_profile(pool.api, {"macPool": {"releaseGracePeriodSeconds": grace}})
        eventually(
            lambda: all(applied_grace(r) == grace for r in pool.replicas),
            timeout=60,
            what=f"every replica using a {grace} s release grace period",
        )

    use(seconds)
    try:
        yield
    finally:
        use(GRACE_SECONDS)


def orphan(mac: macs.Mac, namespace: str, n: int) -> dict[str, Any]:
    """A Pending reservation, reserved now, that no object will ever carry: what a create that
    failed after admission leaves behind."""
    holder = Holder("VirtualMachine", namespace, f"never-{n}", claim=uuid.uuid4().hex[:16])
    return Reservation(mac, holder, "nic0", "Pending", datetime.now(UTC)).to_object()


def committed_to(pool: MacPool, mac: str, uid: str) -> bool:
    reservation = pool.reservation(mac)
    return reservation is not None and reservation.state == "Committed" and reservation.holder.uid == uid


def reserved_vm(pool: MacPool, api: Any, namespace: str, name: str) -> tuple[dict[str, Any], str]:
    """A VM with one interface, created with `api`, once its MAC is committed to it: the VM, the MAC."""
    vm = create_vm(api, namespace, name, {"nic": None})
    mac = vm_macs(vm)["nic"]
    eventually(
        lambda: committed_to(pool, mac, vm["metadata"]["uid"]), timeout=30, what=f"{name}'s MAC committed"
    )
    return vm, mac


def once_duplicates_permitted(create: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """`create()` of an allow-duplicate object, retried while the requester's new grant is not seen.

    A replica may hold a "not permitted" answer it cached a few seconds before the RoleBinding.
    """

    def attempt() -> dict[str, Any] | None:
        try:
            return create()
        except ApiException as exc:
            if exc.status == 409 and duplicates.VERB in denial(exc):
                return None
            raise

    return eventually(attempt, timeout=30, what="the permitted duplicate admitted")


@contextlib.contextmanager
def running_macpool(
    control_plane: ControlPlane, api_client: Any, logs: Path, *, mac_pool: dict[str, Any] | None = None
) -> Iterator[MacPool]:
    """Two webhook replicas on one port, answering only the API server, torn down afterwards.

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
    replicas = start_all(
        [
            webhook_operator(
                kubeconfig,
                log,
                port=port,
                resync_seconds=RESYNC_SECONDS,
                audit_seconds=AUDIT_SECONDS,
                client_ca=control_plane.webhook_client_ca,
            )
            for log in (logs / "replica-0.log", logs / "replica-1.log")
        ]
    )
    pool = MacPool(
        api_client,
        replicas,
        port,
        macs.cluster_octets(uid),
        control_plane.webhook_client_ca,
        api_server_certificate(control_plane),
        scratch,
    )
    try:
        eventually(lambda: admission_ready(pool), timeout=90, what="MAC webhook answering via the API server")
        yield pool
    finally:
        # Remove the profile while replicas still run, so its finalizer is handled by them and
        # no later test inherits a half-deleted profile.
        custom = client.CustomObjectsApi(api_client)
        try:
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
        finally:  # even when that failed: replicas left running outlive the control plane
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
