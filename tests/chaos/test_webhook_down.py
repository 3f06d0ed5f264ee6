"""The MAC webhook's availability: failurePolicy Fail with replicas, never fail-open.

Two replicas share the webhook port. One SIGKILLed: creates still get MACs. All stopped: a VM
create fails with a clear error and no VM exists afterwards (not a VM without MACs). A replica
back: creates work again.
"""

from __future__ import annotations

import pytest
from kubernetes.client.exceptions import ApiException

from tests.chaos.harness import (
    WORKLOAD_NAMESPACE,
    ChaosCluster,
    Workloads,
    install_base,
    mac_problems,
)
from tests.support.vms import create_vm, create_with_retry, denial, get_vm, vm_macs
from vmo_operator.macpool import mac as macs
from vmo_operator.macpool.admission_config import MUTATE_VM

pytestmark = pytest.mark.integration


def assert_has_macs(vm: dict[str, object]) -> None:
    found = vm_macs(vm)
    assert found
    assert all(isinstance(macs.check(m), macs.Mac) for m in found.values()), found


def test_vm_creates_fail_clearly_while_every_replica_is_down_and_work_again_after(
    based: ChaosCluster, workloads: Workloads
) -> None:
    chaos = based
    install_base(chaos, workloads)
    first = chaos.operator
    second = chaos.start_operator()  # a second replica on the same port
    assert_has_macs(create_with_retry(chaos.api, WORKLOAD_NAMESPACE, "two-replicas", {"nic": None}))

    first.kill()
    assert_has_macs(create_with_retry(chaos.api, WORKLOAD_NAMESPACE, "one-replica", {"nic": None}))

    second.stop()
    assert not any(proc.alive() for proc in chaos.operators)
    with pytest.raises(ApiException) as refused:
        create_vm(chaos.api, WORKLOAD_NAMESPACE, "no-replica", {"nic": None, "other": None})
    message = denial(refused.value)
    print(f"\nwith every replica down: {refused.value.status} {message}")
    assert refused.value.status == 500
    assert "failed calling webhook" in message
    assert MUTATE_VM in message  # names which webhook is missing
    with pytest.raises(ApiException) as missing:
        get_vm(chaos.api, WORKLOAD_NAMESPACE, "no-replica")
    assert missing.value.status == 404, "a VM got in without the MAC webhook"

    chaos.start_operator()
    assert_has_macs(
        create_with_retry(chaos.api, WORKLOAD_NAMESPACE, "no-replica", {"nic": None, "other": None})
    )
    assert mac_problems(chaos.api) == []
