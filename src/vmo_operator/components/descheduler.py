"""The descheduler, with a policy that moves VMs off nodes going into maintenance.

A node in maintenance is cordoned (taint node.kubernetes.io/unschedulable) or tainted with
kubevirt.io/drain or a key the admin lists. RemovePodsViolatingNodeTaints then evicts the
virt-launcher pods there through the eviction API, and KubeVirt's webhook turns each eviction into a
live migration. Three details keep that from going wrong (notes b10):

- virt-launcher pods use emptyDir, which DefaultEvictor protects; that protection is lifted (via
  `podProtections` from v0.34, `evictLocalStoragePods` before), for virt-launcher pods only, since
  the taint plugin is restricted to them by label;
- `noEvictionPolicy: Mandatory` (v0.34+; DefaultEvictorArgs has no such field before) makes the
  prefer-no-eviction annotation, which KubeVirt copies from the VMI to its pod, a hard opt-out;
- EvictionsInBackground lets the descheduler treat KubeVirt's "429, migration started" answer to
  pods annotated request-evict-only as success instead of retrying other VMs: a migration storm.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from vmo_operator.api import versions
from vmo_operator.api.models import DeschedulerSpec, VMOProfileSpec
from vmo_operator.components import _health as health
from vmo_operator.components import _workloads as w
from vmo_operator.components.base import ClusterFacts, ComponentHealth, Observed
from vmo_operator.kube import kinds
from vmo_operator.kube.kinds import Kind
from vmo_operator.kube.objects import Manifest, ObjectKey

NAMESPACE = "kube-system"
DEFAULT_REGISTRY = "registry.k8s.io/descheduler"
NAME = "descheduler"
SERVICE_ACCOUNT = "descheduler-sa"
CLUSTER_ROLE = "descheduler-cluster-role"
CONFIG_MAP = "descheduler-policy-configmap"
PROFILE = "vm-maintenance"

# Taints that always mean "this node is going into maintenance".
MAINTENANCE_TAINTS = ("node.kubernetes.io/unschedulable", "kubevirt.io/drain")
VIRT_LAUNCHER = {"kubevirt.io": "virt-launcher"}
NO_EVICTION_POLICY_SINCE = (0, 34)
POD_PROTECTIONS_SINCE = (0, 34)


def policy(spec: DeschedulerSpec) -> dict[str, Any]:
    """The DeschedulerPolicy (descheduler/v1alpha2) for the configured descheduler version."""
    major, minor, _ = versions.parse(spec.version)
    evictor: dict[str, Any] = {"nodeFit": True}
    if (major, minor) >= POD_PROTECTIONS_SINCE:
        evictor["podProtections"] = {"defaultDisabled": ["PodsWithLocalStorage"]}
    else:
        evictor["evictLocalStoragePods"] = True
    if (major, minor) >= NO_EVICTION_POLICY_SINCE:
        evictor["noEvictionPolicy"] = "Mandatory"
    taints = sorted({*MAINTENANCE_TAINTS, *spec.maintenance_taint_keys})
    return {
        "apiVersion": "descheduler/v1alpha2",
        "kind": "DeschedulerPolicy",
        "profiles": [
            {
                "name": PROFILE,
                "pluginConfig": [
                    {"name": "DefaultEvictor", "args": evictor},
                    {
                        "name": "RemovePodsViolatingNodeTaints",
                        "args": {
                            "includedTaints": taints,
                            "labelSelector": {"matchLabels": dict(VIRT_LAUNCHER)},
                        },
                    },
                ],
                "plugins": {
                    "filter": {"enabled": ["DefaultEvictor"]},
                    "preEvictionFilter": {"enabled": ["DefaultEvictor"]},
                    "deschedule": {"enabled": ["RemovePodsViolatingNodeTaints"]},
                },
            }
        ],
    }


def policy_yaml(spec: DeschedulerSpec) -> str:
    return yaml.safe_dump(policy(spec), sort_keys=False, default_flow_style=False)


def _deployment(spec: DeschedulerSpec, policy_text: str) -> Manifest:
    labels = {"app": NAME}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": w.meta(NAME, NAMESPACE, labels),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                # The descheduler reads its policy once at start: roll the pod when the policy changes.
                "metadata": {"labels": labels, "annotations": {"vmo.dev/policy-hash": w.digest(policy_text)}},
                "spec": {
                    "priorityClassName": "system-cluster-critical",
                    "serviceAccountName": SERVICE_ACCOUNT,
                    **w.pod_placement(spec.infra),
                    "containers": [
                        {
                            "name": NAME,
                            "image": w.image(spec.registry, DEFAULT_REGISTRY, NAME, spec.version),
                            "imagePullPolicy": "IfNotPresent",
                            "command": ["/bin/descheduler"],
                            "args": [
                                "--policy-config-file=/policy-dir/policy.yaml",
                                f"--descheduling-interval={spec.interval}",
                                "--feature-gates=EvictionsInBackground=true",
                                "--v=3",
                            ],
                            "ports": [{"containerPort": 10258, "protocol": "TCP"}],
                            "livenessProbe": {
                                "httpGet": {"path": "/healthz", "port": 10258, "scheme": "HTTPS"},
                                "initialDelaySeconds": 3,
                                "periodSeconds": 10,
                                "failureThreshold": 3,
                            },
                            "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}},
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"]},
                                "privileged": False,
                                "readOnlyRootFilesystem": True,
                                "runAsNonRoot": True,
                            },
                            "volumeMounts": [{"name": "policy-volume", "mountPath": "/policy-dir"}],
                        }
                    ],
                    "volumes": [{"name": "policy-volume", "configMap": {"name": CONFIG_MAP}}],
                },
            },
        },
    }


@dataclass(frozen=True)
class DeschedulerComponent:
    name: str = "descheduler"
    title: str = "Descheduler"
    owned_kinds: tuple[Kind, ...] = (
        kinds.SERVICE_ACCOUNT,
        kinds.CLUSTER_ROLE,
        kinds.CLUSTER_ROLE_BINDING,
        kinds.CONFIG_MAP,
        kinds.DEPLOYMENT,
    )

    def enabled(self, spec: VMOProfileSpec, facts: ClusterFacts) -> bool:
        return spec.descheduler.enabled

    def render(self, spec: VMOProfileSpec, facts: ClusterFacts) -> list[Manifest]:
        if not self.enabled(spec, facts):
            return []
        text = policy_yaml(spec.descheduler)
        return [
            w.service_account(SERVICE_ACCOUNT, NAMESPACE),
            w.cluster_role(CLUSTER_ROLE, w.data("descheduler")["clusterRoleRules"]),
            w.cluster_role_binding(
                "descheduler-cluster-role-binding", CLUSTER_ROLE, SERVICE_ACCOUNT, NAMESPACE
            ),
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": w.meta(CONFIG_MAP, NAMESPACE),
                "data": {"policy.yaml": text},
            },
            _deployment(spec.descheduler, text),
        ]

    def assess(
        self, spec: VMOProfileSpec, facts: ClusterFacts, rendered: Sequence[Manifest], observed: Observed
    ) -> ComponentHealth:
        if not self.enabled(spec, facts):
            return health.disabled(self.name)
        deployment = ObjectKey("apps/v1", "Deployment", NAMESPACE, NAME)
        return health.assess_deployed(self.name, rendered, observed, deployment, NAME)


DESCHEDULER = DeschedulerComponent()
