"""KubeVirt's removal takes the VirtualMachine API away, and a new profile brings it back.

The session's simulator keeps KubeVirt's CRDs across profiles, an economy of the test session
(hack/simulators/operands.py says why). Here it removes them as upstream's virt-operator does, so
once per session the operator meets the VM API vanishing under it and coming back.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from hack.simulators.operands import OperandSimulator
from tests.support.kube import PROFILE, condition, condition_of, get_profile
from tests.support.operator import OperatorProcess
from tests.support.profiles import SharedProfile
from tests.support.vms import VM_API, vm_body
from tests.support.waiting import eventually
from vmo_operator.kube import kinds
from vmo_operator.kube.client import KubeClient

pytestmark = pytest.mark.integration

VM_CRD = "virtualmachines.kubevirt.io"


@pytest.fixture
def upstream_removal(simulator: OperandSimulator) -> Iterator[OperandSimulator]:
    """The simulator removes KubeVirt's CRDs with the KubeVirt CR, as virt-operator does."""
    simulator.keep_workload_crds = False
    yield simulator
    simulator.keep_workload_crds = True


def _vm_api_served(api: Any) -> bool:
    crd = KubeClient(api).get(kinds.CRD, VM_CRD)
    if crd is None or crd["metadata"].get("deletionTimestamp"):
        return False
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)


def test_the_vm_api_goes_with_kubevirt_and_a_new_profile_brings_it_back_to_a_working_operator(
    api_client: Any,
    profile: SharedProfile,
    namespace: str,
    operator: OperatorProcess,
    upstream_removal: OperandSimulator,
) -> None:
    profile.converge({})
    eventually(lambda: _vm_api_served(api_client), timeout=120, what="the VM API served")

    profile.remove()
    eventually(
        lambda: KubeClient(api_client).get(kinds.CRD, VM_CRD) is None, timeout=120, what="the VM API gone"
    )
    assert operator.alive(), operator.log_tail()

    profile.converge({})
    eventually(lambda: _vm_api_served(api_client), timeout=120, what="the VM API served again")
    # The operator sees VMs again: one blocks the profile's removal, named.
    custom = client.CustomObjectsApi(api_client)
    eventually(
        lambda: custom.create_namespaced_custom_object(
            *VM_API, namespace, "virtualmachines", vm_body("after-reinstall", {})
        ),
        timeout=60,
        what="a VM created",
    )
    custom.delete_cluster_custom_object(*PROFILE, "vmo")

    def blocked() -> dict[str, Any] | None:
        found = get_profile(api_client, "vmo")
        reconcile = condition(found, "ReconcileComplete")
        return found if reconcile and reconcile["reason"] == "RemovalBlocked" else None

    blocked_profile = eventually(blocked, timeout=60, what="RemovalBlocked")
    assert f"{namespace}/after-reinstall" in condition_of(blocked_profile, "ReconcileComplete")["message"]
    custom.delete_namespaced_custom_object(*VM_API, namespace, "virtualmachines", "after-reinstall")
    eventually(lambda: get_profile(api_client, "vmo") is None, timeout=120, what="the profile removed")
    assert operator.alive(), operator.log_tail()
