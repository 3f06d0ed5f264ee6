"""Health judged from observed objects: every branch of every workload judge and component."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from vmo_operator.api import models
from vmo_operator.components import _health as judging
from vmo_operator.components import cdi, descheduler, kubevirt, monitoring, multus, registry, snapshot
from vmo_operator.components.base import ClusterFacts, Component, ComponentHealth, Observed, render_labelled
from vmo_operator.kube.objects import Manifest, ObjectKey

# A cluster that serves PrometheusRules, so the monitoring component renders too.
FACTS = ClusterFacts(by_component={monitoring.COMPONENT_NAME: monitoring.PrometheusRuleCRD(True)})
SPEC = models.parse_spec(
    {
        "multus": {"networks": [{"name": "vlan-20", "vlan": 20}]},
        "dashboard": {"enabled": True},
        "goldenImages": {
            "sources": [
                {"name": "cirros", "url": "https://example.com/cirros.img", "size": "1Gi"},
                {
                    "name": "fedora",
                    "url": "docker://quay.io/containerdisks/fedora:41",
                    "size": "8Gi",
                    "schedule": "@daily",
                },
            ]
        },
    }
)


def healthy(obj: Manifest) -> Manifest:
    """What a healthy live object looks like: ours plus the status its controller writes."""
    live = copy.deepcopy(obj)
    live["metadata"]["generation"] = 3
    kind = obj["kind"]
    if kind == "Deployment":
        n = obj["spec"]["replicas"]
        live["status"] = {
            "observedGeneration": 3,
            "replicas": n,
            "updatedReplicas": n,
            "readyReplicas": n,
            "availableReplicas": n,
        }
    elif kind == "DaemonSet":
        live["status"] = {
            "observedGeneration": 3,
            "desiredNumberScheduled": 3,
            "numberReady": 3,
            "updatedNumberScheduled": 3,
        }
    elif kind == "CustomResourceDefinition":
        live["status"] = {
            "conditions": [
                {"type": "NamesAccepted", "status": "True"},
                {"type": "Established", "status": "True"},
            ]
        }
    elif kind == "KubeVirt":
        live["status"] = {
            "phase": "Deployed",
            "observedKubeVirtVersion": "v1.9.0",
            "conditions": [
                {"type": "Available", "status": "True"},
                {"type": "Progressing", "status": "False"},
                {"type": "Degraded", "status": "False"},
            ],
        }
    elif kind == "DataVolume":
        live["status"] = {"phase": "Succeeded", "conditions": [{"type": "Ready", "status": "True"}]}
    elif kind == "DataSource":
        live["status"] = {"conditions": [{"type": "Ready", "status": "True"}]}
    elif kind == "DataImportCron":
        live["status"] = {
            "lastImportTimestamp": "2026-12-01T03:00:00Z",
            "conditions": [
                {"type": "UpToDate", "status": "True"},
                {"type": "Progressing", "status": "False"},
            ],
        }
    elif kind == "CDI":
        live["status"] = {
            "phase": "Deployed",
            "observedVersion": "v1.66.0",
            "conditions": [{"type": "Available", "status": "True"}, {"type": "Degraded", "status": "False"}],
        }
    return live


def observe(component: Component, spec: models.VMOProfileSpec = SPEC) -> dict[ObjectKey, Manifest | None]:
    return {ObjectKey.of(o): healthy(o) for o in component.render(spec, FACTS)}


def assess(
    component: Component, spec: models.VMOProfileSpec, facts: ClusterFacts, observed: Observed
) -> ComponentHealth:
    """As the engine asks: with the objects this round rendered (and labelled) for the component."""
    return component.assess(spec, facts, render_labelled(component, spec, facts, "p"), observed)


ALL = list(registry.components())


@pytest.mark.parametrize("component", ALL, ids=lambda c: c.name)
def test_all_present_and_ready(component: Component) -> None:
    health = assess(component, SPEC, FACTS, observe(component))
    assert (health.name, health.enabled, health.ready, health.reason) == (component.name, True, True, "Ready")
    assert not health.degraded


@pytest.mark.parametrize("component", ALL, ids=lambda c: c.name)
def test_nothing_observed_names_missing_objects(component: Component) -> None:
    health = assess(component, SPEC, FACTS, {})
    assert not health.ready
    assert health.reason == "ObjectsMissing"
    assert health.progressing
    assert health.message.startswith("missing: ")
    first = component.render(SPEC, FACTS)[0]
    assert f"{first['kind']} " in health.message


@pytest.mark.parametrize("component", ALL, ids=lambda c: c.name)
def test_explicit_none_counts_as_missing(component: Component) -> None:
    observed = observe(component)
    key = next(iter(observed))
    observed[key] = None
    health = assess(component, SPEC, FACTS, observed)
    assert health.reason == "ObjectsMissing"
    assert judging.describe(key) in health.message


@pytest.mark.parametrize("component", ALL, ids=lambda c: c.name)
def test_disabled_component_reports_ready_and_not_enabled(component: Component) -> None:
    off = models.parse_spec(
        {
            "kubevirt": {"enabled": False},
            "cdi": {"enabled": False},
            "multus": {"enabled": False},
            "descheduler": {"enabled": False},
            "vmRoles": {"enabled": False},
            "vmNamespaces": {"namespaces": []},
            "snapshotController": {"mode": "Disabled"},
            "monitoring": {"enabled": False},
        }
    )
    health = assess(component, off, FACTS, {})
    assert (health.enabled, health.ready, health.skipped, health.reason) == (False, True, False, "Disabled")


def test_missing_list_is_summarised() -> None:
    health = assess(kubevirt.KUBEVIRT, SPEC, FACTS, {})
    assert "and 7 more" in health.message
    assert len(health.details["missing"]) == 11


# ------------------------------------------------------------------------------------- workload judges


def deployment(status: dict[str, Any], replicas: int = 2, generation: int = 3) -> Manifest:
    return {"metadata": {"generation": generation}, "spec": {"replicas": replicas}, "status": status}


FULL = {
    "observedGeneration": 3,
    "replicas": 2,
    "updatedReplicas": 2,
    "readyReplicas": 2,
    "availableReplicas": 2,
}


@pytest.mark.parametrize(
    ("status", "ready", "progressing", "degraded", "message"),
    [
        (FULL, True, False, False, ""),
        ({**FULL, "observedGeneration": 2}, False, True, False, "rollout not observed yet"),
        ({k: v for k, v in FULL.items() if k != "observedGeneration"}, False, True, False, "not observed"),
        ({**FULL, "updatedReplicas": 1}, False, True, False, "1/2 replicas updated"),
        ({**FULL, "availableReplicas": 1}, False, True, False, "1/2 replicas ready"),
        ({**FULL, "readyReplicas": 0, "availableReplicas": 0}, False, True, False, "0/2 replicas ready"),
        ({**FULL, "replicas": 3}, False, True, False, "old replicas still terminating"),
        (
            {
                **FULL,
                "availableReplicas": 0,
                "conditions": [
                    {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
                ],
            },
            False,
            False,
            True,
            "0/2 replicas ready",
        ),
    ],
)
def test_judge_deployment(
    status: dict[str, Any], ready: bool, progressing: bool, degraded: bool, message: str
) -> None:
    verdict = judging.judge_deployment(deployment(status))
    assert (verdict.ready, verdict.progressing, verdict.degraded) == (ready, progressing, degraded)
    assert message in verdict.message


def test_judge_deployment_defaults_to_one_replica() -> None:
    obj = {
        "metadata": {},
        "spec": {},
        "status": {"updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1},
    }
    assert judging.judge_deployment(obj).ready


DS = {"observedGeneration": 3, "desiredNumberScheduled": 3, "numberReady": 3, "updatedNumberScheduled": 3}


@pytest.mark.parametrize(
    ("status", "ready", "progressing", "message"),
    [
        (DS, True, False, ""),
        (
            {**DS, "desiredNumberScheduled": 0, "numberReady": 0, "updatedNumberScheduled": 0},
            False,
            False,
            "no node",
        ),
        ({**DS, "numberReady": 1}, False, True, "1/3 pods ready"),
        ({**DS, "updatedNumberScheduled": 2}, False, True, "2/3 pods updated"),
        ({**DS, "observedGeneration": 1}, False, True, "not observed"),
    ],
)
def test_judge_daemonset(status: dict[str, Any], ready: bool, progressing: bool, message: str) -> None:
    verdict = judging.judge_daemonset({"metadata": {"generation": 3}, "status": status})
    assert (verdict.ready, verdict.progressing) == (ready, progressing)
    assert message in verdict.message


@pytest.mark.parametrize(
    ("conditions", "ready", "degraded", "message"),
    [
        ([{"type": "Established", "status": "True"}], True, False, ""),
        ([{"type": "Established", "status": "False"}], False, False, "not Established"),
        ([], False, False, "not Established"),
        (
            [{"type": "NamesAccepted", "status": "False", "message": "kv is taken"}],
            False,
            True,
            "kv is taken",
        ),
    ],
)
def test_judge_crd(conditions: list[dict[str, str]], ready: bool, degraded: bool, message: str) -> None:
    verdict = judging.judge_crd({"status": {"conditions": conditions}})
    assert (verdict.ready, verdict.degraded) == (ready, degraded)
    assert message in verdict.message


# ---------------------------------------------------------------------------------- KubeVirt and CDI CRs


def with_cr_status(
    component: Component, kind: str, status: dict[str, Any] | None
) -> dict[ObjectKey, Manifest | None]:
    observed = observe(component)
    for key, obj in observed.items():
        if key.kind == kind and obj is not None:
            if status is None:
                obj.pop("status", None)
            else:
                obj["status"] = status
    return observed


def cond(type_: str, status: str, message: str = "") -> dict[str, str]:
    return {"type": type_, "status": status, "reason": f"{type_}{status}", "message": message}


@pytest.mark.parametrize(
    ("status", "ready", "progressing", "degraded", "words"),
    [
        (None, False, True, False, "no status reported by virt-operator yet"),
        (
            {"phase": "Deploying", "conditions": [cond("Progressing", "True", "Deploying version")]},
            False,
            True,
            False,
            "phase Deploying",
        ),
        (
            {"phase": "Deployed", "conditions": [cond("Available", "False", "virt-handler not ready")]},
            False,
            False,
            False,
            "virt-handler not ready",
        ),
        (
            {
                "phase": "Deployed",
                "conditions": [cond("Available", "True"), cond("Degraded", "True", "virt-api crashing")],
            },
            False,
            False,
            True,
            "virt-api crashing",
        ),
        ({"phase": "Deleting"}, False, False, False, "phase Deleting"),
    ],
)
def test_kubevirt_cr_states(
    status: dict[str, Any] | None, ready: bool, progressing: bool, degraded: bool, words: str
) -> None:
    health = assess(kubevirt.KUBEVIRT, SPEC, FACTS, with_cr_status(kubevirt.KUBEVIRT, "KubeVirt", status))
    assert (health.ready, health.progressing, health.degraded) == (ready, progressing, degraded)
    assert "KubeVirt kubevirt/kubevirt" in health.message
    assert words in health.message
    assert health.reason == ("Degraded" if degraded else "NotReady")


def test_kubevirt_version_comes_from_the_cr() -> None:
    observed = observe(kubevirt.KUBEVIRT)
    assert assess(kubevirt.KUBEVIRT, SPEC, FACTS, observed).version == "v1.9.0"
    observed = with_cr_status(
        kubevirt.KUBEVIRT, "KubeVirt", {"phase": "Deploying", "observedKubeVirtVersion": "v1.8.4"}
    )
    assert assess(kubevirt.KUBEVIRT, SPEC, FACTS, observed).version == "v1.8.4"


def test_kubevirt_waits_for_virt_operator_even_when_cr_is_deployed() -> None:
    observed = observe(kubevirt.KUBEVIRT)
    key = ObjectKey("apps/v1", "Deployment", "kubevirt", "virt-operator")
    live = observed[key]
    assert live is not None
    live["status"]["availableReplicas"] = 1
    health = assess(kubevirt.KUBEVIRT, SPEC, FACTS, observed)
    assert not health.ready
    assert "Deployment kubevirt/virt-operator: 1/2 replicas ready" in health.message


def test_cdi_states_and_version() -> None:
    assert assess(cdi.CDI, SPEC, FACTS, observe(cdi.CDI)).version == "v1.66.0"
    observed = with_cr_status(
        cdi.CDI, "CDI", {"phase": "Error", "conditions": [cond("Degraded", "True", "bad config")]}
    )
    health = assess(cdi.CDI, SPEC, FACTS, observed)
    assert (health.ready, health.degraded) == (False, True)
    assert "CDI cdi: phase Error" in health.message
    assert (
        "no status reported by cdi-operator"
        in assess(cdi.CDI, SPEC, FACTS, with_cr_status(cdi.CDI, "CDI", None)).message
    )


def test_crd_not_established_blocks_readiness() -> None:
    observed = observe(multus.MULTUS)
    key = ObjectKey(
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        "",
        "network-attachment-definitions.k8s.cni.cncf.io",
    )
    live = observed[key]
    assert live is not None
    live["status"] = {"conditions": []}
    health = assess(multus.MULTUS, SPEC, FACTS, observed)
    assert not health.ready
    assert "network-attachment-definitions.k8s.cni.cncf.io: not Established yet" in health.message


@pytest.mark.parametrize(
    ("component", "container", "version"),
    [
        (multus.MULTUS, "kube-multus", "v4.2.4"),
        (descheduler.DESCHEDULER, "descheduler", "v0.36.0"),
        (snapshot.SNAPSHOT_CONTROLLER, "snapshot-controller", "v8.6.0"),
    ],
    ids=lambda v: getattr(v, "name", v),
)
def test_version_is_read_from_the_running_workload(
    component: Component, container: str, version: str
) -> None:
    assert assess(component, SPEC, FACTS, observe(component)).version == version
    assert assess(component, SPEC, FACTS, {}).version == ""
