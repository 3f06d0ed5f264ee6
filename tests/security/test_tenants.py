"""The suite's premise holds: a tenant is an ordinary `edit` user, confined to its namespace."""

from __future__ import annotations

import pytest
from kubernetes.client.exceptions import ApiException

from tests.support.macpool import MacPool
from tests.support.tenants import Tenant
from tests.support.vms import create_vm, vm_macs
from vmo_operator.macpool import mac as macs

pytestmark = pytest.mark.integration


def test_an_edit_tenant_creates_vms_at_home_and_nowhere_else(
    macpool: MacPool, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    vm = create_vm(tenant_a.api, tenant_a.namespace, "home", {"nic": None})
    assert isinstance(macs.check(vm_macs(vm)["nic"]), macs.Mac)
    with pytest.raises(ApiException) as denied:
        create_vm(tenant_a.api, tenant_b.namespace, "abroad", {"nic": None})
    assert denied.value.status == 403
    assert not tenant_a.can("create", "macreservations", "macpool.vmo.dev")
    assert not tenant_a.can("escalate", "clusterroles", "rbac.authorization.k8s.io")
