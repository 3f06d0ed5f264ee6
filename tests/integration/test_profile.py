"""A VMOProfile installs, converges, repairs and removes the VM stack on a real control plane.

The operator runs as its own process with its own identity; virt-operator and cdi-operator are
played by the simulator (hack/simulators). Tests run one after another against the one
cluster-wide profile and leave no profile behind.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from kubernetes import client

from tests.support.kube import (
    PROFILE,
    condition,
    condition_of,
    get_profile,
    manifest,
    metadata,
    owned_objects,
    refusal,
    rendered,
    wait_condition,
)
from tests.support.operator import OPERATOR_USER, OperatorProcess
from tests.support.profiles import KUBEVIRT_CR, SharedProfile, kubevirt_cr, live, profile_events
from tests.support.vms import VM_API, vm_body
from tests.support.waiting import eventually
from vmo_operator.kube.objects import MANAGED_BY_LABEL, MANAGED_BY_VALUE, ObjectKey
from vmo_operator.localenv.controlplane import ControlPlane

pytestmark = pytest.mark.integration

MANAGED = f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}"


def test_fresh_profile_becomes_available_with_every_rendered_object(
    api_client: Any, profile: SharedProfile, namespace: str
) -> None:
    spec = {"multus": {"networks": [{"name": "vlan-10", "vlan": 10, "namespaces": [namespace]}]}}
    # A default install, upstream's readiness wait of the snapshot controller included.
    created = profile.fresh(spec, snapshot_wait=True)

    for obj in rendered(spec, "vmo"):
        assert live(api_client, obj) is not None, f"{obj['kind']} {obj['metadata']['name']} missing"
    gates = kubevirt_cr(api_client)["spec"]["configuration"]["developerConfiguration"]["featureGates"]
    # Default version is v1.9: HotplugVolumes is translated, GA gates are implied, not written.
    assert "DeclarativeHotplugVolumes" in gates
    assert "HotplugVolumes" not in gates
    assert "LiveMigration" not in gates
    assert "LiveMigration" in created["status"]["featureGates"]["implied"]
    nad = manifest(
        client.CustomObjectsApi(api_client).get_namespaced_custom_object(
            "k8s.cni.cncf.io", "v1", namespace, "network-attachment-definitions", "vlan-10"
        )
    )
    config = json.loads(nad["spec"]["config"])
    assert (config["type"], config["vlan"], config["bridge"]) == ("bridge", 10, "br0")
    for component in ("kubevirt", "cdi", "multus", "descheduler", "snapshotController"):
        assert created["status"]["components"][component]["ready"], component
    assert condition_of(created, "ReconcileComplete")["status"] == "True"
    assert condition_of(created, "Degraded")["status"] == "False"


def test_edits_converge_and_disabling_a_component_prunes_exactly_its_objects(
    api_client: Any, profile: SharedProfile, namespace: str
) -> None:
    spec: dict[str, Any] = {
        "multus": {"networks": [{"name": "vlan-10", "vlan": 10, "namespaces": [namespace]}]}
    }
    profile.converge(spec)
    custom = client.CustomObjectsApi(api_client)

    edited = copy.deepcopy(spec)
    # A downgrade from the default v1.9.0, so it is accepted explicitly.
    edited["kubevirt"] = {
        "version": "v1.8.4",
        "acceptDowngradeFrom": "v1.9.0",
        "featureGates": {"add": ["CPUManager"]},
    }
    edited["multus"]["networks"].append({"name": "vlan-20", "vlan": 20, "namespaces": [namespace]})
    custom.patch_cluster_custom_object(*PROFILE, "vmo", {"spec": edited})
    wait_condition(api_client, "vmo", "Available", timeout=120)

    cr = kubevirt_cr(api_client)
    gates = cr["spec"]["configuration"]["developerConfiguration"]["featureGates"]
    assert "CPUManager" in gates
    assert "HotplugVolumes" in gates, "before v1.9 the original gate name is written"
    assert "DeclarativeHotplugVolumes" not in gates
    custom.get_namespaced_custom_object(
        "k8s.cni.cncf.io", "v1", namespace, "network-attachment-definitions", "vlan-20"
    )

    before = owned_objects(api_client)
    descheduler_keys = {
        k for k, o in before.items() if o["metadata"]["labels"]["vmo.dev/component"] == "descheduler"
    }
    assert descheduler_keys
    edited["descheduler"] = {"enabled": False}
    edited["multus"]["networks"] = [n for n in edited["multus"]["networks"] if n["name"] != "vlan-20"]
    custom.patch_cluster_custom_object(*PROFILE, "vmo", {"spec": edited})
    wait_condition(api_client, "vmo", "Available", timeout=120)

    def pruned() -> dict[ObjectKey, dict[str, Any]] | None:
        after = owned_objects(api_client)
        return after if not (descheduler_keys & after.keys()) else None

    after = eventually(pruned, timeout=60, what="descheduler objects pruned")
    removed = before.keys() - after.keys()
    vlan20 = {k for k in removed if k.kind == "NetworkAttachmentDefinition" and k.name == "vlan-20"}
    assert removed == descheduler_keys | vlan20
    untouched = [k for k in after if k in before and k.kind == "Deployment"]
    for key in untouched:
        assert after[key]["metadata"]["uid"] == before[key]["metadata"]["uid"], f"{key} was recreated"


def test_manual_delete_and_edits_are_repaired_and_reported(
    control_plane: ControlPlane, api_client: Any, profile: SharedProfile, namespace: str
) -> None:
    profile.converge({"multus": {"networks": [{"name": "vlan-10", "vlan": 10, "namespaces": [namespace]}]}})
    apps = client.AppsV1Api(api_client)
    custom = client.CustomObjectsApi(api_client)
    # The profile is shared with other tests of this module: count only the events this one causes.
    earlier_events = {e.metadata.name for e in _overwritten_events(api_client)}

    old_uid = metadata(apps.read_namespaced_deployment("virt-operator", "kubevirt")).uid
    apps.delete_namespaced_deployment("virt-operator", "kubevirt")
    eventually(
        lambda: metadata(apps.read_namespaced_deployment("virt-operator", "kubevirt")).uid != old_uid,
        timeout=30,
        what="virt-operator Deployment recreated",
    )

    nad_path = ("k8s.cni.cncf.io", "v1", namespace, "network-attachment-definitions", "vlan-10")
    custom.patch_namespaced_custom_object(*nad_path, {"spec": {"config": '{"type":"macvlan"}'}})
    eventually(
        lambda: (
            json.loads(manifest(custom.get_namespaced_custom_object(*nad_path))["spec"]["config"])["type"]
            == "bridge"
        ),
        timeout=30,
        what="NAD config restored",
    )

    group, version, ns, plural, name = KUBEVIRT_CR
    custom.patch_namespaced_custom_object(
        group,
        version,
        ns,
        plural,
        name,
        {"spec": {"configuration": {"developerConfiguration": {"featureGates": ["Sidecar"]}}}},
    )
    eventually(
        lambda: (
            "Sidecar"
            not in kubevirt_cr(api_client)["spec"]["configuration"]["developerConfiguration"]["featureGates"]
        ),
        timeout=30,
        what="KubeVirt CR gates restored",
    )

    def overwritten_events() -> list[Any]:
        return [e for e in _overwritten_events(api_client) if e.metadata.name not in earlier_events]

    events = eventually(
        lambda: overwritten_events() if len(overwritten_events()) >= 3 else None,
        timeout=30,
        what="Overwritten events",
    )
    messages = " ".join(e.message for e in events)
    assert "virt-operator" in messages
    assert "vlan-10" in messages
    assert "KubeVirt" in messages


def _overwritten_events(api: Any) -> list[Any]:
    events = (
        client.CoreV1Api(api)
        .list_namespaced_event("default", field_selector="involvedObject.kind=VMOProfile,reason=Overwritten")
        .items
    )
    return [e for e in events if e.involved_object.name == "vmo"]


def test_an_idle_resync_writes_nothing(
    control_plane: ControlPlane, api_client: Any, profile: SharedProfile, operator: OperatorProcess
) -> None:
    profile.converge({})
    wait_condition(api_client, "vmo", "Progressing", "False", timeout=60)

    def reconciles() -> float:
        return sum(v for k, v in operator.metrics().items() if k.startswith("vmo_reconcile_total"))

    # Let in-flight status updates settle: two reconciles in a row without a write.
    eventually(lambda: _quiet_rounds(control_plane, reconciles, rounds=1), timeout=60, what="a quiet round")
    writes_before = len(control_plane.writes_by(OPERATOR_USER))
    start = reconciles()
    eventually(lambda: reconciles() >= start + 2, timeout=60, what="two idle resyncs")
    writes = control_plane.writes_by(OPERATOR_USER)[writes_before:]
    assert writes == [], [f"{w['verb']} {w['objectRef']}" for w in writes]


def _quiet_rounds(plane: ControlPlane, reconciles: Callable[[], float], rounds: int) -> bool:
    writes = len(plane.writes_by(OPERATOR_USER))
    start = reconciles()
    eventually(lambda: reconciles() >= start + rounds, timeout=60, what="reconcile rounds")
    return len(plane.writes_by(OPERATOR_USER)) == writes


def test_a_second_profile_is_reported_and_not_applied(api_client: Any, profile: SharedProfile) -> None:
    profile.converge({})
    profile.create({"descheduler": {"enabled": False}}, name="second")

    second = wait_condition(api_client, "second", "Degraded", timeout=60)
    assert condition_of(second, "Degraded")["reason"] == "DuplicateProfile"
    assert "vmo" in condition_of(second, "Available")["message"]
    labelled = [
        o
        for o in owned_objects(api_client).values()
        if o["metadata"]["labels"].get("vmo.dev/profile") == "second"
    ]
    assert labelled == []
    # The first profile is unaffected: its descheduler stays.
    assert any(
        o["metadata"]["labels"]["vmo.dev/component"] == "descheduler"
        for o in owned_objects(api_client).values()
    )


def test_metrics_endpoint_serves_the_operator_metrics_after_a_reconcile(
    api_client: Any, profile: SharedProfile, operator: Any
) -> None:
    profile.converge({})
    apps = client.AppsV1Api(api_client)
    # The operator process is the session's: count only the repair this test causes.
    repairs = 'vmo_drift_repairs_total{kind="Deployment"}'
    repairs_before = operator.metrics().get(repairs, 0)
    apps.delete_namespaced_deployment("descheduler", "kube-system")
    eventually(
        lambda: apps.read_namespaced_deployment("descheduler", "kube-system"), timeout=30, what="repair"
    )

    eventually(
        lambda: operator.metrics().get(repairs, 0) >= repairs_before + 1,
        timeout=30,
        what="drift repair counted",
    )
    samples = operator.metrics()
    names = {key.split("{")[0] for key in samples}
    for metric in (
        "vmo_reconcile_total",
        "vmo_reconcile_duration_seconds_count",
        "vmo_api_requests_total",
        "vmo_object_writes_total",
        "vmo_drift_repairs_total",
        "vmo_managed_objects",
        "vmo_profile_available",
    ):
        assert metric in names, metric
    assert samples['vmo_managed_objects{component="kubevirt"}'] > 0
    eventually(
        lambda: operator.metrics().get('vmo_profile_available{profile="vmo"}') == 1,
        timeout=60,
        what="available gauge back at 1 after the repair",
    )


def _create_vm_once_served(api: Any, namespace: str, name: str) -> None:
    """A halted VM, created as soon as the (simulated) KubeVirt serves the VirtualMachine API."""
    custom = client.CustomObjectsApi(api)
    body = vm_body(name, {})
    eventually(
        lambda: custom.create_namespaced_custom_object(*VM_API, namespace, "virtualmachines", body),
        timeout=30,
        what="VirtualMachine created",
    )


def test_disabling_kubevirt_while_a_vm_exists_is_refused_and_named(
    api_client: Any, profile: SharedProfile, namespace: str
) -> None:
    profile.converge({})
    custom = client.CustomObjectsApi(api_client)
    _create_vm_once_served(api_client, namespace, "keeper")
    custom.patch_cluster_custom_object(*PROFILE, "vmo", {"spec": {"kubevirt": {"enabled": False}}})

    def refused() -> dict[str, Any] | None:
        cond = condition(get_profile(api_client, "vmo"), "ReconcileComplete")
        return cond if cond and cond["reason"] == "RemovalBlocked" else None

    cond = eventually(refused, timeout=60, what="RemovalBlocked")
    assert f"{namespace}/keeper" in cond["message"]
    assert kubevirt_cr(api_client)["metadata"].get("deletionTimestamp") is None
    client.AppsV1Api(api_client).read_namespaced_deployment("virt-operator", "kubevirt")

    def blocked_events() -> list[Any]:
        events = (
            client.CoreV1Api(api_client)
            .list_namespaced_event(
                "default", field_selector="involvedObject.kind=VMOProfile,reason=RemovalBlocked"
            )
            .items
        )
        return [e for e in events if e.message is not None and "keeper" in e.message]

    eventually(blocked_events, timeout=30, what="RemovalBlocked event naming the VM")

    custom.delete_namespaced_custom_object("kubevirt.io", "v1", namespace, "virtualmachines", "keeper")
    eventually(
        lambda: not [k for k in owned_objects(api_client) if k.kind == "KubeVirt"],
        timeout=90,
        what="KubeVirt removed",
    )


def test_deleting_the_profile_is_blocked_while_a_vm_exists(
    api_client: Any, profile: SharedProfile, namespace: str
) -> None:
    profile.converge({})
    custom = client.CustomObjectsApi(api_client)
    _create_vm_once_served(api_client, namespace, "blocker")

    custom.delete_cluster_custom_object(*PROFILE, "vmo")

    def blocked() -> dict[str, Any] | None:
        profile = get_profile(api_client, "vmo")
        cond = condition(profile, "ReconcileComplete")
        return profile if cond and cond["reason"] == "RemovalBlocked" else None

    blocked_profile = eventually(blocked, timeout=60, what="RemovalBlocked condition")
    assert f"{namespace}/blocker" in condition_of(blocked_profile, "ReconcileComplete")["message"]
    assert kubevirt_cr(api_client)["metadata"].get("deletionTimestamp") is None, (
        "KubeVirt must stay installed"
    )

    custom.delete_namespaced_custom_object("kubevirt.io", "v1", namespace, "virtualmachines", "blocker")
    eventually(lambda: get_profile(api_client, "vmo") is None, timeout=120, what="profile deleted")
    eventually(lambda: not owned_objects(api_client), timeout=60, what="no orphans")


def test_a_foreign_volume_snapshot_crd_is_left_untouched(api_client: Any, profile: SharedProfile) -> None:
    ext = client.ApiextensionsV1Api(api_client)
    foreign = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": "volumesnapshots.snapshot.storage.k8s.io",
            "labels": {"installed-by": "backup-tool"},
            # *.k8s.io groups are protected; real snapshot CRDs carry this approval annotation.
            "annotations": {
                "api-approved.kubernetes.io": "https://github.com/kubernetes-csi/external-snapshotter/pull/419"
            },
        },
        "spec": {
            "group": "snapshot.storage.k8s.io",
            "scope": "Namespaced",
            "names": {"kind": "VolumeSnapshot", "plural": "volumesnapshots", "singular": "volumesnapshot"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                    },
                }
            ],
        },
    }
    # Nothing of ours may be installed yet, or our own VolumeSnapshot CRD would be in the way.
    profile.remove()
    ext.create_custom_resource_definition(client.V1CustomResourceDefinition.model_validate(foreign))
    # The API server itself updates a new CRD's status; take the version once that has settled.
    created = eventually(
        lambda: _established_crd(ext, "volumesnapshots.snapshot.storage.k8s.io"),
        timeout=30,
        what="Established",
    )
    try:
        installed = profile.fresh({})
        snapshot = installed["status"]["components"]["snapshotController"]
        assert snapshot["skipped"] is True
        assert "VolumeSnapshot CRDs not installed by vmo-operator" in snapshot["message"]
        after = ext.read_custom_resource_definition("volumesnapshots.snapshot.storage.k8s.io")
        managers = {entry.manager for entry in metadata(after).managed_fields or []}
        assert not any("vmo" in (manager or "") for manager in managers), managers
        assert metadata(after).resource_version == created.metadata.resource_version
        assert MANAGED_BY_LABEL not in (metadata(after).labels or {})
        controllers = (
            client.AppsV1Api(api_client)
            .list_deployment_for_all_namespaces(
                label_selector=f"{MANAGED},vmo.dev/component=snapshot-controller"
            )
            .items
        )
        assert controllers == []
    finally:
        ext.delete_custom_resource_definition("volumesnapshots.snapshot.storage.k8s.io")


# The conditions the API server's own controllers write on a new CRD in a *.k8s.io group, each
# with its own status update: Established can come before the API-approval one.
SETTLED_CRD_CONDITIONS = frozenset({"NamesAccepted", "Established", "KubernetesAPIApprovalPolicyConformant"})


def _established_crd(ext: Any, name: str) -> Any:
    crd = ext.read_custom_resource_definition(name)
    present = {c.type for c in crd.status.conditions or [] if c.status == "True"}
    return crd if present >= SETTLED_CRD_CONDITIONS else None


def _bridge(**settings: Any) -> dict[str, Any]:
    return {"multus": {"bridges": [{"name": "br0", **settings}]}}


IN_WITHOUT_VALUES = {"key": "ksm", "operator": "In"}
SECONDS_WITHOUT_NO_EXECUTE = {"key": "k", "effect": "NoSchedule", "tolerationSeconds": 1}


@pytest.mark.parametrize(
    ("spec", "field", "reason"),
    [
        ({"multus": {"networks": [{"name": "v", "vlan": 5000}]}}, "spec.multus.networks[0].vlan", "4094"),
        (
            {"multus": {"networks": [{"name": "v", "vlan": 1}, {"name": "v", "vlan": 2}]}},
            "spec.multus.networks",
            "Duplicate",
        ),
        (_bridge(allowedVlans=["10", "5-12"]), "spec.multus.bridges[0].allowedVlans", "overlap"),
        (_bridge(allowedVlans=["10", "4095"]), "spec.multus.bridges[0].allowedVlans[1]", "1 to 4094"),
        (_bridge(hostVlans=["20-10"]), "spec.multus.bridges[0].hostVlans[0]", "low-high"),
        (_bridge(allowedVlans=["10,20"]), "spec.multus.bridges[0].allowedVlans[0]", "should match"),
        (_bridge(create=True), "spec.multus.bridges[0].uplink", "uplink"),
        ({"macPool": {"prefixes": ["03"]}}, "spec.macPool.prefixes", "02"),
        (
            {"kubevirt": {"featureGates": {"add": ["Snapshot"], "remove": ["Snapshot"]}}},
            "spec.kubevirt.featureGates",
            "both",
        ),
        ({"snapshotController": {"mode": "Sometimes"}}, "spec.snapshotController.mode", "Unsupported value"),
        (
            {"snapshotController": {"minReadySeconds": -1}},
            "spec.snapshotController.minReadySeconds",
            "greater than or equal to 0",
        ),
        (
            {"cdi": {"infra": {"tolerations": [SECONDS_WITHOUT_NO_EXECUTE]}}},
            "spec.cdi.infra.tolerations[0].tolerationSeconds",
            "only allowed with effect NoExecute",
        ),
        (
            {"kubevirt": {"overrides": [{"op": "move", "path": "/spec/imageTag", "value": "x"}]}},
            "spec.kubevirt.overrides[0].op",
            "Unsupported value",
        ),
        (
            {"cdi": {"overrides": [{"op": "remove", "path": "/metadata/name"}]}},
            "spec.cdi.overrides[0].path",
            "should match",
        ),
        (
            {"kubevirt": {"density": {"memoryOvercommitPercent": 90}}},
            "spec.kubevirt.density.memoryOvercommitPercent",
            "greater than or equal to 100",
        ),
        (
            {"kubevirt": {"density": {"cpuAllocationRatio": 0}}},
            "spec.kubevirt.density.cpuAllocationRatio",
            "greater than or equal to 1",
        ),
        (
            {
                "kubevirt": {
                    "density": {"ksm": {"nodeLabelSelector": {"matchExpressions": [IN_WITHOUT_VALUES]}}}
                }
            },
            "spec.kubevirt.density.ksm.nodeLabelSelector.matchExpressions[0].values",
            "non-empty",
        ),
        (
            {"kubevirt": {"vmStateStorageClass": "Not_A_Class"}},
            "spec.kubevirt.vmStateStorageClass",
            "should match",
        ),
        ({"kubevirt": {"useEmulation": "yes"}}, "spec.kubevirt.useEmulation", "boolean"),
        (
            {"cdi": {"importerResources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1500m"}}}},
            "spec.cdi.importerResources.limits.cpu",
            "must not be below",
        ),
        (
            {"cdi": {"insecureRegistries": ["https://r.lab"]}},
            "spec.cdi.insecureRegistries[0]",
            "should match",
        ),
        (
            {"cdi": {"importProxy": {"httpProxy": "proxy:3128"}}},
            "spec.cdi.importProxy.httpProxy",
            "should match",
        ),
        (
            {"cdi": {"importProxy": {"trustedCAConfigMap": "Not_A_Name"}}},
            "spec.cdi.importProxy.trustedCAConfigMap",
            "should match",
        ),
    ],
    ids=[
        "vlan-range",
        "duplicate-network",
        "vlans-overlap",
        "vlan-out-of-range",
        "vlan-range-reversed",
        "vlans-malformed",
        "bridge-create-without-uplink",
        "mac-prefix",
        "gate-added-and-removed",
        "snapshot-mode",
        "snapshot-min-ready",
        "toleration-seconds",
        "override-op",
        "override-outside-spec",
        "memory-overcommit-below-100",
        "cpu-allocation-ratio-zero",
        "ksm-selector-in-without-values",
        "vm-state-storage-class",
        "use-emulation-not-boolean",
        "importer-limit-below-request",
        "insecure-registry-with-scheme",
        "import-proxy-not-a-url",
        "trusted-ca-config-map-name",
    ],
)
def test_invalid_specs_are_rejected_naming_the_field(
    api_client: Any, project_crds: list[str], spec: dict[str, Any], field: str, reason: str
) -> None:
    message = refusal(api_client, spec)
    assert field in message, message
    assert reason.lower() in message.lower(), message


def test_vmo_render_prints_what_the_operator_applies(tmp_path: Any) -> None:
    import subprocess
    import sys
    from pathlib import Path

    profile = tmp_path / "profile.yaml"
    profile.write_text(
        yaml.safe_dump(
            {"apiVersion": "vmo.dev/v1alpha1", "kind": "VMOProfile", "metadata": {"name": "vmo"}, "spec": {}}
        )
    )
    vmo = Path(sys.executable).with_name("vmo")
    out = subprocess.run([str(vmo), "render", "-f", str(profile)], capture_output=True, text=True, check=True)
    printed = [d for d in yaml.safe_load_all(out.stdout) if d]
    assert {ObjectKey.of(o) for o in printed} == {ObjectKey.of(o) for o in rendered({}, "vmo")}


VERBOSITY = {
    "op": "add",
    "path": "/spec/configuration/developerConfiguration/logVerbosity",
    "value": {"virtHandler": 4},
}


def test_overrides_patch_the_cr_taint_the_profile_and_a_bad_one_is_reported(
    api_client: Any, profile: SharedProfile
) -> None:
    def developer() -> dict[str, Any]:
        return dict(kubevirt_cr(api_client)["spec"]["configuration"]["developerConfiguration"])

    converged = profile.converge({"kubevirt": {"overrides": [VERBOSITY]}})
    tainted = condition_of(converged, "TaintedConfiguration")
    assert (tainted["status"], tainted["reason"]) == ("True", "OneOverride")
    assert VERBOSITY["path"] in tainted["message"]
    assert developer()["logVerbosity"] == {"virtHandler": 4}
    eventually(
        lambda: profile_events(api_client, "OneOverride"), timeout=30, what="TaintedConfiguration event"
    )

    # An override whose path is missing: KubeVirt is reported degraded, naming it, and the CR goes
    # back to what the API models (nothing of the patch applies); the other components stay ready.
    missing = {"op": "remove", "path": "/spec/configuration/nothingHere"}
    client.CustomObjectsApi(api_client).patch_cluster_custom_object(
        *PROFILE, "vmo", {"spec": {"kubevirt": {"overrides": [VERBOSITY, missing]}}}
    )
    degraded = wait_condition(api_client, "vmo", "Degraded", timeout=120)
    ready = condition_of(degraded, "KubeVirtReady")
    assert (ready["status"], ready["reason"]) == ("False", "OverrideNotApplied")
    assert "override 1 (remove /spec/configuration/nothingHere)" in ready["message"]
    assert condition_of(degraded, "CDIReady")["status"] == "True"
    assert condition_of(degraded, "TaintedConfiguration")["reason"] == "TwoOverrides"
    eventually(lambda: "logVerbosity" not in developer(), timeout=60, what="the patch taken back")
    eventually(lambda: profile_events(api_client, "KubeVirtDegraded"), timeout=30, what="Degraded event")

    cleared = profile.converge({})
    assert condition(cleared, "TaintedConfiguration") is None
    assert condition_of(cleared, "KubeVirtReady")["status"] == "True"
