"""The KubeVirt CR's optional settings (VM state storage, density, emulation, common instance types),
written per version.

Each setting maps onto one field of the KubeVirt CR (`api.kubevirtfields`). A setting the
configured KubeVirt release lacks is not written and the `KubeVirtConfigurationSupported`
condition names it and the release that brought it, as `FeatureGatesChanged` does for gates.
The condition also warns when a written setting will not take effect on that release without a
feature gate (vmStateStorageClass before VMPersistentState went GA).
"""

from __future__ import annotations

from typing import Any

from vmo_operator.api import featuregates, kubevirtfields
from vmo_operator.api.kubevirtfields import ConfigField
from vmo_operator.api.models import KubeVirtSpec
from vmo_operator.components.base import ConditionSpec

CONFIGURATION_SUPPORTED = "KubeVirtConfigurationSupported"
PERSISTENT_STATE_GATE = "VMPersistentState"


def settings_in_use(kv: KubeVirtSpec) -> dict[ConfigField, Any]:
    """Each optional setting the profile sets, with the value the KubeVirt CR field takes."""
    found: dict[ConfigField, Any] = {}
    if kv.vm_state_storage_class:
        found[kubevirtfields.VM_STATE_STORAGE_CLASS] = kv.vm_state_storage_class
    if kv.density.memory_overcommit_percent is not None:
        found[kubevirtfields.MEMORY_OVERCOMMIT] = kv.density.memory_overcommit_percent
    if kv.density.cpu_allocation_ratio is not None:
        found[kubevirtfields.CPU_ALLOCATION_RATIO] = kv.density.cpu_allocation_ratio
    if kv.density.ksm.enabled:
        # virt-handler (pkg/virt-handler/heartbeat/ksm.go) turns a missing nodeLabelSelector into
        # "no node"; only an empty selector selects every node, so enabled always writes one.
        selector = kv.density.ksm.node_label_selector
        shape = selector.model_dump(by_alias=True, exclude_defaults=True) if selector else {}
        found[kubevirtfields.KSM] = {"nodeLabelSelector": shape}
    if kv.use_emulation:
        found[kubevirtfields.USE_EMULATION] = True
    # Always written, true as well: the profile states it, rather than leaning on KubeVirt's default.
    found[kubevirtfields.COMMON_INSTANCETYPES] = {"enabled": kv.common_instancetypes.enabled}
    return found


def write_settings(kv: KubeVirtSpec, cr_spec: dict[str, Any]) -> None:
    """Set each setting the configured release has into the KubeVirt CR's `spec`, in place."""
    for field, value in settings_in_use(kv).items():
        if not kubevirtfields.has(field, kv.version):
            continue
        *parents, leaf = field.path
        node = cr_spec
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value


def _persistent_state_needs_gate(kv: KubeVirtSpec) -> bool:
    """True when VMs can use vmStateStorageClass only with a gate the profile does not enable.

    Before VMPersistentState is GA (v1.6, per api.featuregates), virt-api refuses a VM asking for a
    persistent TPM or EFI store unless the gate is on (kubevirt v1.5.3
    pkg/virt-api/webhooks/validating-webhook/admitters/vmi-create-admitter.go).
    """
    if not kv.vm_state_storage_class:
        return False
    stage = featuregates.phase_at(PERSISTENT_STATE_GATE, featuregates.minor_version(kv.version))
    if stage is not None and stage.phase is featuregates.Phase.GA:
        return False
    return PERSISTENT_STATE_GATE not in featuregates_enabled(kv)


def featuregates_enabled(kv: KubeVirtSpec) -> tuple[str, ...]:
    resolution = featuregates.resolve(kv.version, kv.feature_gates.add, kv.feature_gates.remove)
    return resolution.enabled


def configuration_supported(kv: KubeVirtSpec) -> ConditionSpec:
    """Whether every optional setting is written and takes effect on the configured release."""
    lacking = kubevirtfields.missing(kv.version, settings_in_use(kv))
    if lacking:
        names = "; ".join(kubevirtfields.described(field) for field in lacking)
        return ConditionSpec(
            CONFIGURATION_SUPPORTED,
            "False",
            "FieldsNotSupported",
            f"not written, KubeVirt {kv.version} lacks the field: {names}",
        )
    if _persistent_state_needs_gate(kv):
        return ConditionSpec(
            CONFIGURATION_SUPPORTED,
            "False",
            "FeatureGateNeeded",
            f"spec.kubevirt.vmStateStorageClass is written, but KubeVirt {kv.version} lets VMs keep "
            f"persistent TPM or EFI state only with the {PERSISTENT_STATE_GATE} feature gate (GA from "
            f"v1.6): add it to spec.kubevirt.featureGates.add",
        )
    return ConditionSpec(
        CONFIGURATION_SUPPORTED,
        "True",
        "AllFieldsSupported",
        f"every KubeVirt setting of the profile is written and supported by KubeVirt {kv.version}",
    )
