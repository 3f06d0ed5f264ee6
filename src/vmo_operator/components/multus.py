"""Multus (thick plugin), one bridge-CNI NetworkAttachmentDefinition per VLAN and namespace, and
what the nodes need for them: the CNI plugins and the node agent (`node_network`), whose per-node
reports (`node_reports`) this component reads before it judges itself.

The NADs are rendered here rather than left to users so that removing a network from the profile
removes its NADs (the engine prunes what is no longer rendered). The namespaces they go into are
never created or owned: deleting a user namespace on prune would be far worse than a failed apply.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vmo_operator.api import versions
from vmo_operator.api.models import MultusSpec, Network, VMOProfileSpec
from vmo_operator.components import _health as health
from vmo_operator.components import _workloads as w
from vmo_operator.components import node_network, node_reports
from vmo_operator.components.base import ClusterFacts, ComponentHealth, FactQuery, Observed
from vmo_operator.kube import kinds
from vmo_operator.kube.kinds import Kind
from vmo_operator.kube.objects import Manifest, ObjectKey

NAMESPACE = "kube-system"
DEFAULT_REGISTRY = "ghcr.io/k8snetworkplumbingwg"
NAME = "multus"
DAEMONSET = "kube-multus-ds"
CONFIG_MAP = "multus-daemon-config"
CNI_VERSION = "0.3.1"


def bridge_config(network: Network) -> str:
    """The NAD's CNI config; key order is fixed so the string, and hence the object, is deterministic."""
    config: dict[str, Any] = {
        "cniVersion": CNI_VERSION,
        "name": network.name,
        "type": "bridge",
        "bridge": network.bridge,
        "vlan": network.vlan,
    }
    if network.mtu is not None:
        config["mtu"] = network.mtu
    config["ipam"] = {}
    return json.dumps(config, separators=(",", ":"))


def network_attachments(spec: MultusSpec) -> list[Manifest]:
    return [
        {
            "apiVersion": "k8s.cni.cncf.io/v1",
            "kind": "NetworkAttachmentDefinition",
            "metadata": w.meta(network.name, ns),
            "spec": {"config": bridge_config(network)},
        }
        for network in sorted(spec.networks, key=lambda n: n.name)
        for ns in sorted(network.namespaces)
    ]


def _crd() -> Manifest:
    schema = w.data("multus")["nadSchema"]
    return w.crd(
        group="k8s.cni.cncf.io",
        kind="NetworkAttachmentDefinition",
        plural="network-attachment-definitions",
        singular="network-attachment-definition",
        scope="Namespaced",
        short_names=("net-attach-def",),
        versions=[w.crd_version("v1", schema, status=False)],
    )


def _since(version: str, since: list[int] | None) -> bool:
    return since is None or versions.parse(version)[:2] >= tuple(since)


def _cluster_role_rules(spec: MultusSpec, data: dict[str, Any]) -> list[dict[str, Any]]:
    rules = list(data["clusterRoleRules"])
    if _since(spec.version, data["podInformerSince"]):
        rules.append(data["podInformerRule"])
    return rules


def _daemonset(spec: MultusSpec, config_hash: str) -> Manifest:
    image = w.image(spec.registry, DEFAULT_REGISTRY, "multus-cni", f"{spec.version}-thick")
    data = w.data("multus")
    labels = {"tier": "node", "app": NAME, "name": NAME}
    volume_mounts: list[dict[str, Any]] = []
    volumes: list[dict[str, Any]] = []
    for entry in data["hostMounts"]:
        if not _since(spec.version, entry.get("since")):
            continue
        mount: dict[str, Any] = {"name": entry["name"], "mountPath": entry["mount"]}
        if entry.get("propagation") and _since(spec.version, entry.get("propagationSince")):
            mount["mountPropagation"] = entry["propagation"]
        volume_mounts.append(mount)
        volumes.append({"name": entry["name"], "hostPath": {"path": entry["host"]}})
    volume_mounts.append({"name": CONFIG_MAP, "mountPath": "/etc/cni/net.d/multus.d", "readOnly": True})
    if not any(
        v["name"] == "cnibin" for v in volumes
    ):  # the init container's, mounted by the daemon from v4.1
        volumes.append({"name": "cnibin", "hostPath": {"path": "/opt/cni/bin"}})
    volumes.append(
        {
            "name": CONFIG_MAP,
            "configMap": {
                "name": CONFIG_MAP,
                "items": [{"key": "daemon-config.json", "path": "daemon-config.json"}],
            },
        }
    )
    install = data["installCommand"]
    command = install["atomic"] if _since(spec.version, install["atomicSince"]) else install["plain"]
    logs = (
        {"terminationMessagePolicy": "FallbackToLogsOnError"}
        if _since(spec.version, data["fallbackToLogsSince"])
        else {}
    )
    env = (
        [{"name": "MULTUS_NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]
        if _since(spec.version, data["podInformerSince"])
        else []
    )
    pod_spec: dict[str, Any] = {
        "hostNetwork": True,
        "hostPID": True,
        "priorityClassName": "system-node-critical",
        "serviceAccountName": NAME,
        "terminationGracePeriodSeconds": 10,
        **w.pod_placement(
            spec.workloads,
            base_tolerations=[
                {"operator": "Exists", "effect": "NoSchedule"},
                {"operator": "Exists", "effect": "NoExecute"},
            ],
        ),
        "initContainers": [
            {
                "name": "install-multus-binary",
                "image": image,
                "imagePullPolicy": "IfNotPresent",
                "command": command,
                "resources": {"requests": {"cpu": "10m", "memory": "15Mi"}},
                "securityContext": {"privileged": True},
                **logs,
                "volumeMounts": [
                    {
                        "name": "cnibin",
                        "mountPath": "/host/opt/cni/bin",
                        "mountPropagation": "Bidirectional",
                    }
                ],
            }
        ],
        "containers": [
            {
                "name": "kube-multus",
                "image": image,
                "imagePullPolicy": "IfNotPresent",
                "command": ["/usr/src/multus-cni/bin/multus-daemon"],
                "resources": {
                    "requests": {"cpu": "100m", "memory": "50Mi"},
                    "limits": {"cpu": "100m", "memory": "50Mi"},
                },
                "securityContext": {"privileged": True},
                **logs,
                "volumeMounts": volume_mounts,
                **({"env": env} if env else {}),
            }
        ],
        "volumes": volumes,
    }
    return w.daemonset(
        DAEMONSET,
        NAMESPACE,
        labels,
        {"name": NAME},
        pod_spec,
        template_annotations={"vmo.dev/config-hash": config_hash},
    )


# Removing a network that VMs are attached to needs this annotation on the profile, naming it.
ACCEPT_NETWORK_REMOVAL = "vmo.dev/accept-network-removal"


def _network_refs(workload: Manifest) -> list[str]:
    """The Multus network names a VM (in its template) or a VMI refers to, as written."""
    spec = workload.get("spec") or {}
    if workload.get("kind") == "VirtualMachine":
        spec = ((spec.get("template") or {}).get("spec")) or {}
    return [
        str((network.get("multus") or {}).get("networkName", ""))
        for network in spec.get("networks") or []
        if isinstance(network, dict)
    ]


def _uses(workload: Manifest, namespace: str, name: str) -> bool:
    """Whether `workload` attaches to the NAD namespace/name ("name" means its own namespace)."""
    own = str((workload.get("metadata") or {}).get("namespace", ""))
    return any(
        (ref if "/" in ref else f"{own}/{ref}") == f"{namespace}/{name}" for ref in _network_refs(workload)
    )


def _owned_by_vm(workload: Manifest) -> bool:
    return any(
        ref.get("kind") == "VirtualMachine"
        for ref in (workload.get("metadata") or {}).get("ownerReferences") or []
    )


_RENDER_ORDER = (
    "CustomResourceDefinition",
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "ConfigMap",
    "DaemonSet",
)


@dataclass(frozen=True)
class MultusComponent:
    name: str = "multus"
    title: str = "Multus"
    owned_kinds: tuple[Kind, ...] = (
        kinds.CRD,
        kinds.SERVICE_ACCOUNT,
        kinds.CLUSTER_ROLE,
        kinds.CLUSTER_ROLE_BINDING,
        kinds.CONFIG_MAP,
        kinds.DAEMON_SET,
        kinds.NETWORK_ATTACHMENT_DEFINITION,
    )

    # A NAD that VMs use is not pruned unless the profile accepts it (`base.GuardsRemoval`).
    usage_kinds: tuple[Kind, ...] = (kinds.VIRTUAL_MACHINE, kinds.VIRTUAL_MACHINE_INSTANCE)

    # Every node's bridge report, read before each round (an unserved kind lists empty).
    fact_queries: tuple[FactQuery, ...] = (FactQuery(kinds.NODE_BRIDGE_REPORT),)

    def facts_from(self, found: Sequence[Sequence[Manifest]]) -> node_reports.NodeReports:
        return node_reports.reports_from(found[0])

    def enabled(self, spec: VMOProfileSpec, facts: ClusterFacts) -> bool:
        return spec.multus.enabled

    def users(self, obj: Manifest, workloads: Sequence[Manifest]) -> list[str]:
        if obj.get("kind") != "NetworkAttachmentDefinition":
            return []
        meta = obj["metadata"]
        return [
            f"{w['kind']} {w['metadata']['namespace']}/{w['metadata']['name']}"
            for w in workloads
            if not _owned_by_vm(w) and _uses(w, meta.get("namespace", ""), meta["name"])
        ]

    def removal_accepted(self, obj: Manifest, annotations: Mapping[str, str]) -> bool:
        accepted = {name.strip() for name in str(annotations.get(ACCEPT_NETWORK_REMOVAL, "")).split(",")}
        return str(obj["metadata"]["name"]) in accepted

    def guarded_name(self, obj: Manifest) -> str:
        meta = obj["metadata"]
        return f"network {meta['name']} in namespace {meta.get('namespace', '')}"

    def accept_hint(self, obj: Manifest, profile: str) -> str:
        name = obj["metadata"]["name"]
        return (
            f"annotate the profile: kubectl annotate vmoprofile {profile} {ACCEPT_NETWORK_REMOVAL}={name} "
            "(comma-separate several networks), or put the network back in spec.multus.networks"
        )

    def render(self, spec: VMOProfileSpec, facts: ClusterFacts) -> list[Manifest]:
        if not self.enabled(spec, facts):
            return []
        data = w.data("multus")
        daemon_config = json.dumps(data["daemonConfig"], indent=4, sort_keys=True) + "\n"
        labels = {"tier": "node", "app": NAME}
        objects = [
            _crd(),
            w.service_account(NAME, NAMESPACE),
            w.cluster_role(NAME, _cluster_role_rules(spec.multus, data)),
            w.cluster_role_binding(NAME, NAME, NAME, NAMESPACE),
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": w.meta(CONFIG_MAP, NAMESPACE, labels),
                "data": {"daemon-config.json": daemon_config},
            },
            _daemonset(spec.multus, w.digest(daemon_config)),
            *node_network.node_objects(spec.multus),
        ]
        # CRDs, then identities and RBAC, then settings, then workloads; a stable sort keeps each
        # group in the order written above.
        objects.sort(key=lambda obj: _RENDER_ORDER.index(obj["kind"]))
        return [*objects, *network_attachments(spec.multus)]

    def assess(
        self, spec: VMOProfileSpec, facts: ClusterFacts, rendered: Sequence[Manifest], observed: Observed
    ) -> ComponentHealth:
        if not self.enabled(spec, facts):
            return health.disabled(self.name)
        live = observed.get(ObjectKey("apps/v1", "DaemonSet", NAMESPACE, DAEMONSET))
        tag = health.container_image_tag(live, "kube-multus")
        judged = health.assess_rendered(self.name, rendered, observed, version=tag.removesuffix("-thick"))
        if not spec.multus.node_agent.enabled:
            return judged
        digest = node_reports.config_hash(node_network.agent_config(spec.multus))
        return node_reports.fold(judged, spec.multus, facts.of(self.name, node_reports.NodeReports), digest)


MULTUS = MultusComponent()
