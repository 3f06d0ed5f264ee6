"""VolumeSnapshotClasses for backups and the PrometheusRule alerts on a real control plane (issue 14,
items 4 and 10): objects created and pruned, status filled, a foreign class left alone, bad input
refused by the API server with the field named.

The control plane has no Prometheus Operator: the alert test installs a PrometheusRule CRD of its
own (the group, kind and scope of monitoring.coreos.com/v1; the schema left open) and removes it
again, so later modules see the bare cluster they expect.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.kube import condition_of, get_profile, refusal, wait_condition
from tests.support.profiles import SharedProfile, kube_of
from tests.support.prometheus import prometheus_rule_crd
from tests.support.waiting import eventually
from vmo_operator.components import monitoring
from vmo_operator.components.base import ClusterFacts
from vmo_operator.kube import kinds
from vmo_operator.kube.objects import MANAGED_BY_LABEL

pytestmark = pytest.mark.integration

CEPH, NFS = "rbd.csi.ceph.com", "nfs.csi.k8s.io"
VELERO = "velero.io/csi-volumesnapshot-class"
STORAGE_CLASSES = {
    "vmo-test-ceph": CEPH,
    "vmo-test-nfs": NFS,
    "vmo-test-local": "kubernetes.io/no-provisioner",
}
FOREIGN = "vmo-test-taken"
RULE_NAMESPACE = "default"
WITH_PROMETHEUS = ClusterFacts(by_component={monitoring.COMPONENT_NAME: monitoring.PrometheusRuleCRD(True)})


def live_rule(api: Any) -> dict[str, Any] | None:
    return kube_of(api).get(kinds.PROMETHEUS_RULE, monitoring.RULE_NAME, RULE_NAMESPACE)


def component_status(api: Any, name: str) -> dict[str, Any]:
    profile = get_profile(api, "vmo")
    assert profile is not None
    found: dict[str, Any] = profile["status"]["components"][name]
    return found


@pytest.fixture
def prometheus_crd(api_client: Any) -> Iterator[None]:
    kube = kube_of(api_client)
    kube.create(kinds.CRD, prometheus_rule_crd())
    eventually(lambda: kube.served(kinds.PROMETHEUS_RULE), timeout=30, what="PrometheusRules served")
    yield
    kube.delete(kinds.CRD, monitoring.CRD_NAME)
    eventually(lambda: kube.get(kinds.CRD, monitoring.CRD_NAME) is None, timeout=60, what="CRD gone")


def test_without_the_prometheusrule_crd_the_profile_says_so_and_is_not_degraded(
    api_client: Any, profile: SharedProfile
) -> None:
    converged = profile.converge({})
    status = converged["status"]["components"]["monitoring"]
    assert (status["enabled"], status["skipped"], status["reason"]) == (
        False,
        True,
        "PrometheusRuleCRDNotFound",
    )
    assert "PrometheusRule CRD (monitoring.coreos.com/v1) is not installed" in status["message"]
    assert condition_of(converged, "Degraded")["status"] == "False"
    ready = condition_of(converged, "MonitoringReady")
    assert (ready["status"], ready["reason"]) == ("True", "PrometheusRuleCRDNotFound")


def test_the_rule_is_written_once_the_crd_exists_and_pruned_when_monitoring_is_off(
    api_client: Any, profile: SharedProfile, prometheus_crd: None, operator: Any
) -> None:
    spec = {
        "monitoring": {
            "namespace": RULE_NAMESPACE,
            "ruleLabels": {"release": "kube-prometheus-stack"},
            "thresholds": {"webhookSlowMilliseconds": 750, "driftRepairsPerHour": 4},
        }
    }
    profile.converge(spec, WITH_PROMETHEUS)
    rule = eventually(lambda: live_rule(api_client), timeout=60, what="PrometheusRule written")
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert rule["metadata"]["labels"][MANAGED_BY_LABEL] == "vmo-operator"
    alerts = {r["alert"]: r for group in rule["spec"]["groups"] for r in group["rules"]}
    assert set(alerts) == {
        "VMOComponentDegraded",
        "VMOMacWebhookDown",
        "VMOMacWebhookSlow",
        "VMOMacCollisions",
        "VMODriftRepairsHigh",
        "VMOOperatorNotReconciling",
    }
    assert alerts["VMOMacWebhookSlow"]["expr"].endswith("> 0.75")
    assert alerts["VMODriftRepairsHigh"]["expr"].endswith("> 4")
    assert alerts["VMOComponentDegraded"]["annotations"]["runbook_url"].endswith("#vmocomponentdegraded")
    status = component_status(api_client, "monitoring")
    assert (status["enabled"], status["ready"], status["skipped"]) == (True, True, False)

    # The metrics the rule reads are exported by the running operator.
    samples = operator.metrics()
    names = {key.split("{")[0] for key in samples}
    assert "vmo_reconcile_last_completed_timestamp_seconds" in names
    assert samples['vmo_component_degraded{component="kubevirt"}'] == 0

    # Deleted behind the operator's back: restored.
    kube_of(api_client).delete(kinds.PROMETHEUS_RULE, monitoring.RULE_NAME, RULE_NAMESPACE)
    eventually(lambda: live_rule(api_client), timeout=60, what="PrometheusRule restored")

    profile.converge({"monitoring": {"enabled": False}}, WITH_PROMETHEUS)
    eventually(lambda: live_rule(api_client) is None, timeout=60, what="PrometheusRule pruned")
    assert component_status(api_client, "monitoring")["reason"] == "Disabled"


@pytest.fixture
def storage_objects(api_client: Any) -> Iterator[None]:
    kube = kube_of(api_client)
    for name, provisioner in STORAGE_CLASSES.items():
        kube.create(
            kinds.STORAGE_CLASS,
            {
                "apiVersion": "storage.k8s.io/v1",
                "kind": "StorageClass",
                "metadata": {"name": name},
                "provisioner": provisioner,
            },
        )
    yield
    # The foreign class must go before the profile does: a VolumeSnapshotClass someone else made
    # would keep the snapshot CRDs (rightly), and later modules would find them foreign.
    kube.delete(kinds.VOLUME_SNAPSHOT_CLASS, FOREIGN)
    for name in STORAGE_CLASSES:
        kube.delete(kinds.STORAGE_CLASS, name)


def snapshot_classes(api: Any) -> dict[str, dict[str, Any]]:
    return {c["metadata"]["name"]: c for c in kube_of(api).list(kinds.VOLUME_SNAPSHOT_CLASS)}


def uncovered(api: Any) -> list[str]:
    profile = get_profile(api, "vmo") or {}
    found = (profile.get("status") or {}).get("storageClassesWithoutSnapshotClass") or []
    return [name for name in found if name in STORAGE_CLASSES]


def test_snapshot_classes_per_driver_are_created_labelled_reported_and_pruned(
    api_client: Any, profile: SharedProfile, storage_objects: None
) -> None:
    classes = [
        {"name": "vmo-test-ceph-fast", "driver": CEPH},
        {
            "name": "vmo-test-ceph-backup",
            "driver": CEPH,
            "isDefault": True,
            "parameters": {"clusterID": "rook"},
        },
        {"name": "vmo-test-nfs-2", "driver": NFS},
    ]
    profile.converge({"snapshotController": {"mode": "Enabled", "volumeSnapshotClasses": classes}})
    live = snapshot_classes(api_client)
    assert {"vmo-test-ceph-fast", "vmo-test-ceph-backup", "vmo-test-nfs-2"} <= live.keys()
    labelled = {n for n, c in live.items() if VELERO in (c["metadata"].get("labels") or {})}
    assert labelled == {"vmo-test-ceph-backup", "vmo-test-nfs-2"}
    assert live["vmo-test-ceph-backup"]["parameters"] == {"clusterID": "rook"}
    # Only the local class lacks a snapshot class for its provisioner.
    eventually(lambda: uncovered(api_client) == ["vmo-test-local"], timeout=60, what="coverage in status")

    # Someone else's class holds a name the profile then lists: it is left alone and reported.
    kube = kube_of(api_client)
    foreign = {
        "apiVersion": "snapshot.storage.k8s.io/v1",
        "kind": "VolumeSnapshotClass",
        "metadata": {"name": FOREIGN, "labels": {"team": "storage"}},
        "driver": "other.csi.example.com",
        "deletionPolicy": "Retain",
    }
    kube.create(kinds.VOLUME_SNAPSHOT_CLASS, foreign)
    kept = [classes[1], {"name": FOREIGN, "driver": NFS}]
    profile.converge({"snapshotController": {"mode": "Enabled", "volumeSnapshotClasses": kept}})
    eventually(
        lambda: "left alone" in component_status(api_client, "snapshotController")["message"],
        timeout=60,
        what="foreign class reported",
    )
    assert FOREIGN in component_status(api_client, "snapshotController")["message"]
    live = snapshot_classes(api_client)
    assert live[FOREIGN]["driver"] == "other.csi.example.com"
    assert MANAGED_BY_LABEL not in live[FOREIGN]["metadata"]["labels"]
    # Dropped from the list: pruned. NFS is no longer served by any class.
    assert "vmo-test-ceph-fast" not in live
    assert "vmo-test-nfs-2" not in live
    eventually(
        lambda: uncovered(api_client) == ["vmo-test-local", "vmo-test-nfs"], timeout=60, what="NFS uncovered"
    )
    condition = wait_condition(api_client, "vmo", "Degraded", "False")
    assert condition is not None


def foreign_snapshot_crd(kind: str, plural: str, scope: str) -> dict[str, Any]:
    """A snapshot CRD as another installation (a backup product) would have made it."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.snapshot.storage.k8s.io",
            "labels": {"installed-by": "backup-tool"},
            # *.k8s.io groups are protected; real snapshot CRDs carry this approval annotation.
            "annotations": {
                "api-approved.kubernetes.io": "https://github.com/kubernetes-csi/external-snapshotter/pull/419"
            },
        },
        "spec": {
            "group": "snapshot.storage.k8s.io",
            "scope": scope,
            "names": {"kind": kind, "plural": plural, "singular": kind.lower()},
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


FOREIGN_CRDS = (
    foreign_snapshot_crd("VolumeSnapshot", "volumesnapshots", "Namespaced"),
    foreign_snapshot_crd("VolumeSnapshotClass", "volumesnapshotclasses", "Cluster"),
)


def test_under_another_snapshot_installation_the_classes_are_still_written(
    api_client: Any, profile: SharedProfile
) -> None:
    kube = kube_of(api_client)
    # Nothing of ours may be installed yet, or our own snapshot CRDs would be in the way.
    profile.remove()
    for crd in FOREIGN_CRDS:
        kube.create(kinds.CRD, crd)
    eventually(lambda: kube.served(kinds.VOLUME_SNAPSHOT_CLASS), timeout=30, what="classes served")
    try:
        spec = {
            "snapshotController": {"volumeSnapshotClasses": [{"name": "vmo-test-backup", "driver": CEPH}]}
        }
        installed = profile.fresh(spec)
        status = installed["status"]["components"]["snapshotController"]
        assert (status["skipped"], status["reason"]) == (True, "ForeignSnapshotController")
        written = eventually(
            lambda: snapshot_classes(api_client).get("vmo-test-backup"), timeout=60, what="class written"
        )
        assert written["metadata"]["labels"][VELERO] == "true"
        assert written["metadata"]["labels"][MANAGED_BY_LABEL] == "vmo-operator"
        # Their CRDs stay theirs: not labelled, and no controller of ours.
        for crd in FOREIGN_CRDS:
            live = kube.get(kinds.CRD, crd["metadata"]["name"])
            assert live is not None
            assert MANAGED_BY_LABEL not in live["metadata"]["labels"]
        assert kube.get(kinds.DEPLOYMENT, "snapshot-controller", "kube-system") is None
        # Removing the profile removes our class, and leaves their CRDs.
        profile.remove()
        assert "vmo-test-backup" not in snapshot_classes(api_client)
        assert all(kube.get(kinds.CRD, crd["metadata"]["name"]) is not None for crd in FOREIGN_CRDS)
    finally:
        for crd in FOREIGN_CRDS:
            kube.delete(kinds.CRD, crd["metadata"]["name"])
        names = [crd["metadata"]["name"] for crd in FOREIGN_CRDS]
        eventually(
            lambda: all(kube.get(kinds.CRD, name) is None for name in names),
            timeout=60,
            what="their CRDs gone",
        )


@pytest.mark.parametrize(
    ("spec", "field", "reason"),
    [
        (
            {
                "snapshotController": {
                    "volumeSnapshotClasses": [
                        {"name": "a", "driver": CEPH, "isDefault": True},
                        {"name": "b", "driver": CEPH, "isDefault": True},
                    ]
                }
            },
            "spec.snapshotController.volumeSnapshotClasses",
            "at most one class per driver may set isDefault",
        ),
        (
            {
                "snapshotController": {
                    "volumeSnapshotClass": {"name": "a", "driver": CEPH},
                    "volumeSnapshotClasses": [{"name": "b", "driver": NFS}],
                }
            },
            "spec.snapshotController.volumeSnapshotClasses",
            "not both",
        ),
        (
            {
                "snapshotController": {
                    "volumeSnapshotClasses": [{"name": "a", "driver": CEPH}, {"name": "a", "driver": NFS}]
                }
            },
            "spec.snapshotController.volumeSnapshotClasses[1]",
            "Duplicate value",
        ),
        (
            {
                "snapshotController": {
                    "volumeSnapshotClasses": [
                        {"name": "a", "driver": CEPH, "parameters": {"pool": "p" * 513}}
                    ]
                }
            },
            "spec.snapshotController.volumeSnapshotClasses[0].parameters.pool",
            "512",
        ),
        (
            {"cdi": {"infra": {"nodeSelector": {f"zone-{n}": "a" for n in range(17)}}}},
            "spec.cdi.infra.nodeSelector",
            "16",
        ),
        (
            {"monitoring": {"thresholds": {"webhookSlowMilliseconds": 5}}},
            "spec.monitoring.thresholds.webhookSlowMilliseconds",
            "10",
        ),
        ({"monitoring": {"ruleLabels": {"bad key!": "x"}}}, "spec.monitoring.ruleLabels", "label key"),
        ({"monitoring": {"namespace": "Not_A_Namespace"}}, "spec.monitoring.namespace", "should match"),
    ],
    ids=[
        "two-defaults",
        "both-fields",
        "duplicate-name",
        "long-parameter",
        "node-selector",
        "slow",
        "label",
        "namespace",
    ],
)
def test_bad_input_is_refused_naming_the_field(
    api_client: Any, project_crds: list[str], spec: dict[str, Any], field: str, reason: str
) -> None:
    message = refusal(api_client, spec)
    assert field in message, message
    assert reason.lower() in message.lower(), message
