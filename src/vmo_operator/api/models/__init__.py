"""The VMOProfile API: spec and status models, the single source of truth.

Validation, defaults and the CRD's OpenAPI schema all come from these classes, so `vmo render`
(pydantic) and `kubectl apply` (schema + CEL in the API server) reject the same input with the same
field named. Every rule that the schema alone cannot express is written twice on purpose: once as
CEL (`x-kubernetes-validations`, carried into the CRD) and once as a pydantic validator next to it,
and the unit tests keep the pair in step.

Docstrings of the model classes and `Field(description=...)` land in the CRD, where
`kubectl explain vmoprofile.spec...` shows them; they are written for cluster admins.

The models live in one module per part of the spec; this package re-exports them, so callers
write `models.KubeVirtSpec` without knowing which part holds it.
"""

from __future__ import annotations

from vmo_operator.api.models.affinity import Affinity
from vmo_operator.api.models.base import (
    API_VERSION,
    BRIDGE_NAME,
    CLUSTER_ID,
    CPU_HOTPLUG,
    CSI_DRIVER,
    DEFAULT_KUBEVIRT_GATES,
    DNS1123_LABEL,
    DNS1123_SUBDOMAIN,
    GATE_NAME,
    GO_DURATION,
    GROUP,
    HTTP_URL,
    KIND,
    LABEL_VALUE,
    MAC_PREFIXES,
    OVERHEAD,
    PLURAL,
    QUALIFIED_NAME,
    QUANTITY,
    REGISTRY,
    SHORT_NAMES,
    SINGULAR,
    VERSION,
    CDIVersion,
    DeschedulerVersion,
    GateName,
    KubeVirtVersion,
    LabelKey,
    LabelValue,
    Model,
    MultusVersion,
    Namespace,
    SnapshotVersion,
    cel,
    registry_field,
    require_unique,
    schema_extra,
)
from vmo_operator.api.models.cdiimport import ImporterResources, ImportProxy, ResourceAmounts
from vmo_operator.api.models.dashboard import DashboardSpec
from vmo_operator.api.models.density import KSM, Density
from vmo_operator.api.models.goldenimages import GoldenImageSource, GoldenImagesSpec
from vmo_operator.api.models.kubevirt import (
    CommonInstancetypes,
    FeatureGates,
    KubeVirtSpec,
    LiveUpdate,
    Migrations,
    WorkloadUpdateStrategy,
)
from vmo_operator.api.models.macpool import LabelSelector, LabelSelectorRequirement, MacPoolSpec
from vmo_operator.api.models.monitoring import AlertThresholds, MonitoringSpec
from vmo_operator.api.models.networking import Bridge, CNIPlugins, MultusSpec, Network, NodeAgent
from vmo_operator.api.models.operands import (
    CDISpec,
    DeschedulerSpec,
    FilesystemOverhead,
    SnapshotControllerSpec,
    VMRolesSpec,
    VolumeSnapshotClassSpec,
)
from vmo_operator.api.models.overrides import MAX_OVERRIDES, SPEC_POINTER, Override
from vmo_operator.api.models.placement import NodePlacement, Toleration
from vmo_operator.api.models.profile import (
    PROFILE_NAME_RULE,
    ComponentStatus,
    Condition,
    FeatureGateStatus,
    ObjectMeta,
    StatusModel,
    VMOProfile,
    VMOProfileSpec,
    VMOProfileStatus,
    parse_profile,
    parse_spec,
)
from vmo_operator.api.models.vmnamespaces import VMNamespacesSpec, VMRoleBinding

__all__ = [
    "API_VERSION",
    "BRIDGE_NAME",
    "CLUSTER_ID",
    "CPU_HOTPLUG",
    "CSI_DRIVER",
    "DEFAULT_KUBEVIRT_GATES",
    "DNS1123_LABEL",
    "DNS1123_SUBDOMAIN",
    "GATE_NAME",
    "GO_DURATION",
    "GROUP",
    "HTTP_URL",
    "KIND",
    "KSM",
    "LABEL_VALUE",
    "MAC_PREFIXES",
    "MAX_OVERRIDES",
    "OVERHEAD",
    "PLURAL",
    "PROFILE_NAME_RULE",
    "QUALIFIED_NAME",
    "QUANTITY",
    "REGISTRY",
    "SHORT_NAMES",
    "SINGULAR",
    "SPEC_POINTER",
    "VERSION",
    "Affinity",
    "AlertThresholds",
    "Bridge",
    "CDISpec",
    "CDIVersion",
    "CNIPlugins",
    "CommonInstancetypes",
    "ComponentStatus",
    "Condition",
    "DashboardSpec",
    "Density",
    "DeschedulerSpec",
    "DeschedulerVersion",
    "FeatureGateStatus",
    "FeatureGates",
    "FilesystemOverhead",
    "GateName",
    "GoldenImageSource",
    "GoldenImagesSpec",
    "ImportProxy",
    "ImporterResources",
    "KubeVirtSpec",
    "KubeVirtVersion",
    "LabelKey",
    "LabelSelector",
    "LabelSelectorRequirement",
    "LabelValue",
    "LiveUpdate",
    "MacPoolSpec",
    "Migrations",
    "Model",
    "MonitoringSpec",
    "MultusSpec",
    "MultusVersion",
    "Namespace",
    "Network",
    "NodeAgent",
    "NodePlacement",
    "ObjectMeta",
    "Override",
    "ResourceAmounts",
    "SnapshotControllerSpec",
    "SnapshotVersion",
    "StatusModel",
    "Toleration",
    "VMNamespacesSpec",
    "VMOProfile",
    "VMOProfileSpec",
    "VMOProfileStatus",
    "VMRoleBinding",
    "VMRolesSpec",
    "VolumeSnapshotClassSpec",
    "WorkloadUpdateStrategy",
    "cel",
    "parse_profile",
    "parse_spec",
    "registry_field",
    "require_unique",
    "schema_extra",
]
