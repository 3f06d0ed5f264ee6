"""Only the API server may call the MAC webhooks, and only with what it would send.

A caller who merely reaches a replica's port (a pod, a node, a tenant with cluster credentials)
posts AdmissionReviews straight to it. Each forged call is shown to be potent first: the same
review, presented with the API server's client certificate, does reserve MACs. Then without a
certificate, or with one from another CA, it is refused and nothing changes: no reservation is
created, and the victim's reservation keeps its holder and resourceVersion.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.support.macpool import MacPool, committed_to
from tests.support.tenants import Tenant
from tests.support.vms import create_vm, vm_macs
from tests.support.waiting import eventually
from tests.support.webhook_calls import ClientCertificate, WebhookCaller, admission_review, vm_in
from vmo_operator.localenv import pki
from vmo_operator.localenv.controlplane import ControlPlane
from vmo_operator.macpool import mac as macs
from vmo_operator.macpool.admission_config import MUTATE_VM, VALIDATE_VM
from vmo_operator.macpool.reservation import Reservation
from vmo_operator.macpool.settings import NAMESPACE_OPT_OUT_LABEL, NAMESPACE_OPT_OUT_VALUE

pytestmark = pytest.mark.integration


def held_in(pool: MacPool, namespace: str) -> list[Reservation]:
    return [r for r in pool.reservations().values() if r.holder.namespace == namespace]


def victim_vm(pool: MacPool, tenant: Tenant) -> tuple[str, Reservation]:
    """A VM the tenant created through the API server, and its Committed reservation."""
    vm = create_vm(tenant.api, tenant.namespace, "victim", {"nic": None})
    mac = vm_macs(vm)["nic"]
    eventually(lambda: committed_to(pool, mac, vm["metadata"]["uid"]), timeout=30, what="victim committed")
    return mac, pool.stored(mac)


def forged_reviews(attacker: str, victim_mac: str) -> dict[str, dict[str, Any]]:
    """Path -> a review that would reserve: the victim's MAC, and fresh MACs for new interfaces."""
    return {
        MUTATE_VM: admission_review(
            "CREATE", vm_in(attacker, "thief", {"stolen": victim_mac, "a": None, "b": None})
        ),
        VALIDATE_VM: admission_review("CREATE", vm_in(attacker, "thief", {"stolen": victim_mac})),
    }


def unchanged(pool: MacPool, mac: str, before: Reservation) -> bool:
    now = pool.stored(mac)
    return (now.holder, now.state, now.resource_version) == (
        before.holder,
        before.state,
        before.resource_version,
    )


def test_a_review_without_the_api_servers_certificate_is_refused_and_changes_nothing(
    macpool: MacPool, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    mac, before = victim_vm(macpool, tenant_a)
    anonymous = WebhookCaller(macpool.port)
    for path, review in forged_reviews(tenant_b.namespace, mac).items():
        status, answer = anonymous.post(path, review)
        assert status == 403, answer
    assert held_in(macpool, tenant_b.namespace) == []
    assert unchanged(macpool, mac, before)
    # The same kind of review from the API server does reserve: the refusal was about the caller.
    potent = admission_review("CREATE", vm_in(tenant_b.namespace, "control", {"nic": None}))
    status, answer = macpool.as_api_server().post(MUTATE_VM, potent)
    assert status == 200
    assert answer["response"]["allowed"], answer
    assert [r.holder.name for r in held_in(macpool, tenant_b.namespace)] == ["control"]


def test_a_client_certificate_from_another_ca_fails_the_handshake(
    macpool: MacPool, control_plane: ControlPlane, tenant_a: Tenant, tenant_b: Tenant, tmp_path: Path
) -> None:
    """The tenant's own cluster credentials: a certificate the cluster CA signed, as for any user."""
    mac, before = victim_vm(macpool, tenant_a)
    user = pki.CertificateAuthority.load(
        control_plane.ca_file.read_bytes(), (control_plane.pki_dir / "ca.key").read_bytes()
    ).issue(tenant_b.user, client=True)
    stranger = WebhookCaller(macpool.port, ClientCertificate.issued(user, tmp_path, "tenant-b"))
    for path, review in forged_reviews(tenant_b.namespace, mac).items():
        with pytest.raises((ssl.SSLError, ConnectionError)):
            stranger.post(path, review)
    assert held_in(macpool, tenant_b.namespace) == []
    assert unchanged(macpool, mac, before)


def test_unknown_paths_and_malformed_reviews_are_denied_without_side_effects(
    macpool: MacPool, tenant_b: Tenant
) -> None:
    api_server = macpool.as_api_server()
    review = admission_review("CREATE", vm_in(tenant_b.namespace, "odd", {"nic": None}))
    status, answer = api_server.post("macpool-unknown", review)
    assert status == 200
    assert answer["response"]["allowed"] is False
    assert answer["response"]["status"]["code"] == 404
    # A VM review at the VMI path, an UPDATE without its old object, an object from elsewhere.
    at_vmi_path = api_server.post("macpool-mutate-vmi", review)[1]
    update = admission_review("UPDATE", vm_in(tenant_b.namespace, "odd", {"nic": None}))
    elsewhere = admission_review("CREATE", vm_in(tenant_b.namespace, "odd", {"nic": None}))
    elsewhere["request"]["object"]["metadata"]["namespace"] = "kube-system"
    for denied in (
        at_vmi_path,
        api_server.post(MUTATE_VM, update)[1],
        api_server.post(MUTATE_VM, elsewhere)[1],
    ):
        assert denied["response"]["allowed"] is False, denied
    assert held_in(macpool, tenant_b.namespace) == []
    assert held_in(macpool, "kube-system") == []


@pytest.fixture
def opted_out(api_client: Any, tenant_b: Tenant) -> str:
    client.CoreV1Api(api_client).patch_namespace(
        tenant_b.namespace, {"metadata": {"labels": {NAMESPACE_OPT_OUT_LABEL: NAMESPACE_OPT_OUT_VALUE}}}
    )
    return tenant_b.namespace


@pytest.mark.parametrize("where", ["kube-system", "vmo-system", "opted-out"])
def test_a_review_for_a_namespace_the_webhooks_do_not_select_reserves_nothing(
    macpool: MacPool, opted_out: str, where: str
) -> None:
    """Even from the API server's certificate: the API server would not have sent it."""
    namespace = opted_out if where == "opted-out" else where
    interfaces: dict[str, str | None] = {f"nic{n}": None for n in range(500)}  # as in issue 12
    review = admission_review("CREATE", vm_in(namespace, "flood", interfaces))
    status, answer = macpool.as_api_server().post(MUTATE_VM, review)
    assert status == 200
    assert answer["response"]["allowed"], answer  # as if not called: the VM goes in untouched
    assert "patch" not in answer["response"]
    assert held_in(macpool, namespace) == []


def test_vm_creates_through_the_api_server_still_get_committed_macs(
    macpool: MacPool, tenant_a: Tenant
) -> None:
    vm = create_vm(tenant_a.api, tenant_a.namespace, "ordinary", {"a": None, "b": None})
    found = vm_macs(vm)
    assert all(isinstance(macs.check(mac), macs.Mac) for mac in found.values()), found
    uid = vm["metadata"]["uid"]
    eventually(
        lambda: all(committed_to(macpool, mac, uid) for mac in found.values()), timeout=30, what="committed"
    )


def test_readiness_answers_the_kubelet_which_presents_no_certificate(macpool: MacPool) -> None:
    status, answer = WebhookCaller(macpool.port).ready()
    assert (status, answer) == (200, {"result": "ok"})
