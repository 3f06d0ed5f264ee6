"""Issue 12, part 1: `allow-duplicate` is no longer a tenant's own licence to take a MAC.

Every attack runs as an `edit` tenant. The annotation counts only when an admin bound the shipped
`vmo-macpool-duplicates` ClusterRole to the requester in the VM's namespace.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from tests.support.macpool import MacPool, committed_to, once_duplicates_permitted, reserved_vm
from tests.support.tenants import Tenant, grant_duplicates
from tests.support.vms import create_vm, denial, vm_macs
from vmo_operator.macpool import duplicates
from vmo_operator.macpool.settings import ALLOW_DUPLICATE_ANNOTATION

pytestmark = pytest.mark.integration

ALLOW = {ALLOW_DUPLICATE_ANNOTATION: "true"}


def test_edit_does_not_carry_the_duplicates_permission(
    macpool: MacPool, duplicates_role: None, tenant_a: Tenant
) -> None:
    assert not tenant_a.can(duplicates.VERB, duplicates.RESOURCE, duplicates.GROUP)


def test_the_annotation_alone_does_not_take_another_tenants_mac(
    macpool: MacPool, duplicates_role: None, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    victim, mac = reserved_vm(macpool, tenant_a.api, tenant_a.namespace, "victim")
    with pytest.raises(ApiException) as refused:
        create_vm(tenant_b.api, tenant_b.namespace, "thief", {"nic": mac}, annotations=ALLOW)
    assert refused.value.status == 409
    message = denial(refused.value)
    for named in (ALLOW_DUPLICATE_ANNOTATION, duplicates.VERB, duplicates.RESOURCE, duplicates.CLUSTER_ROLE):
        assert named in message, named
    assert tenant_a.namespace not in message
    assert "victim" not in message
    assert committed_to(macpool, mac, victim["metadata"]["uid"])


def test_a_grant_in_another_namespace_does_not_count(
    macpool: MacPool, api_client: Any, duplicates_role: None, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    _, mac = reserved_vm(macpool, tenant_a.api, tenant_a.namespace, "victim")
    grant_duplicates(api_client, tenant_b, tenant_a.namespace)  # granted where B cannot create VMs
    with pytest.raises(ApiException) as refused:
        create_vm(tenant_b.api, tenant_b.namespace, "thief", {"nic": mac}, annotations=ALLOW)
    assert refused.value.status == 409
    assert duplicates.VERB in denial(refused.value)


def test_a_tenant_granted_the_role_in_its_namespace_may_duplicate_without_taking_the_reservation(
    macpool: MacPool, api_client: Any, duplicates_role: None, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    victim, mac = reserved_vm(macpool, tenant_a.api, tenant_a.namespace, "victim")
    grant_duplicates(api_client, tenant_b, tenant_b.namespace)
    name = f"imported-{uuid.uuid4().hex[:6]}"

    imported = once_duplicates_permitted(
        lambda: create_vm(tenant_b.api, tenant_b.namespace, name, {"nic": mac}, annotations=ALLOW)
    )
    assert vm_macs(imported)["nic"] == mac
    # Admitted as a duplicate: the victim keeps the reservation.
    assert committed_to(macpool, mac, victim["metadata"]["uid"])
    # Without the annotation the same tenant is still refused: the grant is not a blanket pass.
    with pytest.raises(ApiException) as refused:
        create_vm(tenant_b.api, tenant_b.namespace, "plain", {"nic": mac})
    assert refused.value.status == 409
