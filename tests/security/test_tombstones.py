"""Issue 12, part 4 and the second half of part 1: a freed MAC stays with its namespace.

A MAC released by namespace A is quarantined for every other namespace until the grace period
ends: an explicit MAC does not take it, and the audit does not hand it to a duplicate elsewhere.
A itself re-creates its VM from its own manifest. The grace period is raised for this module, so
the quarantine outlasts every step on a loaded machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from tests.support.macpool import (
    MacPool,
    await_fresh_audits,
    committed_to,
    once_duplicates_permitted,
    release_grace,
    reserved_vm,
)
from tests.support.tenants import Tenant, grant_duplicates
from tests.support.vms import create_vm, delete_vm, denial, vm_macs
from tests.support.waiting import eventually
from vmo_operator.macpool.settings import ALLOW_DUPLICATE_ANNOTATION

pytestmark = pytest.mark.integration

QUARANTINE_SECONDS = 3600


@pytest.fixture(scope="module")
def long_quarantine(macpool: MacPool) -> Iterator[None]:
    with release_grace(macpool, QUARANTINE_SECONDS):
        yield


def released_by(pool: MacPool, mac: str, namespace: str) -> bool:
    found = pool.reservation(mac)
    return found is not None and found.state == "Released" and found.holder.namespace == namespace


def deleted_victim(pool: MacPool, tenant: Tenant) -> tuple[dict[str, Any], str]:
    """Tenant's VM "victim", its MAC committed, then deleted: its manifest and MAC, now a tombstone."""
    vm, mac = reserved_vm(pool, tenant.api, tenant.namespace, "victim")
    delete_vm(tenant.api, tenant.namespace, "victim")
    eventually(lambda: released_by(pool, mac, tenant.namespace), timeout=30, what="victim's MAC released")
    return vm, mac


def recreate_from_manifest(pool: MacPool, tenant: Tenant, mac: str) -> None:
    """The victim's own manifest again (name and MAC): admitted, and the MAC is its again."""
    again = create_vm(tenant.api, tenant.namespace, "victim", {"nic": mac})
    assert vm_macs(again)["nic"] == mac
    eventually(
        lambda: committed_to(pool, mac, again["metadata"]["uid"]),
        timeout=30,
        what="re-created victim holds its MAC",
    )


def test_another_namespace_cannot_claim_a_just_released_mac(
    macpool: MacPool, long_quarantine: None, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    _, mac = deleted_victim(macpool, tenant_a)
    with pytest.raises(ApiException) as refused:
        create_vm(tenant_b.api, tenant_b.namespace, "taker", {"nic": mac})
    assert refused.value.status == 409
    message = denial(refused.value)
    assert "quarantined" in message
    assert tenant_a.namespace not in message
    assert released_by(macpool, mac, tenant_a.namespace)


def test_the_same_namespace_recreates_its_vm_from_its_manifest(
    macpool: MacPool, long_quarantine: None, tenant_a: Tenant
) -> None:
    _, mac = deleted_victim(macpool, tenant_a)
    recreate_from_manifest(macpool, tenant_a, mac)


def test_a_permitted_duplicate_elsewhere_does_not_inherit_the_released_mac(
    macpool: MacPool,
    api_client: Any,
    long_quarantine: None,
    duplicates_role: None,
    tenant_a: Tenant,
    tenant_b: Tenant,
) -> None:
    _, mac = reserved_vm(macpool, tenant_a.api, tenant_a.namespace, "victim")
    grant_duplicates(api_client, tenant_b, tenant_b.namespace)
    once_duplicates_permitted(
        lambda: create_vm(
            tenant_b.api,
            tenant_b.namespace,
            "dup",
            {"nic": mac},
            annotations={ALLOW_DUPLICATE_ANNOTATION: "true"},
        )
    )
    delete_vm(tenant_a.api, tenant_a.namespace, "victim")
    eventually(
        lambda: released_by(macpool, mac, tenant_a.namespace), timeout=30, what="victim's MAC released"
    )
    # The GC lease holder audits (and reconciles) with B's duplicate carrying the MAC: it adopts
    # nothing for B.
    await_fresh_audits(macpool)
    assert released_by(macpool, mac, tenant_a.namespace)
    recreate_from_manifest(macpool, tenant_a, mac)
