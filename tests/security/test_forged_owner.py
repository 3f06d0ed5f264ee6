"""Issue 12, part 2: an ownerReference naming a VirtualMachine is a claim, not a pass.

A tenant may create bare VMIs. Only a VMI whose controller ownerReference names a VM that exists
in its namespace with that UID, and that carries that VM's MACs, is left to the VM; every other
VMI gets MACs, reservations and audit like a bare one. (A VMI whose owner UID exists nowhere is
soon deleted by the garbage collector, so the attacks that outlive admission name a real VM.)
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.support.macpool import (
    MacPool,
    await_fresh_audits,
    committed_to,
    once_duplicates_permitted,
    reserved_vm,
)
from tests.support.tenants import Tenant, grant_duplicates
from tests.support.vms import create_vm, create_vmi, denial, vmi_body, vmi_macs
from tests.support.waiting import eventually
from vmo_operator.macpool.reservation import CLAIM_ANNOTATION
from vmo_operator.macpool.settings import ALLOW_DUPLICATE_ANNOTATION

pytestmark = pytest.mark.integration


def collision_events(tenant: Tenant) -> set[str]:
    events = client.CoreV1Api(tenant.api).list_namespaced_event(tenant.namespace).items
    return {str(e.involved_object.name) for e in events if e.reason == "MACCollision"}


def test_a_ghost_vmi_cannot_carry_another_tenants_mac(
    macpool: MacPool, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    victim, mac = reserved_vm(macpool, tenant_a.api, tenant_a.namespace, "victim")
    forged = str(uuid.uuid4())
    for owner in (("victim", forged), ("victim", victim["metadata"]["uid"])):  # even with the real UID
        with pytest.raises(ApiException) as refused:
            create_vmi(tenant_b.api, tenant_b.namespace, vmi_body("ghost", {"nic": mac}, owner=owner))
        assert refused.value.status == 409
        assert "in use elsewhere in the cluster" in denial(refused.value)
    assert committed_to(macpool, mac, victim["metadata"]["uid"])


def test_naming_the_tenants_own_vm_does_not_lend_a_mac_that_vm_lacks(
    macpool: MacPool, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    _, mac = reserved_vm(macpool, tenant_a.api, tenant_a.namespace, "victim")
    own = create_vm(tenant_b.api, tenant_b.namespace, "own", {"nic": None})
    owner = ("own", own["metadata"]["uid"])
    with pytest.raises(ApiException) as refused:
        create_vmi(tenant_b.api, tenant_b.namespace, vmi_body("own", {"nic": mac}, owner=owner))
    assert refused.value.status == 409


def test_a_vmi_choosing_its_own_mac_under_a_real_owner_is_reserved_like_a_bare_vmi(
    macpool: MacPool, tenant_b: Tenant
) -> None:
    # The owner is real (a forged UID would have the garbage collector delete the VMI), the MAC is
    # not the VM's: the VMI is no longer invisible, its MAC is reserved for it.
    own, own_mac = reserved_vm(macpool, tenant_b.api, tenant_b.namespace, "own")
    chosen = "0e:" + ":".join(f"{b:02x}" for b in uuid.uuid4().bytes[:5])
    ghost = create_vmi(
        tenant_b.api,
        tenant_b.namespace,
        vmi_body("ghost", {"nic": chosen}, owner=("own", own["metadata"]["uid"])),
    )
    assert vmi_macs(ghost) == {"nic": chosen}
    eventually(
        lambda: committed_to(macpool, chosen, ghost["metadata"]["uid"]),
        timeout=30,
        what="the ghost VMI holds its MAC",
    )
    assert committed_to(macpool, own_mac, own["metadata"]["uid"])


def test_the_audit_counts_a_ghost_vmi_admitted_as_a_permitted_duplicate(
    macpool: MacPool, api_client: Any, duplicates_role: None, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    _, mac = reserved_vm(macpool, tenant_a.api, tenant_a.namespace, "victim")
    own, _ = reserved_vm(macpool, tenant_b.api, tenant_b.namespace, "own")
    grant_duplicates(api_client, tenant_b, tenant_b.namespace)
    body = vmi_body(
        "ghost",
        {"nic": mac},
        owner=("own", own["metadata"]["uid"]),
        annotations={ALLOW_DUPLICATE_ANNOTATION: "true"},
    )
    once_duplicates_permitted(lambda: create_vmi(tenant_b.api, tenant_b.namespace, body))
    eventually(
        lambda: "ghost" in collision_events(tenant_b), timeout=60, what="MACCollision event on the ghost"
    )


def test_the_vmi_a_vm_started_is_left_to_its_vm(macpool: MacPool, tenant_b: Tenant) -> None:
    vm, mac = reserved_vm(macpool, tenant_b.api, tenant_b.namespace, "real")
    # What virt-controller creates: the VM's name and UID as controller, the template's MACs.
    started = create_vmi(
        tenant_b.api,
        tenant_b.namespace,
        vmi_body("real", {"nic": mac}, owner=("real", vm["metadata"]["uid"])),
    )
    assert vmi_macs(started) == {"nic": mac}
    assert CLAIM_ANNOTATION not in (started["metadata"].get("annotations") or {})  # no admission work
    await_fresh_audits(macpool)
    assert committed_to(macpool, mac, vm["metadata"]["uid"])  # the VM, not the VMI, holds it
    assert "real" not in collision_events(tenant_b)
