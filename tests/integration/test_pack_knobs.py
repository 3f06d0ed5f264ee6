"""The pack's remaining knobs on a real control plane (issue 14, items 5-7): VM state storage, CDI's
import settings, density and emulation reach the KubeVirt and CDI CRs; an old KubeVirt is told what
its release lacks; KVMAvailable follows the Nodes.

The tests run in order against the module's shared profile: the first installs KubeVirt v1.5.3, the
second upgrades it (a downgrade would need acceptDowngradeFrom). kwok's nodes advertise no KVM
device, so the KVM test adds a node that does, cordons it and deletes it.
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from tests.support.kube import condition, condition_of, get_profile, manifest
from tests.support.profiles import SharedProfile, kube_of, kubevirt_cr
from tests.support.waiting import eventually
from vmo_operator.kube import kinds

pytestmark = pytest.mark.integration

KVM_DEVICE = "devices.kubevirt.io/kvm"
KVM_NODE = "kwok-kvm-node"
DENSITY = {
    "memoryOvercommitPercent": 150,
    "cpuAllocationRatio": 4,
    "ksm": {"enabled": True, "nodeLabelSelector": {"matchLabels": {"ksm": "on"}}},
}
CDI_IMPORTS = {
    "insecureRegistries": ["registry.lab:5000"],
    "importProxy": {
        "httpProxy": "http://proxy.lab:3128",
        "httpsProxy": "http://proxy.lab:3128",
        "noProxy": ".cluster.local,10.0.0.0/8",
        "trustedCAConfigMap": "private-ca",
    },
    "importerResources": {"requests": {"cpu": "500m", "memory": "600M"}, "limits": {"memory": "2Gi"}},
}


def cdi_config(api: Any) -> dict[str, Any]:
    cdi = manifest(
        client.CustomObjectsApi(api).get_cluster_custom_object("cdi.kubevirt.io", "v1beta1", "cdis", "cdi")
    )
    config: dict[str, Any] = cdi["spec"]["config"]
    return config


def kvm_available(api: Any, status: str, reason: str) -> dict[str, Any]:
    """KVMAvailable once it reads `status` for `reason` (it follows the Nodes at each resync)."""

    def probe() -> dict[str, Any] | None:
        found = condition(get_profile(api, "vmo"), "KVMAvailable")
        return found if found and (found["status"], found["reason"]) == (status, reason) else None

    found: dict[str, Any] = eventually(probe, timeout=90, what=f"KVMAvailable={status} ({reason})")
    return found


def test_an_old_kubevirt_gets_the_settings_and_is_told_what_needs_a_gate(
    api_client: Any, profile: SharedProfile
) -> None:
    spec = {
        "kubevirt": {"version": "v1.5.3", "vmStateStorageClass": "rwx-state", "density": DENSITY},
        "cdi": CDI_IMPORTS,
    }
    converged = profile.converge(spec)

    configuration = kubevirt_cr(api_client)["spec"]["configuration"]
    assert configuration["vmStateStorageClass"] == "rwx-state"
    developer = configuration["developerConfiguration"]
    assert (developer["memoryOvercommit"], developer["cpuAllocationRatio"]) == (150, 4)
    assert "useEmulation" not in developer
    assert configuration["ksmConfiguration"] == {"nodeLabelSelector": {"matchLabels": {"ksm": "on"}}}
    # VMPersistentState is Alpha in v1.5: persistent TPM/EFI state needs the gate there.
    supported = condition_of(converged, "KubeVirtConfigurationSupported")
    assert (supported["status"], supported["reason"]) == ("False", "FeatureGateNeeded")
    assert "VMPersistentState" in supported["message"]
    assert "v1.5.3" in supported["message"]

    config = cdi_config(api_client)
    assert config["insecureRegistries"] == ["registry.lab:5000"]
    assert config["importProxy"] == {
        "HTTPProxy": "http://proxy.lab:3128",
        "HTTPSProxy": "http://proxy.lab:3128",
        "noProxy": ".cluster.local,10.0.0.0/8",
        "trustedCAProxy": "private-ca",
    }
    assert config["podResourceRequirements"] == {
        "requests": {"cpu": "500m", "memory": "600M"},
        "limits": {"memory": "2Gi"},
    }
    # kwok's nodes advertise no KVM device, and KubeVirt is ready: VMs could not start.
    missing = kvm_available(api_client, "False", "NoKVMDevice")
    assert "spec.kubevirt.useEmulation: true" in missing["message"]

    with_gate = {**spec["kubevirt"], "featureGates": {"add": ["VMPersistentState"]}}
    gated = profile.converge({**spec, "kubevirt": with_gate})
    supported = condition_of(gated, "KubeVirtConfigurationSupported")
    assert (supported["status"], supported["reason"]) == ("True", "AllFieldsSupported")


def kvm_node() -> dict[str, Any]:
    """A kwok node whose allocatable resources include the KVM device, as virt-handler's plugin
    makes the kubelet report it ("1k": 1000 devices)."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": KVM_NODE,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {"kubernetes.io/hostname": KVM_NODE, "kubernetes.io/os": "linux", "type": "kwok"},
        },
        "status": {
            "capacity": {"cpu": "32", "memory": "256Gi", "pods": "250", KVM_DEVICE: "1k"},
            "allocatable": {"cpu": "32", "memory": "256Gi", "pods": "250", KVM_DEVICE: "1k"},
        },
    }


@pytest.fixture
def remove_kvm_node(api_client: Any) -> Any:
    yield
    kube_of(api_client).delete(kinds.NODE, KVM_NODE)


def test_kvm_available_follows_the_nodes_and_emulation_is_written(
    api_client: Any, profile: SharedProfile, remove_kvm_node: None
) -> None:
    profile.converge({"kubevirt": {"useEmulation": True}})
    assert kubevirt_cr(api_client)["spec"]["configuration"]["developerConfiguration"]["useEmulation"] is True
    kvm_available(api_client, "False", "NoKVMDeviceEmulating")

    kube = kube_of(api_client)
    kube.create(kinds.NODE, kvm_node())
    found = kvm_available(api_client, "True", "KVMDeviceAllocatable")
    assert KVM_NODE in found["message"]

    kube.merge_patch(kinds.NODE, KVM_NODE, {"spec": {"unschedulable": True}})
    cordoned = kvm_available(api_client, "False", "NoKVMDeviceEmulating")
    assert "1 cordoned nodes do" in cordoned["message"]
    kube.merge_patch(kinds.NODE, KVM_NODE, {"spec": {"unschedulable": False}})
    kvm_available(api_client, "True", "KVMDeviceAllocatable")

    kube.delete(kinds.NODE, KVM_NODE)
    gone = kvm_available(api_client, "False", "NoKVMDeviceEmulating")
    assert "cordoned" not in gone["message"]
    eventually(
        lambda: kube.get(kinds.NODE, KVM_NODE) is None,
        timeout=60,
        what="the KVM node gone",
    )
