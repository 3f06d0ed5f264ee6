"""What Multus needs on every node besides itself: the CNI plugins and the node agent.

The NADs name the `bridge` plugin (with `tuning` beside it for MTU and sysctls), which Multus does
not ship; a DaemonSet installs both into the host's CNI bin directory the way KubeVirt's network
addons operator does (facts in data/cni_plugins.yaml). The node agent (`vmo node-agent`, the
operator's own image) checks on each node the bridges the profile's networks use, applies their
VLAN filtering and reports what it found (`node_reports`). Both run where Multus runs.

The agent's privileges, each needed and no more:
- `hostNetwork`: the bridges live in the host's network namespace; netlink sees only its own.
- `NET_ADMIN`: switching VLAN filtering on, writing a port's VLAN table and (only with
  `create: true`) creating a bridge and enslaving the named uplink are netlink writes the kernel
  allows only with it. It runs as uid 0 because Kubernetes grants added capabilities to a non-root
  process only through file capabilities; every other capability is dropped, privilege escalation
  is off and the root filesystem is read-only.
- RBAC: get, create and patch of `nodebridgereports`, nothing else. Its settings come from a
  mounted ConfigMap, not from the API.
"""

from __future__ import annotations

import json
from typing import Any

from vmo_operator import __version__
from vmo_operator.api import vlans
from vmo_operator.api.models import MultusSpec
from vmo_operator.components import _workloads as w
from vmo_operator.components import node_reports
from vmo_operator.kube.objects import Manifest

NAMESPACE = "kube-system"
AGENT = "vmo-node-agent"
AGENT_IMAGE = f"ghcr.io/vmo-dev/vmo-operator:{__version__}"
AGENT_CONFIG_DIR = "/etc/vmo-node-agent"
PLUGINS_REGISTRY = "quay.io/kubevirt"
# Where Multus runs, so do these: on every node, whatever its taints.
NODE_TOLERATIONS = (
    {"operator": "Exists", "effect": "NoSchedule"},
    {"operator": "Exists", "effect": "NoExecute"},
)


def agent_config(spec: MultusSpec) -> str:
    """The agent's settings file: per bridge, what to check and apply. Deterministic text."""
    bridges = [
        {
            "name": bridge.name,
            "vlanFiltering": bridge.vlan_filtering,
            "allowedVlans": vlans.compress(spec.allowed_vlans(bridge)),
            "hostVlans": vlans.compress(vlans.parse(bridge.host_vlans or [])),
            "create": bridge.create,
            "uplink": bridge.uplink,
        }
        for bridge in spec.bridge_settings()
    ]
    return json.dumps({"bridges": bridges}, indent=2, sort_keys=True) + "\n"


def _install_script(data: dict[str, Any], bin_dir: str) -> str:
    """Copy each plugin in as cnv-<name>, checked against its checksum, then link <name> to it
    unless the host has a plugin of that name of its own; then stay up so the pod stays Ready."""
    source = data["sourceDir"]
    return "\n".join(
        [
            "set -eu",
            f"dir={data['mountPath']}",
            f"for plugin in {' '.join(data['plugins'])}; do",
            f'  cp --remove-destination "{source}/$plugin" "$dir/.cnv-$plugin.new"',
            f'  echo "$(cut -d" " -f1 "{source}/$plugin.checksum")  $dir/.cnv-$plugin.new" | sha256sum -c -',
            '  mv -f "$dir/.cnv-$plugin.new" "$dir/cnv-$plugin"',
            '  if [ -e "$dir/$plugin" ] && [ ! -L "$dir/$plugin" ]; then',
            '    echo "$plugin: the host has its own, kept"',
            "  else",
            '    ln -sfn "cnv-$plugin" "$dir/$plugin"',
            "  fi",
            "done",
            f"echo 'installed into {bin_dir}'",
            "exec sleep infinity",
        ]
    )


def plugins_daemonset(spec: MultusSpec) -> Manifest:
    data = w.data("cni_plugins")
    plugins = spec.cni_plugins
    image = w.image(plugins.registry or spec.registry, PLUGINS_REGISTRY, data["image"], plugins.version)
    labels = {"tier": "node", "app": "cni-plugins", "name": data["daemonSet"]}
    pod_spec = {
        "priorityClassName": data["priorityClassName"],
        **w.pod_placement(spec.workloads, base_tolerations=NODE_TOLERATIONS),
        "containers": [
            {
                "name": "cni-plugins",
                "image": image,
                "imagePullPolicy": "IfNotPresent",
                "command": ["/bin/bash", "-c", _install_script(data, plugins.bin_dir)],
                "resources": data["resources"],
                "securityContext": {"privileged": True},
                "volumeMounts": [{"name": "cnibin", "mountPath": data["mountPath"]}],
            }
        ],
        "volumes": [{"name": "cnibin", "hostPath": {"path": plugins.bin_dir}}],
    }
    return w.daemonset(data["daemonSet"], NAMESPACE, labels, {"name": data["daemonSet"]}, pod_spec)


AGENT_RULES: list[dict[str, Any]] = [
    {
        "apiGroups": [node_reports.GROUP],
        "resources": [node_reports.PLURAL],
        "verbs": ["get", "create", "patch"],
    }
]


def agent_objects(spec: MultusSpec) -> list[Manifest]:
    """The agent's ServiceAccount, RBAC, settings and DaemonSet."""
    config = agent_config(spec)
    labels = {"tier": "node", "app": AGENT}
    container: dict[str, Any] = {
        "name": "node-agent",
        "image": spec.node_agent.image or AGENT_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "args": ["node-agent", "--config", f"{AGENT_CONFIG_DIR}/{node_reports.CONFIG_KEY}"],
        "env": [{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
        "resources": {"requests": {"cpu": "10m", "memory": "40Mi"}, "limits": {"memory": "128Mi"}},
        "securityContext": {
            "runAsUser": 0,
            "runAsNonRoot": False,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [{"name": "config", "mountPath": AGENT_CONFIG_DIR, "readOnly": True}],
    }
    pod_spec = {
        "hostNetwork": True,
        "dnsPolicy": "ClusterFirstWithHostNet",
        "serviceAccountName": AGENT,
        "priorityClassName": "system-node-critical",
        "terminationGracePeriodSeconds": 5,
        **w.pod_placement(spec.workloads, base_tolerations=NODE_TOLERATIONS),
        "containers": [container],
        "volumes": [{"name": "config", "configMap": {"name": AGENT}}],
    }
    daemonset = w.daemonset(AGENT, NAMESPACE, labels, {"app": AGENT}, pod_spec)
    return [
        w.service_account(AGENT, NAMESPACE),
        w.cluster_role(AGENT, AGENT_RULES),
        w.cluster_role_binding(AGENT, AGENT, AGENT, NAMESPACE),
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": w.meta(AGENT, NAMESPACE, labels),
            "data": {node_reports.CONFIG_KEY: config},
        },
        daemonset,
    ]


def node_objects(spec: MultusSpec) -> list[Manifest]:
    """Everything the nodes need besides Multus, as the profile asks for it."""
    out: list[Manifest] = []
    if spec.cni_plugins.enabled:
        out.append(plugins_daemonset(spec))
    if spec.node_agent.enabled:
        out += [node_reports.crd(), *agent_objects(spec)]
    return out
