"""Rendering: golden files, determinism, labels, ordering, owned kinds, per-component details.

Golden files live in tests/unit/golden/. Refresh them after an intended change with:

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_components_render.py

and review the diff like any other code change.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from vmo_operator.api import crd, models
from vmo_operator.components import (
    base,
    cdi,
    descheduler,
    kubevirt,
    kubevirt_gates,
    monitoring,
    multus,
    registry,
    snapshot,
)
from vmo_operator.components.base import ClusterFacts, ComponentHealth
from vmo_operator.kube import kinds
from vmo_operator.kube.objects import (
    COMPONENT_LABEL,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    PROFILE_LABEL,
    ObjectKey,
)

GOLDEN = Path(__file__).parent / "golden"
FACTS = ClusterFacts(cluster_id="uid-1")
# A cluster that serves PrometheusRules: the full case shows the alert rule too.
WITH_PROMETHEUS = ClusterFacts(
    cluster_id="uid-1", by_component={monitoring.COMPONENT_NAME: monitoring.PrometheusRuleCRD(True)}
)

FULL_SPEC: dict[str, Any] = {
    "dashboard": {
        "enabled": True,
        "replicas": 2,
        "serviceType": "NodePort",
        "placement": {"nodeSelector": {"node-role.kubernetes.io/control-plane": ""}},
    },
    "kubevirt": {
        "registry": "registry.example.com:5000/mirror",
        "infra": {
            "nodeSelector": {"node-role.kubernetes.io/control-plane": ""},
            "tolerations": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"}],
        },
        "workloads": {"nodeSelector": {"kubevirt.io/schedulable": "true"}},
        "featureGates": {"add": ["CPUManager", "HostDevices"], "remove": ["Snapshot"]},
        "migrations": {"bandwidthPerMigration": "64Mi", "allowAutoConverge": True},
        "liveUpdate": {"maxCpuSockets": 8},
        "commonInstancetypes": {"enabled": False},
    },
    "cdi": {
        "uploadProxyURLOverride": "https://cdi-uploadproxy.example.com",
        "scratchSpaceStorageClass": "local-path",
        "filesystemOverhead": {"global": "0.08", "storageClass": {"ceph-block": "0.1"}},
        "workloads": {"nodeSelector": {"kubernetes.io/os": "linux"}},
    },
    "multus": {
        "networks": [
            {"name": "vlan-30", "vlan": 30, "bridge": "br1", "mtu": 9000, "namespaces": ["vms", "default"]},
            {"name": "vlan-20", "vlan": 20},
        ],
        "bridges": [
            {"name": "br1", "allowedVlans": ["30", "40-45"], "hostVlans": ["40"]},
            {"name": "br9", "create": True, "uplink": "eth1", "vlanFiltering": False},
        ],
        "cniPlugins": {"registry": "registry.example.com/mirror", "binDir": "/usr/libexec/cni"},
        "nodeAgent": {"image": "registry.example.com/vmo-operator@sha256:" + "ab" * 32},
    },
    "descheduler": {"interval": "2m", "maintenanceTaintKeys": ["example.com/maintenance"]},
    "snapshotController": {
        "mode": "Enabled",
        "volumeSnapshotClass": {
            "name": "csi-rbd",
            "driver": "rbd.csi.ceph.com",
            "isDefault": True,
            "parameters": {"clusterID": "rook-ceph"},
        },
    },
    "monitoring": {
        "namespace": "monitoring",
        "ruleLabels": {"release": "kube-prometheus-stack"},
        "runbookURL": "https://docs.example.com/vmo/runbooks",
        "thresholds": {"webhookSlowMilliseconds": 500, "driftRepairsPerHour": 3},
    },
    "vmNamespaces": {
        "namespaces": ["vms", "team-a"],
        "goldenImageNamespace": "images",
        "roleBindings": [
            {"role": "vmo-vm-user", "groups": ["vm-users"], "users": ["alice@example.com"]},
            {"role": "vmo-vm-admin", "groups": ["vm-admins"]},
        ],
    },
    "goldenImages": {
        "registry": "registry.example.com:5000",
        "sources": [
            {
                "name": "fedora",
                "url": "docker://quay.io/containerdisks/fedora:41",
                "schedule": "0 3 * * 0",
                "importsToKeep": 2,
                "size": "8Gi",
            },
            {
                "name": "cirros",
                "url": "https://download.cirros-cloud.net/0.6.2/cirros-0.6.2-x86_64-disk.img",
                "size": "1Gi",
                "storageClass": "local-path",
            },
        ],
    },
    "uninstallStrategy": "RemoveWorkloads",
}

OLD_SPEC: dict[str, Any] = {
    "kubevirt": {"version": "v1.4.0", "featureGates": {"remove": ["Snapshot"]}},
    "cdi": {"version": "v1.61.0"},
    "multus": {"version": "v4.0.2"},
    "descheduler": {"version": "v0.35.1"},
    "snapshotController": {"version": "v8.1.0"},
}

DISABLED_SPEC: dict[str, Any] = {
    "kubevirt": {"enabled": False},
    "cdi": {"enabled": False},
    "multus": {"enabled": False},
    "descheduler": {"enabled": False},
    "vmRoles": {"enabled": False},
    "vmNamespaces": {"namespaces": []},
    "snapshotController": {"mode": "Disabled"},
    "monitoring": {"enabled": False},
}

CASES = {"default": {}, "full": FULL_SPEC, "old-versions": OLD_SPEC, "disabled": DISABLED_SPEC}


def render(
    spec: dict[str, Any], facts: ClusterFacts = FACTS, profile: str = "default"
) -> list[dict[str, Any]]:
    return registry.render_all(models.parse_spec(spec), facts, profile)


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(case: str) -> None:
    facts = WITH_PROMETHEUS if case == "full" else FACTS
    text = "".join("---\n" + crd.dump_yaml(obj) for obj in render(CASES[case], facts))
    path = GOLDEN / f"{case}.yaml"
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing {path}; create it with UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), (
        f"{case} differs from {path}; refresh with UPDATE_GOLDEN=1"
    )


@pytest.mark.parametrize("case", sorted(CASES))
def test_render_is_deterministic(case: str) -> None:
    assert render(CASES[case]) == render(CASES[case])
    assert json.dumps(render(CASES[case])) == json.dumps(render(CASES[case]))


def test_network_order_in_the_profile_does_not_matter() -> None:
    nets = FULL_SPEC["multus"]["networks"]
    reordered = {**FULL_SPEC, "multus": {**FULL_SPEC["multus"], "networks": list(reversed(nets))}}
    assert render(reordered) == render(FULL_SPEC)


def test_render_does_not_share_state_between_calls() -> None:
    first = render(FULL_SPEC)
    first[0]["metadata"]["labels"]["mutated"] = "yes"
    first[-1].setdefault("spec", {})["x"] = 1
    assert render(FULL_SPEC) == render(FULL_SPEC)
    assert "mutated" not in render(FULL_SPEC)[0]["metadata"]["labels"]


@pytest.mark.parametrize("case", ["default", "full"])
def test_every_object_is_labelled_for_its_component_and_profile(case: str) -> None:
    spec = models.parse_spec(CASES[case])
    for component in registry.components():
        for obj in base.render_labelled(component, spec, FACTS, "prod"):
            labels = obj["metadata"]["labels"]
            assert labels[MANAGED_BY_LABEL] == MANAGED_BY_VALUE
            assert labels[COMPONENT_LABEL] == component.name
            assert labels[PROFILE_LABEL] == "prod"
    assert render({}, profile="p2")[0]["metadata"]["labels"][PROFILE_LABEL] == "p2"


def test_pod_templates_and_selectors_are_not_stamped() -> None:
    # Selectors are immutable; the profile label must never leak into them or the pod templates.
    for obj in render(FULL_SPEC, profile="prod"):
        if obj["kind"] in ("Deployment", "DaemonSet"):
            assert PROFILE_LABEL not in obj["spec"]["selector"]["matchLabels"]
            assert PROFILE_LABEL not in obj["spec"]["template"]["metadata"]["labels"]


@pytest.mark.parametrize("case", ["default", "full", "old-versions"])
def test_objects_are_well_formed_and_owned(case: str) -> None:
    spec = models.parse_spec(CASES[case])
    seen: set[ObjectKey] = set()
    for component in registry.components():
        owned = {(k.api_version, k.kind): k for k in component.owned_kinds}
        for obj in component.render(spec, FACTS):
            assert obj["apiVersion"], obj
            assert obj["kind"], obj
            assert obj["metadata"]["name"], obj
            kind = owned.get((obj["apiVersion"], obj["kind"]))
            assert kind is not None, (
                f"{component.name} renders {obj['kind']} but does not own it (no pruning)"
            )
            assert bool(obj["metadata"].get("namespace")) == kind.namespaced, obj["metadata"]
            key = ObjectKey.of(obj)
            assert key not in seen, f"rendered twice: {key}"
            seen.add(key)


def test_owned_kinds_are_all_used() -> None:
    spec = models.parse_spec(FULL_SPEC)
    for component in registry.components():
        rendered = {(o["apiVersion"], o["kind"]) for o in component.render(spec, WITH_PROMETHEUS)}
        assert {(k.api_version, k.kind) for k in component.owned_kinds} == rendered, component.name


RANK = {
    "Namespace": 0,
    "CustomResourceDefinition": 1,
    "PriorityClass": 2,
    "ServiceAccount": 3,
    "ClusterRole": 3,
    "ClusterRoleBinding": 3,
    "Role": 3,
    "RoleBinding": 3,
    "ConfigMap": 4,
    "Deployment": 5,
    "DaemonSet": 5,
}


def test_objects_are_ordered_namespaces_crds_rbac_workloads_crs() -> None:
    spec = models.parse_spec(FULL_SPEC)
    for component in registry.components():
        ranks = [RANK.get(o["kind"], 9) for o in component.render(spec, FACTS)]
        assert ranks == sorted(ranks), component.name


def test_disabled_components_render_nothing() -> None:
    assert render(DISABLED_SPEC) == []


CANONICAL_QUANTITY = re.compile(r"^([1-9][0-9]*m|[1-9][0-9]*(Ki|Mi|Gi)?|[1-9][0-9]*)$")


def test_resource_quantities_are_canonical() -> None:
    # The API server returns canonical forms; anything else would look like drift forever.
    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key in ("requests", "limits"):
                for value in (node.get(key) or {}).values():
                    assert CANONICAL_QUANTITY.match(value), value
                    assert not value.endswith("000m"), value
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(render(FULL_SPEC))


def find(objs: list[dict[str, Any]], kind: str, name: str, namespace: str = "") -> dict[str, Any]:
    for obj in objs:
        if (
            obj["kind"] == kind
            and obj["metadata"]["name"] == name
            and obj["metadata"].get("namespace", "") == namespace
        ):
            return obj
    raise AssertionError(f"{kind} {namespace}/{name} not rendered")


# ------------------------------------------------------------------------------------------- kubevirt


@pytest.mark.parametrize(
    ("version", "remove", "gates", "disabled"),
    [
        ("v1.9.0", [], ["DeclarativeHotplugVolumes", "Snapshot"], None),
        ("v1.9.0", ["Snapshot"], ["DeclarativeHotplugVolumes"], ["Snapshot"]),
        ("v1.8.0", ["Snapshot"], ["ExpandDisks", "HotplugVolumes", "VMExport"], None),
        (
            "v1.4.0",
            [],
            ["ExpandDisks", "HotplugVolumes", "Snapshot", "VMExport", "VMLiveUpdateFeatures"],
            None,
        ),
    ],
)
def test_kubevirt_cr_feature_gates(
    version: str, remove: list[str], gates: list[str], disabled: list[str] | None
) -> None:
    spec = models.parse_spec({"kubevirt": {"version": version, "featureGates": {"remove": remove}}})
    developer = kubevirt.kubevirt_cr(spec)["spec"]["configuration"]["developerConfiguration"]
    assert developer["featureGates"] == gates
    assert developer.get("disabledFeatureGates") == disabled


def test_kubevirt_cr_carries_profile_settings() -> None:
    objs = render(FULL_SPEC)
    cr = find(objs, "KubeVirt", "kubevirt", "kubevirt")["spec"]
    assert cr["uninstallStrategy"] == "RemoveWorkloads"
    assert cr["imageRegistry"] == "registry.example.com:5000/mirror"
    assert cr["imageTag"] == "v1.9.0"
    assert cr["configuration"]["evictionStrategy"] == "LiveMigrate"
    assert cr["configuration"]["vmRolloutStrategy"] == "LiveUpdate"
    assert cr["configuration"]["migrations"]["bandwidthPerMigration"] == "64Mi"
    assert cr["configuration"]["liveUpdateConfiguration"] == {"maxHotplugRatio": 4, "maxCpuSockets": 8}
    assert cr["workloadUpdateStrategy"] == {
        "workloadUpdateMethods": ["LiveMigrate"],
        "batchEvictionSize": 10,
        "batchEvictionInterval": "1m",
    }
    assert cr["infra"]["nodePlacement"]["nodeSelector"] == {"node-role.kubernetes.io/control-plane": ""}
    assert cr["workloads"]["nodePlacement"] == {"nodeSelector": {"kubevirt.io/schedulable": "true"}}


def test_virt_operator_deployment() -> None:
    deployment = find(render(FULL_SPEC), "Deployment", "virt-operator", "kubevirt")
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["replicas"] == 2
    assert pod["containers"][0]["image"] == "registry.example.com:5000/mirror/virt-operator:v1.9.0"
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux", "node-role.kubernetes.io/control-plane": ""}
    assert {"key": "CriticalAddonsOnly", "operator": "Exists"} in pod["tolerations"]
    assert {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"} in pod["tolerations"]
    assert pod["priorityClassName"] == "kubevirt-cluster-critical"
    default = find(render({}), "Deployment", "virt-operator", "kubevirt")
    assert (
        default["spec"]["template"]["spec"]["containers"][0]["image"]
        == "quay.io/kubevirt/virt-operator:v1.9.0"
    )


def test_kubevirt_namespace_is_privileged() -> None:
    ns = find(render({}), "Namespace", "kubevirt")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"


def test_workload_kinds_declared_for_uninstall_blocking() -> None:
    from vmo_operator.components.base import workload_kinds

    assert kinds.VIRTUAL_MACHINE in workload_kinds(kubevirt.KUBEVIRT)
    assert workload_kinds(cdi.CDI) == (kinds.DATA_VOLUME,)
    assert workload_kinds(multus.MULTUS) == ()


# ------------------------------------------------------------------------------------------------ cdi


def test_cdi_cr_config() -> None:
    cr = find(render(FULL_SPEC), "CDI", "cdi")["spec"]
    assert cr["config"] == {
        "featureGates": ["HonorWaitForFirstConsumer"],
        "filesystemOverhead": {"global": "0.08", "storageClass": {"ceph-block": "0.1"}},
        "uploadProxyURLOverride": "https://cdi-uploadproxy.example.com",
        "scratchSpaceStorageClass": "local-path",
    }
    assert cr["uninstallStrategy"] == "RemoveWorkloads"
    assert cr["workload"] == {"nodeSelector": {"kubernetes.io/os": "linux"}}
    assert "infra" not in cr


def test_cdi_operator_images_follow_version_and_registry() -> None:
    spec = {"cdi": {"version": "v1.61.1", "registry": "mirror.local/kv"}}
    pod = find(render(spec), "Deployment", "cdi-operator", "cdi")["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert pod["containers"][0]["image"] == "mirror.local/kv/cdi-operator:v1.61.1"
    assert env["IMPORTER_IMAGE"] == "mirror.local/kv/cdi-importer:v1.61.1"
    assert env["OPERATOR_VERSION"] == "v1.61.1"


# --------------------------------------------------------------------------------------------- multus


def test_nad_per_network_and_namespace_with_bridge_config() -> None:
    objs = render(FULL_SPEC)
    nads = [
        (o["metadata"]["namespace"], o["metadata"]["name"])
        for o in objs
        if o["kind"] == "NetworkAttachmentDefinition"
    ]
    assert nads == [("default", "vlan-20"), ("default", "vlan-30"), ("vms", "vlan-30")]
    assert find(objs, "NetworkAttachmentDefinition", "vlan-30", "vms")["spec"]["config"] == (
        '{"cniVersion":"0.3.1","name":"vlan-30","type":"bridge","bridge":"br1","vlan":30,"mtu":9000,"ipam":{}}'
    )
    assert find(objs, "NetworkAttachmentDefinition", "vlan-20", "default")["spec"]["config"] == (
        '{"cniVersion":"0.3.1","name":"vlan-20","type":"bridge","bridge":"br0","vlan":20,"ipam":{}}'
    )


def test_removing_a_network_removes_its_nads() -> None:
    fewer = {**FULL_SPEC, "multus": {"networks": [FULL_SPEC["multus"]["networks"][1]]}}
    keys = {ObjectKey.of(o) for o in render(FULL_SPEC)} - {ObjectKey.of(o) for o in render(fewer)}
    assert {(k.kind, k.namespace, k.name) for k in keys} == {
        ("NetworkAttachmentDefinition", "default", "vlan-30"),
        ("NetworkAttachmentDefinition", "vms", "vlan-30"),
    }


def test_multus_daemonset() -> None:
    ds = find(render({"multus": {"registry": "mirror.local"}}), "DaemonSet", "kube-multus-ds", "kube-system")
    pod = ds["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == "mirror.local/multus-cni:v4.2.4-thick"
    assert pod["initContainers"][0]["image"] == "mirror.local/multus-cni:v4.2.4-thick"
    assert pod["serviceAccountName"] == "multus"
    assert pod["hostNetwork"] is True
    crd_obj = find(render({}), "CustomResourceDefinition", "network-attachment-definitions.k8s.cni.cncf.io")
    assert crd_obj["spec"]["names"]["shortNames"] == ["net-attach-def"]


# ---------------------------------------------------------------------------------------- descheduler


@pytest.mark.parametrize(
    ("version", "evictor"),
    [
        (
            "v0.35.1",
            {
                "nodeFit": True,
                "podProtections": {"defaultDisabled": ["PodsWithLocalStorage"]},
                "noEvictionPolicy": "Mandatory",
            },
        ),
    ],
)
def test_descheduler_policy_per_version(version: str, evictor: dict[str, Any]) -> None:
    spec = models.parse_spec({"descheduler": {"version": version}}).descheduler
    profile = descheduler.policy(spec)["profiles"][0]
    config = {p["name"]: p["args"] for p in profile["pluginConfig"]}
    assert config["DefaultEvictor"] == evictor
    assert profile["plugins"]["deschedule"]["enabled"] == ["RemovePodsViolatingNodeTaints"]


def test_descheduler_evicts_virt_launchers_on_maintenance_taints() -> None:
    objs = render(FULL_SPEC)
    policy = yaml.safe_load(
        find(objs, "ConfigMap", "descheduler-policy-configmap", "kube-system")["data"]["policy.yaml"]
    )
    assert policy["apiVersion"] == "descheduler/v1alpha2"
    args = policy["profiles"][0]["pluginConfig"][1]["args"]
    assert args["includedTaints"] == [
        "example.com/maintenance",
        "kubevirt.io/drain",
        "node.kubernetes.io/unschedulable",
    ]
    assert args["labelSelector"] == {"matchLabels": {"kubevirt.io": "virt-launcher"}}
    container = find(objs, "Deployment", "descheduler", "kube-system")["spec"]["template"]["spec"][
        "containers"
    ][0]
    assert "--feature-gates=EvictionsInBackground=true" in container["args"]
    assert "--descheduling-interval=2m" in container["args"]


def test_descheduler_pod_rolls_when_policy_changes() -> None:
    def policy_hash(spec: dict[str, Any]) -> str:
        deployment = find(render(spec), "Deployment", "descheduler", "kube-system")
        return str(deployment["spec"]["template"]["metadata"]["annotations"]["vmo.dev/policy-hash"])

    assert policy_hash({}) == policy_hash({})
    assert policy_hash({}) != policy_hash({"descheduler": {"maintenanceTaintKeys": ["a/b"]}})


def test_descheduler_rbac_can_evict() -> None:
    rules = find(render({}), "ClusterRole", "descheduler-cluster-role")["rules"]
    assert {"apiGroups": [""], "resources": ["pods/eviction"], "verbs": ["create"]} in rules
    resources = {r for rule in rules for r in rule["resources"]}
    assert {"nodes", "pods", "namespaces", "priorityclasses", "leases", "events"} <= resources


# ------------------------------------------------------------------------------------------- snapshot


def test_snapshot_crds_scopes_and_short_names() -> None:
    objs = render({})
    expected = {
        "volumesnapshots.snapshot.storage.k8s.io": ("Namespaced", ["vs"]),
        "volumesnapshotcontents.snapshot.storage.k8s.io": ("Cluster", ["vsc", "vscs"]),
        "volumesnapshotclasses.snapshot.storage.k8s.io": ("Cluster", ["vsclass", "vsclasses"]),
    }
    for name, (scope, short) in expected.items():
        obj = find(objs, "CustomResourceDefinition", name)
        assert obj["spec"]["scope"] == scope
        assert obj["spec"]["names"]["shortNames"] == short
        assert obj["spec"]["versions"][0]["name"] == "v1"
        assert "api-approved.kubernetes.io" in obj["metadata"]["annotations"]


def test_snapshot_controller_deployment_and_class() -> None:
    objs = render(FULL_SPEC)
    container = find(objs, "Deployment", "snapshot-controller", "kube-system")["spec"]["template"]["spec"][
        "containers"
    ][0]
    assert container["image"] == "registry.k8s.io/sig-storage/snapshot-controller:v8.6.0"
    assert "--leader-election=true" in container["args"]
    vsc = find(objs, "VolumeSnapshotClass", "csi-rbd")
    assert vsc["driver"] == "rbd.csi.ceph.com"
    assert vsc["deletionPolicy"] == "Delete"
    assert vsc["metadata"]["annotations"] == {snapshot.DEFAULT_CLASS_ANNOTATION: "true"}


def test_snapshot_controller_waits_upstreams_35_seconds_unless_the_profile_says_otherwise() -> None:
    def min_ready(spec: dict[str, Any]) -> int:
        deployment = find(render(spec), "Deployment", "snapshot-controller", "kube-system")
        # 0 is left out: the API server stores no zero minReadySeconds (see snapshot._deployment).
        return int(deployment["spec"].get("minReadySeconds", 0))

    assert min_ready({}) == 35
    assert min_ready({"snapshotController": {"minReadySeconds": 0}}) == 0


def foreign_snapshot(*, crds: bool = False, controller: bool = False) -> ClusterFacts:
    """Facts as the engine files them after running the snapshot component's fact queries (with
    foreign CRDs, the VolumeSnapshotClass CRD among them)."""
    found = snapshot.ForeignSnapshotInstallation(crds=crds, controller=controller, classes_served=crds)
    return ClusterFacts(by_component={snapshot.SNAPSHOT_CONTROLLER.name: found})


@pytest.mark.parametrize("mode", ["Auto", "Enabled"])
@pytest.mark.parametrize(
    ("facts", "words"),
    [
        (foreign_snapshot(crds=True), "VolumeSnapshot CRDs"),
        (foreign_snapshot(controller=True), "a snapshot-controller Deployment"),
        (foreign_snapshot(crds=True, controller=True), "CRDs and a snapshot-controller"),
    ],
)
def test_snapshot_component_never_fights_a_foreign_installation(
    mode: str, facts: ClusterFacts, words: str
) -> None:
    spec = models.parse_spec(
        {"snapshotController": {"mode": mode, "volumeSnapshotClass": {"name": "c", "driver": "d"}}}
    )
    component = snapshot.SNAPSHOT_CONTROLLER
    # Neither controller nor CRDs; the profile's class only where someone else's CRDs serve it.
    foreign = facts.of(component.name, snapshot.ForeignSnapshotInstallation)
    assert foreign is not None
    wanted = [("VolumeSnapshotClass", "c")] if foreign.crds else []
    assert [(o["kind"], o["metadata"]["name"]) for o in component.render(spec, facts)] == wanted
    assert not component.enabled(spec, facts)
    health = component.assess(spec, facts, [], {})
    assert health.skipped is True
    assert health.ready is True
    assert words in health.message
    assert ("mode is Enabled" in health.message) == (mode == "Enabled")
    # The other components are unaffected.
    assert any(o["kind"] == "KubeVirt" for o in registry.render_all(spec, facts, "p"))


def test_snapshot_component_looks_for_the_crd_and_both_controller_labels() -> None:
    queries = snapshot.SNAPSHOT_CONTROLLER.fact_queries
    assert [(q.kind, q.name) for q in queries] == [
        (kinds.CRD, "volumesnapshots.snapshot.storage.k8s.io"),
        (kinds.DEPLOYMENT, ""),
        (kinds.DEPLOYMENT, ""),
        (kinds.CRD, "volumesnapshotclasses.snapshot.storage.k8s.io"),
        (kinds.VOLUME_SNAPSHOT_CLASS, ""),
        (kinds.STORAGE_CLASS, ""),
    ]
    assert [q.label_selector for q in queries[1:3]] == [
        "app=snapshot-controller",
        "app.kubernetes.io/name=snapshot-controller",
    ]
    assert isinstance(snapshot.SNAPSHOT_CONTROLLER, base.ObservesCluster)


OURS = {"metadata": {"name": "x", "labels": {MANAGED_BY_LABEL: MANAGED_BY_VALUE}}}
THEIRS = {"metadata": {"name": "x", "labels": {"app": "snapshot-controller"}}}


@pytest.mark.parametrize(
    ("found", "crds", "controller"),
    [
        ([[], [], [], [], [], []], False, False),
        ([[OURS], [OURS], [OURS], [], [], []], False, False),
        ([[THEIRS], [], [], [], [], []], True, False),
        ([[], [THEIRS], [], [], [], []], False, True),
        ([[], [OURS], [OURS, THEIRS], [], [], []], False, True),
        ([[THEIRS], [THEIRS], [], [], [], []], True, True),
    ],
)
def test_snapshot_facts_count_only_what_is_not_ours(
    found: list[list[dict[str, Any]]], crds: bool, controller: bool
) -> None:
    facts = snapshot.SNAPSHOT_CONTROLLER.facts_from(found)
    assert (facts.crds, facts.controller) == (crds, controller)


def test_snapshot_component_without_observed_facts_installs() -> None:
    """Offline rendering (`vmo render`, the RBAC generator) passes no facts: nothing foreign is known."""
    spec = models.parse_spec({"snapshotController": {"mode": "Enabled"}})
    assert snapshot.SNAPSHOT_CONTROLLER.render(spec, ClusterFacts())


def test_snapshot_disabled_is_not_skipped() -> None:
    spec = models.parse_spec({"snapshotController": {"mode": "Disabled"}})
    health = snapshot.SNAPSHOT_CONTROLLER.assess(spec, foreign_snapshot(crds=True), [], {})
    assert (health.enabled, health.skipped, health.reason) == (False, False, "Disabled")


# -------------------------------------------------------------------------------------------- registry


def test_registry_order_and_names() -> None:
    assert [c.name for c in registry.components()] == [
        "snapshotController",
        "multus",
        "kubevirt",
        "cdi",
        "descheduler",
        "vmRoles",
        "monitoring",
        "vmNamespaces",
        "goldenImages",
        "dashboard",
    ]
    assert registry.by_name("cdi") is cdi.CDI
    assert kinds.NETWORK_ATTACHMENT_DEFINITION in registry.owned_kinds()


def base_health(name: str) -> ComponentHealth:
    return ComponentHealth(name, True, True)


def test_kubevirt_status_fields() -> None:
    spec = models.parse_spec({"kubevirt": {"featureGates": {"add": ["Mystery"]}}})
    extras = kubevirt.KUBEVIRT.status_fields(spec, ComponentHealth("kubevirt", True, True, "v1.9.0"))
    assert extras["featureGates"]["unknown"] == ["Mystery"]
    assert extras["kubevirtVersion"] == "v1.9.0"
    models.FeatureGateStatus.model_validate(extras["featureGates"])
    off = models.parse_spec({"kubevirt": {"enabled": False}})
    assert "featureGates" not in kubevirt.KUBEVIRT.status_fields(off, base_health("kubevirt"))
    assert any("Mystery" in w for w in kubevirt_gates.gate_resolution(spec.kubevirt).warnings)


def test_kubevirt_reports_unknown_feature_gates_as_a_condition() -> None:
    spec = models.parse_spec({"kubevirt": {"featureGates": {"add": ["Foo"]}}})
    recognized, *_ = kubevirt.KUBEVIRT.extra_conditions(spec, base_health("kubevirt"))
    assert (recognized.type, recognized.status, recognized.reason) == (
        "FeatureGatesRecognized",
        "False",
        "UnknownFeatureGate",
    )
    assert "Foo" in recognized.message


def test_kubevirt_feature_gates_recognized_when_nothing_unknown_is_requested() -> None:
    conditions = kubevirt.KUBEVIRT.extra_conditions(models.parse_spec({}), base_health("kubevirt"))
    assert next((c.type, c.status, c.reason) for c in conditions) == (
        "FeatureGatesRecognized",
        "True",
        "AllGatesKnown",
    )


def test_a_disabled_kubevirt_reports_no_gate_conditions() -> None:
    spec = {"kubevirt": {"enabled": False, "featureGates": {"add": ["Foo"]}}}
    assert kubevirt.KUBEVIRT.extra_conditions(models.parse_spec(spec), base_health("kubevirt")) == []


@pytest.mark.parametrize(
    ("spec", "status", "reason", "named"),
    [
        ({"kubevirt": {"version": "v1.8.4"}}, "False", "AsRequested", ""),
        ({}, "True", "GatesTranslated", "HotplugVolumes -> DeclarativeHotplugVolumes"),
        (
            {"kubevirt": {"version": "v1.8.4", "featureGates": {"add": ["Macvtap"]}}},
            "True",
            "GatesDropped",
            "Macvtap",
        ),
    ],
    ids=["as-requested", "translated", "dropped"],
)
def test_translated_and_dropped_gates_raise_a_condition(
    spec: dict[str, Any], status: str, reason: str, named: str
) -> None:
    _, changed, *_ = kubevirt.KUBEVIRT.extra_conditions(models.parse_spec(spec), base_health("kubevirt"))
    assert (changed.type, changed.status, changed.reason) == ("FeatureGatesChanged", status, reason)
    assert named in changed.message
    assert "CPUHotplug" not in changed.message, "the pseudo-gate's meaning is no change"
