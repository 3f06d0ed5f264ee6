"""VolumeSnapshotClasses per CSI driver for backups, and the PrometheusRule alerts (issue 14, items 4, 10)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from vmo_operator.api import crd, models
from vmo_operator.api.models.operands import VELERO_CLASS_LABEL
from vmo_operator.components import alerts, monitoring, snapshot, snapshot_classes
from vmo_operator.components.base import ClusterFacts
from vmo_operator.engine.status import ReconcileFacts, summary_conditions
from vmo_operator.kube.objects import MANAGED_BY_LABEL, MANAGED_BY_VALUE
from vmo_operator.operator.macpool.metrics import MacPoolMetrics
from vmo_operator.operator.metrics import ProfileMetrics

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOT = snapshot.SNAPSHOT_CONTROLLER
CEPH, NFS = "rbd.csi.ceph.com", "nfs.csi.k8s.io"


def classes_spec(*entries: dict[str, Any]) -> models.VMOProfileSpec:
    return models.parse_spec(
        {"snapshotController": {"mode": "Enabled", "volumeSnapshotClasses": list(entries)}}
    )


def storage(
    classes: Sequence[tuple[str, str, bool]] = (), storage_classes: Sequence[tuple[str, str]] = ()
) -> ClusterFacts:
    """Facts as the snapshot component's queries would find them: (name, driver, ours) classes."""
    live = [
        {
            "metadata": {
                "name": name,
                "labels": {MANAGED_BY_LABEL: MANAGED_BY_VALUE} if ours else {"team": "storage"},
            },
            "driver": driver,
        }
        for name, driver, ours in classes
    ]
    scs = [{"metadata": {"name": name}, "provisioner": provisioner} for name, provisioner in storage_classes]
    facts = SNAPSHOT.facts_from([[], [], [], [], live, scs])
    return ClusterFacts(by_component={SNAPSHOT.name: facts})


OFFLINE = ClusterFacts()


def rendered_classes(spec: models.VMOProfileSpec, facts: ClusterFacts = OFFLINE) -> dict[str, Any]:
    return {
        o["metadata"]["name"]: o for o in SNAPSHOT.render(spec, facts) if o["kind"] == "VolumeSnapshotClass"
    }


# ----------------------------------------------------------------------------- VolumeSnapshotClasses


def test_one_class_per_entry_and_one_velero_label_per_driver() -> None:
    spec = classes_spec(
        {"name": "ceph-fast", "driver": CEPH},
        {"name": "ceph-backup", "driver": CEPH, "isDefault": True, "parameters": {"clusterID": "rook"}},
        {"name": "nfs", "driver": NFS, "deletionPolicy": "Retain"},
        {"name": "nfs-2", "driver": NFS},
    )
    out = rendered_classes(spec)
    assert sorted(out) == ["ceph-backup", "ceph-fast", "nfs", "nfs-2"]
    labelled = {name for name, obj in out.items() if VELERO_CLASS_LABEL in obj["metadata"].get("labels", {})}
    # The driver's default when it has one, else its first listed class: Velero takes the first
    # labelled class of a driver, so two labelled ones would make its choice arbitrary.
    assert labelled == {"ceph-backup", "nfs"}
    assert out["ceph-backup"]["metadata"]["labels"][VELERO_CLASS_LABEL] == "true"
    assert out["ceph-backup"]["metadata"]["annotations"] == {snapshot.DEFAULT_CLASS_ANNOTATION: "true"}
    assert "annotations" not in out["ceph-fast"]["metadata"]
    assert out["ceph-backup"]["parameters"] == {"clusterID": "rook"}
    assert (out["nfs"]["driver"], out["nfs"]["deletionPolicy"]) == (NFS, "Retain")


def test_the_older_single_class_still_renders_labelled_for_velero() -> None:
    spec = models.parse_spec({"snapshotController": {"volumeSnapshotClass": {"name": "one", "driver": CEPH}}})
    out = rendered_classes(spec)
    assert out["one"]["metadata"]["labels"] == {VELERO_CLASS_LABEL: "true"}


def test_two_defaults_for_one_driver_are_refused_with_the_field_named() -> None:
    with pytest.raises(ValidationError) as refused:
        classes_spec(
            {"name": "a", "driver": CEPH, "isDefault": True},
            {"name": "b", "driver": CEPH, "isDefault": True},
        )
    text = str(refused.value)
    assert "snapshotController.volumeSnapshotClasses" in text
    assert f"at most one class per driver may set isDefault (driver {CEPH})" in text
    # A default per driver is fine.
    classes_spec(
        {"name": "a", "driver": CEPH, "isDefault": True}, {"name": "b", "driver": NFS, "isDefault": True}
    )


def test_the_schema_carries_the_same_rules() -> None:
    schema = crd.build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    snap = schema["properties"]["snapshotController"]
    listed = snap["properties"]["volumeSnapshotClasses"]
    assert listed["maxItems"] == 8
    assert listed["x-kubernetes-list-type"] == "map"
    assert listed["x-kubernetes-list-map-keys"] == ["name"]
    assert any("exists_one" in rule["rule"] for rule in listed["x-kubernetes-validations"])
    both = [r for r in snap["x-kubernetes-validations"] if "volumeSnapshotClass)" in r["rule"]]
    assert both
    assert both[0]["fieldPath"] == ".volumeSnapshotClasses"
    params = listed["items"]["properties"]["parameters"]
    assert (params["maxProperties"], params["additionalProperties"]["maxLength"]) == (16, 512)


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        (
            {
                "volumeSnapshotClass": {"name": "a", "driver": CEPH},
                "volumeSnapshotClasses": [{"name": "b", "driver": NFS}],
            },
            "volumeSnapshotClasses: set volumeSnapshotClasses or the older volumeSnapshotClass, not both",
        ),
        (
            {"volumeSnapshotClasses": [{"name": "a", "driver": CEPH}, {"name": "a", "driver": NFS}]},
            "duplicate VolumeSnapshotClass name 'a'",
        ),
        (
            {"volumeSnapshotClasses": [{"name": "a", "driver": "bad driver"}]},
            "volumeSnapshotClasses.0.driver",
        ),
        (
            {"volumeSnapshotClasses": [{"name": f"c{n}", "driver": CEPH} for n in range(9)]},
            "volumeSnapshotClasses",
        ),
    ],
    ids=["both-fields", "duplicate-name", "bad-driver", "too-many"],
)
def test_bad_class_lists_are_refused(spec: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError) as refused:
        models.parse_spec({"snapshotController": spec})
    assert problem in str(refused.value)


def test_a_foreign_class_of_a_listed_name_is_left_alone_and_reported() -> None:
    spec = classes_spec({"name": "taken", "driver": CEPH, "isDefault": True}, {"name": "free", "driver": NFS})
    facts = storage(classes=[("taken", CEPH, False)])
    out = rendered_classes(spec, facts)
    assert sorted(out) == ["free"]
    rendered = SNAPSHOT.render(spec, facts)
    health = SNAPSHOT.assess(spec, facts, rendered, {})
    assert (
        "VolumeSnapshotClass taken exists and was not created by vmo-operator; left alone" in health.message
    )
    # Ours of the same name (a class we wrote last round) is not foreign.
    assert sorted(rendered_classes(spec, storage(classes=[("taken", CEPH, True)]))) == ["free", "taken"]


def test_with_someone_elses_snapshot_crds_the_classes_are_still_written() -> None:
    spec = classes_spec({"name": "ceph", "driver": CEPH}, {"name": "taken", "driver": NFS})
    live: list[dict[str, Any]] = [{"metadata": {"name": "taken"}, "driver": NFS}]
    crd: list[dict[str, Any]] = [{"metadata": {"name": "volumesnapshots.snapshot.storage.k8s.io"}}]
    class_crd: list[dict[str, Any]] = [
        {"metadata": {"name": "volumesnapshotclasses.snapshot.storage.k8s.io"}}
    ]
    found: list[list[dict[str, Any]]] = [crd, [], [], class_crd, live, []]
    facts = ClusterFacts(by_component={SNAPSHOT.name: SNAPSHOT.facts_from(found)})
    assert [(o["kind"], o["metadata"]["name"]) for o in SNAPSHOT.render(spec, facts)] == [
        ("VolumeSnapshotClass", "ceph")
    ]
    health = SNAPSHOT.assess(spec, facts, SNAPSHOT.render(spec, facts), {})
    assert health.skipped
    assert "VolumeSnapshotClass taken exists and was not created by vmo-operator" in health.message
    # Without the VolumeSnapshotClass CRD there is nothing to write them to.
    unserved = ClusterFacts(by_component={SNAPSHOT.name: SNAPSHOT.facts_from([crd, [], [], [], live, []])})
    assert SNAPSHOT.render(spec, unserved) == []
    # Disabled means no class either.
    off = models.parse_spec(
        {"snapshotController": {"mode": "Disabled", "volumeSnapshotClasses": [{"name": "c", "driver": CEPH}]}}
    )
    assert SNAPSHOT.render(off, facts) == []


def test_status_lists_the_storage_classes_no_class_serves() -> None:
    spec = classes_spec({"name": "ceph", "driver": CEPH})
    facts = storage(
        classes=[("theirs", "ebs.csi.aws.com", False)],
        storage_classes=[
            ("fast", CEPH),
            ("gp3", "ebs.csi.aws.com"),
            ("local", "kubernetes.io/no-provisioner"),
            ("nfs", NFS),
        ],
    )
    rendered = SNAPSHOT.render(spec, facts)
    health = SNAPSHOT.assess(spec, facts, rendered, {})
    # Ours counts as soon as it is rendered (the facts were read before this round wrote it);
    # someone else's class counts as well.
    assert SNAPSHOT.status_fields(spec, health) == {"storageClassesWithoutSnapshotClass": ["local", "nfs"]}
    models.VMOProfileStatus.model_validate({"storageClassesWithoutSnapshotClass": ["local", "nfs"]})


def test_coverage_is_reported_even_when_the_controller_is_not_ours_or_off() -> None:
    facts_found: list[list[dict[str, Any]]] = [
        [{"metadata": {"name": "volumesnapshots.snapshot.storage.k8s.io"}}],
        [],
        [],
        [],
        [],
        [{"metadata": {"name": "x"}, "provisioner": NFS}],
    ]
    facts = ClusterFacts(by_component={SNAPSHOT.name: SNAPSHOT.facts_from(facts_found)})
    for mode in ("Auto", "Disabled"):
        spec = models.parse_spec({"snapshotController": {"mode": mode}})
        health = SNAPSHOT.assess(spec, facts, [], {})
        assert SNAPSHOT.status_fields(spec, health) == {"storageClassesWithoutSnapshotClass": ["x"]}


def test_offline_rendering_reports_no_coverage() -> None:
    spec = classes_spec({"name": "ceph", "driver": CEPH})
    health = SNAPSHOT.assess(spec, ClusterFacts(), SNAPSHOT.render(spec, ClusterFacts()), {})
    assert SNAPSHOT.status_fields(spec, health) == {}


def test_uncovered_is_pure_over_the_facts() -> None:
    facts = snapshot_classes.StorageFacts(storage_classes=(("a", CEPH), ("b", NFS)))
    assert snapshot_classes.uncovered(facts, []) == ["a", "b"]
    assert snapshot_classes.uncovered(facts, [{"kind": "VolumeSnapshotClass", "driver": NFS}]) == ["a"]


# ------------------------------------------------------------------------------------------- alerts


def monitoring_facts(established: bool) -> ClusterFacts:
    crd_obj = {
        "metadata": {"name": monitoring.CRD_NAME},
        "status": {"conditions": [{"type": "Established", "status": "True" if established else "False"}]},
    }
    found = monitoring.MONITORING.facts_from([[crd_obj] if established is not None else []])
    return ClusterFacts(by_component={monitoring.COMPONENT_NAME: found})


NO_CRD = ClusterFacts(by_component={monitoring.COMPONENT_NAME: monitoring.MONITORING.facts_from([[]])})


def test_without_the_prometheusrule_crd_nothing_is_written_and_nothing_is_degraded() -> None:
    spec = models.parse_spec({})
    component = monitoring.MONITORING
    assert component.render(spec, NO_CRD) == []
    health = component.assess(spec, NO_CRD, [], {})
    assert (health.enabled, health.ready, health.degraded, health.skipped) == (False, True, False, True)
    assert health.reason == "PrometheusRuleCRDNotFound"
    assert "PrometheusRule CRD (monitoring.coreos.com/v1) is not installed" in health.message
    conditions = {
        c.type: c for c in summary_conditions([("Monitoring", health)], ReconcileFacts(generation=1))
    }
    assert conditions["Degraded"].status == "False"
    assert conditions["Available"].status == "True"
    # A CRD that exists but is not Established yet is no better.
    assert component.render(spec, monitoring_facts(False)) == []


def rule_of(spec: dict[str, Any]) -> dict[str, Any]:
    (rule,) = monitoring.MONITORING.render(models.parse_spec(spec), monitoring_facts(True))
    return rule


def rules_by_alert(rule: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for group in rule["spec"]["groups"] for r in group["rules"]}


def test_the_rule_is_written_where_the_profile_says_with_its_thresholds() -> None:
    rule = rule_of(
        {
            "monitoring": {
                "namespace": "monitoring",
                "ruleLabels": {"release": "kube-prometheus-stack"},
                "thresholds": {
                    "componentDegradedMinutes": 3,
                    "webhookDownMinutes": 2,
                    "webhookSlowMilliseconds": 750,
                    "driftRepairsPerHour": 4,
                    "reconcileStaleMinutes": 20,
                },
            }
        }
    )
    assert (rule["kind"], rule["apiVersion"]) == ("PrometheusRule", "monitoring.coreos.com/v1")
    assert rule["metadata"]["namespace"] == "monitoring"
    assert rule["metadata"]["labels"] == {"release": "kube-prometheus-stack"}
    by = rules_by_alert(rule)
    assert set(by) == {
        "VMOComponentDegraded",
        "VMOMacWebhookDown",
        "VMOMacWebhookSlow",
        "VMOMacCollisions",
        "VMODriftRepairsHigh",
        "VMOOperatorNotReconciling",
    }
    assert by["VMOComponentDegraded"]["for"] == "3m"
    assert by["VMOMacWebhookDown"]["for"] == "2m"
    assert by["VMOMacWebhookSlow"]["expr"].endswith("> 0.75")
    assert by["VMODriftRepairsHigh"]["expr"].endswith("> 4")
    assert "> 1200 " in by["VMOOperatorNotReconciling"]["expr"]


def test_without_the_mac_pool_there_are_no_webhook_alerts() -> None:
    by = rules_by_alert(rule_of({"macPool": {"enabled": False}}))
    assert not [name for name in by if name.startswith("VMOMac")]


def test_monitoring_off_writes_nothing_and_is_plain_disabled() -> None:
    spec = models.parse_spec({"monitoring": {"enabled": False}})
    assert monitoring.MONITORING.render(spec, monitoring_facts(True)) == []
    assert monitoring.MONITORING.assess(spec, monitoring_facts(True), [], {}).reason == "Disabled"


def runbook_sections() -> dict[str, str]:
    """Heading -> its anchor, as GitHub and most Markdown renderers make it."""
    text = (ROOT / "docs" / "runbooks.md").read_text()
    headings = re.findall(r"^## (.+)$", text, flags=re.MULTILINE)
    return {h: re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in headings}


def test_every_alert_has_a_runbook_section_and_links_it() -> None:
    sections = runbook_sections()
    by = rules_by_alert(rule_of({"monitoring": {"runbookURL": "https://wiki.example.com/vmo/runbooks"}}))
    for name, rule in by.items():
        assert name in sections, f"docs/runbooks.md has no section for {name}"
        assert rule["annotations"]["runbook_url"] == f"https://wiki.example.com/vmo/runbooks#{sections[name]}"
        assert rule["annotations"]["summary"]
        assert rule["annotations"]["description"]
        assert rule["labels"]["severity"] in {"warning", "critical"}
    unlinked = rules_by_alert(rule_of({}))["VMOComponentDegraded"]["annotations"]["runbook_url"]
    assert unlinked == "docs/runbooks.md#vmocomponentdegraded"


def exported_names() -> set[str]:
    registry = CollectorRegistry()
    ProfileMetrics(registry)
    MacPoolMetrics(registry)
    names = {"vmo_api_requests_total"}  # the client's counter, collected in operator/metrics.py
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
    for family in registry.collect():
        names.update(family.name + suffix for suffix in suffixes[family.type])
    return names


def test_every_alert_reads_only_metrics_the_operator_exports() -> None:
    exported = exported_names()
    spec = {"macPool": {"enabled": True}}
    for name, rule in rules_by_alert(rule_of(spec)).items():
        used = set(re.findall(r"\bvmo_[a-z_]+", rule["expr"]))
        assert used, name
        assert used <= exported, f"{name} reads {sorted(used - exported)}, which nothing exports"


def test_the_alerts_metrics_exist_and_move() -> None:
    registry = CollectorRegistry()
    metrics = ProfileMetrics(registry)
    metrics.component_degraded.labels("cdi").set(1)
    metrics.last_completed.set_to_current_time()
    assert registry.get_sample_value("vmo_component_degraded", {"component": "cdi"}) == 1
    stamp = registry.get_sample_value("vmo_reconcile_last_completed_timestamp_seconds")
    assert stamp is not None
    assert stamp > 1_700_000_000


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({"namespace": "Not_A_Namespace"}, "monitoring.namespace"),
        ({"ruleLabels": {"bad key!": "x"}}, "every ruleLabels key must be a label key"),
        ({"ruleLabels": {f"k{n}": "v" for n in range(9)}}, "monitoring.ruleLabels"),
        ({"thresholds": {"webhookSlowMilliseconds": 5}}, "monitoring.thresholds.webhookSlowMilliseconds"),
        ({"thresholds": {"reconcileStaleMinutes": 1}}, "monitoring.thresholds.reconcileStaleMinutes"),
        ({"runbookURL": "wiki/runbooks"}, "monitoring.runbookURL"),
        ({"thresholds": {"driftRepairs": 3}}, "monitoring.thresholds.driftRepairs"),
    ],
    ids=["namespace", "label-key", "too-many-labels", "slow-too-low", "stale-too-low", "url", "typo"],
)
def test_bad_monitoring_input_is_refused_with_the_field_named(spec: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError) as refused:
        models.parse_spec({"monitoring": spec})
    assert problem in str(refused.value)


def test_alerts_module_lists_what_it_promises() -> None:
    names = [a.name for a in alerts.alerts(models.MonitoringSpec(), mac_pool=True)]
    assert len(names) == len(set(names)) == 6
