"""API coordinates of every kind this operator reads or writes: the one table of kinds.

One table, so components' `owned_kinds`, the engine's REST paths, the watches and the generated RBAC
agree on plural and scope. The profile's coordinates come from the API models, their source of truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from vmo_operator.api import models


@dataclass(frozen=True)
class Kind:
    """API coordinates of a kind, enough to build REST paths without discovery."""

    api_version: str  # "apps/v1", "v1", "kubevirt.io/v1"
    kind: str
    plural: str
    namespaced: bool

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def version(self) -> str:
        return self.api_version.rpartition("/")[2]


PROFILE = Kind(models.API_VERSION, models.KIND, models.PLURAL, namespaced=False)
MAC_RESERVATION = Kind("vmo.dev/v1alpha1", "MACReservation", "macreservations", namespaced=False)
# One per node, written by that node's `vmo node-agent`: what it found of the bridges.
NODE_BRIDGE_REPORT = Kind("vmo.dev/v1alpha1", "NodeBridgeReport", "nodebridgereports", namespaced=False)

NAMESPACE = Kind("v1", "Namespace", "namespaces", namespaced=False)
SERVICE_ACCOUNT = Kind("v1", "ServiceAccount", "serviceaccounts", namespaced=True)
CONFIG_MAP = Kind("v1", "ConfigMap", "configmaps", namespaced=True)
SECRET = Kind("v1", "Secret", "secrets", namespaced=True)
NODE = Kind("v1", "Node", "nodes", namespaced=False)
LEASE = Kind("coordination.k8s.io/v1", "Lease", "leases", namespaced=True)
POD = Kind("v1", "Pod", "pods", namespaced=True)
SERVICE = Kind("v1", "Service", "services", namespaced=True)
JOB = Kind("batch/v1", "Job", "jobs", namespaced=True)
API_SERVICE = Kind("apiregistration.k8s.io/v1", "APIService", "apiservices", namespaced=False)
EVENT = Kind("v1", "Event", "events", namespaced=True)
# Events about the profile: `regarding` without a namespace is what `kubectl describe` looks for.
EVENT_V1 = Kind("events.k8s.io/v1", "Event", "events", namespaced=True)
CRD = Kind(
    "apiextensions.k8s.io/v1", "CustomResourceDefinition", "customresourcedefinitions", namespaced=False
)
CLUSTER_ROLE = Kind("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", namespaced=False)
CLUSTER_ROLE_BINDING = Kind(
    "rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "clusterrolebindings", namespaced=False
)
ROLE = Kind("rbac.authorization.k8s.io/v1", "Role", "roles", namespaced=True)
ROLE_BINDING = Kind("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings", namespaced=True)
SUBJECT_ACCESS_REVIEW = Kind(
    "authorization.k8s.io/v1", "SubjectAccessReview", "subjectaccessreviews", namespaced=False
)
# Asked with the user's own credentials by the dashboard: what may I do, and who am I.
SELF_SUBJECT_ACCESS_REVIEW = Kind(
    "authorization.k8s.io/v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews", namespaced=False
)
SELF_SUBJECT_REVIEW = Kind(
    "authentication.k8s.io/v1", "SelfSubjectReview", "selfsubjectreviews", namespaced=False
)
PRIORITY_CLASS = Kind("scheduling.k8s.io/v1", "PriorityClass", "priorityclasses", namespaced=False)
DEPLOYMENT = Kind("apps/v1", "Deployment", "deployments", namespaced=True)
DAEMON_SET = Kind("apps/v1", "DaemonSet", "daemonsets", namespaced=True)
MUTATING_WEBHOOK_CONFIGURATION = Kind(
    "admissionregistration.k8s.io/v1",
    "MutatingWebhookConfiguration",
    "mutatingwebhookconfigurations",
    namespaced=False,
)
VALIDATING_WEBHOOK_CONFIGURATION = Kind(
    "admissionregistration.k8s.io/v1",
    "ValidatingWebhookConfiguration",
    "validatingwebhookconfigurations",
    namespaced=False,
)
VALIDATING_ADMISSION_POLICY = Kind(
    "admissionregistration.k8s.io/v1",
    "ValidatingAdmissionPolicy",
    "validatingadmissionpolicies",
    namespaced=False,
)
VALIDATING_ADMISSION_POLICY_BINDING = Kind(
    "admissionregistration.k8s.io/v1",
    "ValidatingAdmissionPolicyBinding",
    "validatingadmissionpolicybindings",
    namespaced=False,
)

KUBEVIRT = Kind("kubevirt.io/v1", "KubeVirt", "kubevirts", namespaced=True)
CDI = Kind("cdi.kubevirt.io/v1beta1", "CDI", "cdis", namespaced=False)
NETWORK_ATTACHMENT_DEFINITION = Kind(
    "k8s.cni.cncf.io/v1", "NetworkAttachmentDefinition", "network-attachment-definitions", namespaced=True
)
VOLUME_SNAPSHOT_CLASS = Kind(
    "snapshot.storage.k8s.io/v1", "VolumeSnapshotClass", "volumesnapshotclasses", namespaced=False
)
STORAGE_CLASS = Kind("storage.k8s.io/v1", "StorageClass", "storageclasses", namespaced=False)
# The Prometheus Operator's alert rules: written only where its CRD exists.
PROMETHEUS_RULE = Kind("monitoring.coreos.com/v1", "PrometheusRule", "prometheusrules", namespaced=True)

# User workloads whose presence blocks uninstalling KubeVirt or CDI.
VIRTUAL_MACHINE = Kind("kubevirt.io/v1", "VirtualMachine", "virtualmachines", namespaced=True)
VIRTUAL_MACHINE_INSTANCE = Kind(
    "kubevirt.io/v1", "VirtualMachineInstance", "virtualmachineinstances", namespaced=True
)
VIRTUAL_MACHINE_INSTANCE_MIGRATION = Kind(
    "kubevirt.io/v1",
    "VirtualMachineInstanceMigration",
    "virtualmachineinstancemigrations",
    namespaced=True,
)
DATA_VOLUME = Kind("cdi.kubevirt.io/v1beta1", "DataVolume", "datavolumes", namespaced=True)
# Golden images (CDI, served once cdi-operator installs CDI): what a source is imported as.
DATA_SOURCE = Kind("cdi.kubevirt.io/v1beta1", "DataSource", "datasources", namespaced=True)
DATA_IMPORT_CRON = Kind("cdi.kubevirt.io/v1beta1", "DataImportCron", "dataimportcrons", namespaced=True)

# What every operand's operator runs as: its ServiceAccount and the roles bound to it.
OPERATOR_IDENTITY: tuple[Kind, ...] = (
    SERVICE_ACCOUNT,
    CLUSTER_ROLE,
    CLUSTER_ROLE_BINDING,
    ROLE,
    ROLE_BINDING,
)


def group_version_path(kind: Kind) -> str:
    return "/api/v1" if kind.api_version == "v1" else f"/apis/{kind.api_version}"


def kind_path(kind: Kind, namespace: str = "", name: str = "") -> str:
    base = group_version_path(kind)
    if kind.namespaced and namespace:
        base += f"/namespaces/{quote(namespace)}"
    path = f"{base}/{kind.plural}"
    return f"{path}/{quote(name)}" if name else path
