"""API coordinates of every kind a component renders or looks for.

One table, so `owned_kinds` of each component and the engine's REST paths agree on plural and scope.
"""

from __future__ import annotations

from vmo_operator.components.base import Kind

NAMESPACE = Kind("v1", "Namespace", "namespaces", namespaced=False)
SERVICE_ACCOUNT = Kind("v1", "ServiceAccount", "serviceaccounts", namespaced=True)
CONFIG_MAP = Kind("v1", "ConfigMap", "configmaps", namespaced=True)
CRD = Kind(
    "apiextensions.k8s.io/v1", "CustomResourceDefinition", "customresourcedefinitions", namespaced=False
)
CLUSTER_ROLE = Kind("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", namespaced=False)
CLUSTER_ROLE_BINDING = Kind(
    "rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "clusterrolebindings", namespaced=False
)
ROLE = Kind("rbac.authorization.k8s.io/v1", "Role", "roles", namespaced=True)
ROLE_BINDING = Kind("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings", namespaced=True)
PRIORITY_CLASS = Kind("scheduling.k8s.io/v1", "PriorityClass", "priorityclasses", namespaced=False)
DEPLOYMENT = Kind("apps/v1", "Deployment", "deployments", namespaced=True)
DAEMON_SET = Kind("apps/v1", "DaemonSet", "daemonsets", namespaced=True)

KUBEVIRT = Kind("kubevirt.io/v1", "KubeVirt", "kubevirts", namespaced=True)
CDI = Kind("cdi.kubevirt.io/v1beta1", "CDI", "cdis", namespaced=False)
NETWORK_ATTACHMENT_DEFINITION = Kind(
    "k8s.cni.cncf.io/v1", "NetworkAttachmentDefinition", "network-attachment-definitions", namespaced=True
)
VOLUME_SNAPSHOT_CLASS = Kind(
    "snapshot.storage.k8s.io/v1", "VolumeSnapshotClass", "volumesnapshotclasses", namespaced=False
)

# User workloads whose presence blocks uninstalling KubeVirt or CDI.
VIRTUAL_MACHINE = Kind("kubevirt.io/v1", "VirtualMachine", "virtualmachines", namespaced=True)
VIRTUAL_MACHINE_INSTANCE = Kind(
    "kubevirt.io/v1", "VirtualMachineInstance", "virtualmachineinstances", namespaced=True
)
DATA_VOLUME = Kind("cdi.kubevirt.io/v1beta1", "DataVolume", "datavolumes", namespaced=True)
