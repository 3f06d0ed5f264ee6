"""KubeVirt: what kubevirt-operator.yaml installs, plus the KubeVirt CR configured from the profile.

virt-operator deploys virt-api, virt-controller and virt-handler itself; this component owns only
the operator (namespace, CRD, priority class, RBAC, Deployment) and the CR that tells it what to run.
Feature gates come from `api.featuregates.resolve`, so the CR never lists a gate that is GA, and
`disabledFeatureGates` is written only where the target KubeVirt version has the field. The profile's
status shows that resolution (`featureGates`), warns of gates unknown to the configured version
(the `FeatureGatesRecognized` condition) and carries the running version (a printer column).
Optional CR settings are written per version (`kubevirt_config`), and the Nodes, read before each
round, give the `KVMAvailable` condition (`kvm`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from vmo_operator.api import versions
from vmo_operator.api.models import KubeVirtSpec, VMOProfileSpec
from vmo_operator.components import _health as health
from vmo_operator.components import _workloads as w
from vmo_operator.components import drain, kubevirt_config, kubevirt_crd, kubevirt_gates, kvm
from vmo_operator.components.base import (
    ClusterFacts,
    ComponentHealth,
    ConditionSpec,
    FactQuery,
    Observed,
)
from vmo_operator.kube import kinds
from vmo_operator.kube.kinds import Kind
from vmo_operator.kube.objects import Manifest, ObjectKey

NAMESPACE = "kubevirt"
DEFAULT_REGISTRY = "quay.io/kubevirt"
OPERATOR = "virt-operator"
SERVICE_ACCOUNT = "kubevirt-operator"
PRIORITY_CLASS = "kubevirt-cluster-critical"
CR_NAME = "kubevirt"
APP_LABEL = {"kubevirt.io": ""}
KVM_DETAIL = "kvmNodes"
DRAIN_DETAIL = "drainReadiness"


def _minor(version: str) -> tuple[int, int]:
    major, minor, _ = versions.parse(version)
    return major, minor


# Upstream's virt-operator Deployment (NewOperatorDeployment) gained a liveness probe and
# FallbackToLogsOnError in v1.6, and in v1.7 control-plane placement and the network-policy label.
LIVENESS_SINCE = (1, 6)
CONTROL_PLANE_SINCE = (1, 7)
CONTROL_PLANE_ROLES = ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master")


def _metrics_probe() -> dict[str, Any]:
    return {
        "httpGet": {"path": "/metrics", "port": 8443, "scheme": "HTTPS"},
        "initialDelaySeconds": 5,
        "timeoutSeconds": 10,
    }


def _control_plane_affinity() -> dict[str, Any]:
    """Required on a control-plane node, preferably one that is not also a worker."""
    return {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {"matchExpressions": [{"key": role, "operator": "Exists"}]} for role in CONTROL_PLANE_ROLES
            ]
        },
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {
                "weight": 100,
                "preference": {
                    "matchExpressions": [
                        {"key": "node-role.kubernetes.io/worker", "operator": "DoesNotExist"}
                    ]
                },
            }
        ],
    }


def _deployment(spec: KubeVirtSpec) -> Manifest:
    image = w.image(spec.registry, DEFAULT_REGISTRY, OPERATOR, spec.version)
    labels = {"kubevirt.io": OPERATOR}
    version = _minor(spec.version)
    control_plane = version >= CONTROL_PLANE_SINCE
    container: dict[str, Any] = {
        "name": OPERATOR,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": [OPERATOR],
        "args": ["--port", "8443", "-v", "2"],
        "env": [
            {"name": "VIRT_OPERATOR_IMAGE", "value": image},
            {
                "name": "WATCH_NAMESPACE",
                "valueFrom": {
                    "fieldRef": {
                        "apiVersion": "v1",
                        "fieldPath": "metadata.annotations['olm.targetNamespaces']",
                    }
                },
            },
            {"name": "KUBEVIRT_VERSION", "value": spec.version},
        ],
        "ports": [
            {"name": "metrics", "containerPort": 8443, "protocol": "TCP"},
            {"name": "webhooks", "containerPort": 8444, "protocol": "TCP"},
        ],
        "readinessProbe": _metrics_probe(),
        "resources": {"requests": {"cpu": "10m", "memory": "450Mi"}},
        "securityContext": dict(w.RESTRICTED_CONTAINER),
        "volumeMounts": [
            {
                "name": "kubevirt-operator-certs",
                "mountPath": "/etc/virt-operator/certificates",
                "readOnly": True,
            },
            {"name": "profile-data", "mountPath": "/profile-data"},
        ],
    }
    if version >= LIVENESS_SINCE:
        container["livenessProbe"] = _metrics_probe()
        container["terminationMessagePolicy"] = "FallbackToLogsOnError"
    tolerations: list[dict[str, Any]] = [{"key": "CriticalAddonsOnly", "operator": "Exists"}]
    affinity = w.prefer_spread("kubevirt.io", OPERATOR)
    pod_labels = {**labels, "name": OPERATOR, "prometheus.kubevirt.io": "true"}
    if control_plane:
        tolerations += [
            {"key": role, "operator": "Exists", "effect": "NoSchedule"} for role in CONTROL_PLANE_ROLES
        ]
        affinity["nodeAffinity"] = _control_plane_affinity()
        pod_labels["np.kubevirt.io/allow-access-cluster-services"] = "true"
    pod_spec: dict[str, Any] = {
        "serviceAccountName": SERVICE_ACCOUNT,
        "priorityClassName": PRIORITY_CLASS,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        # The profile's infra placement is added to upstream's; an affinity given there replaces it.
        **w.pod_placement(
            spec.infra,
            node_selector={"kubernetes.io/os": "linux"},
            base_tolerations=tolerations,
            affinity=affinity,
        ),
        "containers": [container],
        "volumes": [
            {
                "name": "kubevirt-operator-certs",
                "secret": {"secretName": "kubevirt-operator-certs", "optional": True},
            },
            {"name": "profile-data", "emptyDir": {}},
        ],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": w.meta(OPERATOR, NAMESPACE, labels),
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "strategy": {"type": "RollingUpdate"},
            "template": {
                "metadata": {
                    "name": OPERATOR,
                    "labels": pod_labels,
                    "annotations": {"openshift.io/required-scc": "restricted-v2"},
                },
                "spec": pod_spec,
            },
        },
    }


def kubevirt_cr(spec: VMOProfileSpec) -> Manifest:
    """The KubeVirt CR; public so the status and tests can see exactly what virt-operator is told.

    The profile's overrides are applied last; when they do not apply, the CR goes out without them
    and `assess` reports why (`override_problem`)."""
    return w.with_overrides(_modelled_cr(spec), spec.kubevirt.overrides)[0]


def override_problem(spec: VMOProfileSpec) -> str:
    """Why the KubeVirt overrides do not apply to the rendered CR; "" when they do (or there are none)."""
    return w.with_overrides(_modelled_cr(spec), spec.kubevirt.overrides)[1]


def _modelled_cr(spec: VMOProfileSpec) -> Manifest:
    kv = spec.kubevirt
    gates = kubevirt_gates.gate_resolution(kv)
    developer: dict[str, Any] = {"featureGates": list(gates.enabled)}
    if gates.disabled:
        developer["disabledFeatureGates"] = list(gates.disabled)
    migrations: dict[str, Any] = {
        "parallelMigrationsPerCluster": kv.migrations.parallel_migrations_per_cluster,
        "parallelOutboundMigrationsPerNode": kv.migrations.parallel_outbound_migrations_per_node,
        "completionTimeoutPerGiB": kv.migrations.completion_timeout_per_gib,
        "progressTimeout": kv.migrations.progress_timeout,
        "allowAutoConverge": kv.migrations.allow_auto_converge,
        "allowPostCopy": kv.migrations.allow_post_copy,
    }
    if kv.migrations.bandwidth_per_migration:
        migrations["bandwidthPerMigration"] = kv.migrations.bandwidth_per_migration
    live_update: dict[str, Any] = {"maxHotplugRatio": kv.live_update.max_hotplug_ratio}
    if kv.live_update.max_cpu_sockets is not None:
        live_update["maxCpuSockets"] = kv.live_update.max_cpu_sockets
    body: dict[str, Any] = {
        "imageRegistry": w.registry(kv.registry, DEFAULT_REGISTRY),
        "imageTag": kv.version,
        "imagePullPolicy": "IfNotPresent",
        "uninstallStrategy": spec.uninstall_strategy,
        "workloadUpdateStrategy": {
            "workloadUpdateMethods": list(kv.workload_update_strategy.workload_update_methods),
            "batchEvictionSize": kv.workload_update_strategy.batch_eviction_size,
            "batchEvictionInterval": kv.workload_update_strategy.batch_eviction_interval,
        },
        "configuration": {
            "developerConfiguration": developer,
            "evictionStrategy": kv.eviction_strategy,
            "vmRolloutStrategy": kv.vm_rollout_strategy,
            "migrations": migrations,
            "liveUpdateConfiguration": live_update,
        },
    }
    kubevirt_config.write_settings(kv, body)
    for field, placement in (("infra", kv.infra), ("workloads", kv.workloads)):
        shape = w.operand_placement(placement)
        if shape:
            body[field] = {"nodePlacement": shape}
    return {
        "apiVersion": "kubevirt.io/v1",
        "kind": "KubeVirt",
        "metadata": w.meta(CR_NAME, NAMESPACE),
        "spec": body,
    }


def _judge_kubevirt(obj: Any) -> health.Verdict:
    return health.judge_operand_cr(obj, "virt-operator")


@dataclass(frozen=True)
class KubeVirtFacts:
    nodes: kvm.KVMNodes
    vmis: tuple[drain.VMIOnNode, ...] = ()


@dataclass(frozen=True)
class KubeVirtComponent:
    name: str = "kubevirt"
    title: str = "KubeVirt"
    owned_kinds: tuple[Kind, ...] = (
        kinds.NAMESPACE,
        kinds.CRD,
        kinds.PRIORITY_CLASS,
        *kinds.OPERATOR_IDENTITY,
        kinds.DEPLOYMENT,
        kinds.KUBEVIRT,
    )
    # VMs and VMIs block removal under BlockUninstallIfWorkloadsExist (see base.workload_kinds).
    workload_kinds: tuple[Kind, ...] = (kinds.VIRTUAL_MACHINE, kinds.VIRTUAL_MACHINE_INSTANCE)
    # Read before each round (see base.ObservesCluster): the Nodes, for KVMAvailable, and the VMIs,
    # for status.drainReadiness.
    fact_queries: tuple[FactQuery, ...] = (kvm.NODE_QUERY, drain.VMI_QUERY)

    def facts_from(self, found: Sequence[Sequence[Manifest]]) -> KubeVirtFacts:
        return KubeVirtFacts(kvm.kvm_nodes(found[0]), drain.on_nodes(found[1]))

    def enabled(self, spec: VMOProfileSpec, facts: ClusterFacts) -> bool:
        return spec.kubevirt.enabled

    def render(self, spec: VMOProfileSpec, facts: ClusterFacts) -> list[Manifest]:
        if not self.enabled(spec, facts):
            return []
        rules = w.data("kubevirt")
        version = spec.kubevirt.version
        return [
            w.namespace(NAMESPACE, {**APP_LABEL, "pod-security.kubernetes.io/enforce": "privileged"}),
            kubevirt_crd.crd(version),
            {
                "apiVersion": "scheduling.k8s.io/v1",
                "kind": "PriorityClass",
                "metadata": w.meta(PRIORITY_CLASS),
                # globalDefault is left out: false is the default and the API server omits it.
                "value": 1000000000,
                "description": "This priority class should be used for core kubevirt components only.",
            },
            w.service_account(SERVICE_ACCOUNT, NAMESPACE, APP_LABEL),
            w.cluster_role(
                SERVICE_ACCOUNT, w.in_effect(rules["operatorClusterRoleRules"], version), APP_LABEL
            ),
            w.cluster_role(
                "kubevirt.io:operator",
                rules["adminAggregatedRules"],
                {"operator.kubevirt.io": "", "rbac.authorization.k8s.io/aggregate-to-admin": "true"},
            ),
            w.cluster_role_binding(SERVICE_ACCOUNT, SERVICE_ACCOUNT, SERVICE_ACCOUNT, NAMESPACE, APP_LABEL),
            w.role(SERVICE_ACCOUNT, NAMESPACE, w.in_effect(rules["operatorRoleRules"], version), APP_LABEL),
            w.role_binding(
                "kubevirt-operator-rolebinding", NAMESPACE, SERVICE_ACCOUNT, SERVICE_ACCOUNT, APP_LABEL
            ),
            _deployment(spec.kubevirt),
            kubevirt_cr(spec),
        ]

    def assess(
        self, spec: VMOProfileSpec, facts: ClusterFacts, rendered: Sequence[Manifest], observed: Observed
    ) -> ComponentHealth:
        if not self.enabled(spec, facts):
            return health.disabled(self.name)
        cr = observed.get(ObjectKey("kubevirt.io/v1", "KubeVirt", NAMESPACE, CR_NAME)) or {}
        version = str((cr.get("status") or {}).get("observedKubeVirtVersion", ""))
        judged = health.assess_rendered(
            self.name,
            rendered,
            observed,
            version=version,
            judges={("kubevirt.io/v1", "KubeVirt"): _judge_kubevirt},
        )
        # The facts ride along to `extra_conditions` and `status_fields`, which see only the health.
        found = facts.of(self.name, KubeVirtFacts)
        details: dict[str, Any] = {KVM_DETAIL: found.nodes if found else None}
        if found is not None:
            strategy = str(((cr.get("spec") or {}).get("configuration") or {}).get("evictionStrategy") or "")
            details[DRAIN_DETAIL] = drain.readiness(found.vmis, strategy)
        judged = replace(judged, details={**judged.details, **details})
        return health.override_failed(judged, override_problem(spec))

    def status_fields(self, spec: VMOProfileSpec, health: ComponentHealth) -> Mapping[str, Any]:
        """The resolved gate set (when enabled) and the running version, for the printer column."""
        fields: dict[str, Any] = {}
        if spec.kubevirt.enabled:
            fields["featureGates"] = kubevirt_gates.gate_resolution(spec.kubevirt).status()
        fields["kubevirtVersion"] = health.version
        if spec.kubevirt.enabled and health.details.get(DRAIN_DETAIL):
            fields["drainReadiness"] = health.details[DRAIN_DETAIL]
        return fields

    def extra_conditions(self, spec: VMOProfileSpec, health: ComponentHealth) -> Sequence[ConditionSpec]:
        """FeatureGatesRecognized (False while a requested gate is unknown for the configured version),
        FeatureGatesChanged (True while a requested gate was written under another name or not at
        all), KubeVirtConfigurationSupported (False while a setting is not written or needs a gate)
        and KVMAvailable (whether a schedulable node offers KVM), all only while KubeVirt is enabled."""
        if not spec.kubevirt.enabled:
            return []
        resolution = kubevirt_gates.gate_resolution(spec.kubevirt)
        nodes = health.details.get(KVM_DETAIL)
        return [
            kubevirt_gates.recognized(resolution),
            kubevirt_gates.gates_changed(resolution),
            kubevirt_config.configuration_supported(spec.kubevirt),
            kvm.kvm_available(
                spec.kubevirt, nodes if isinstance(nodes, kvm.KVMNodes) else None, health.ready
            ),
        ]


KUBEVIRT = KubeVirtComponent()
