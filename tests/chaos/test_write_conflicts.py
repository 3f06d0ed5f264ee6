"""Someone else edits objects the operator manages while it applies a change.

The writer (a bounded loop of read-modify-write updates, as `kubectl scale` or `kubectl edit`
would make) scales virt-operator and rewrites a VLAN NAD's CNI config while the operator rolls
KubeVirt to another version. The operator must win in the end without crashing: the objects are
back to what the profile renders, the process is the same one, the repairs show in
`vmo_drift_repairs_total` and as Overwritten events, and the writer sees its own lost races as
409 Conflict rather than the operator seeing errors.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client

from tests.chaos.harness import (
    PROFILE_NAME,
    WORKLOAD_NAMESPACE,
    ChaosCluster,
    Workloads,
    assert_converged,
    install_base,
    put_profile,
    settle,
)
from tests.support.faults import ConcurrentWriter
from tests.support.kube import manifest, rendered
from tests.support.operator import OperatorProcess
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


def drift_repairs(operator: OperatorProcess) -> float:
    return sum(v for k, v in operator.metrics().items() if k.startswith("vmo_drift_repairs_total"))


def test_a_concurrent_writer_loses_to_the_operator_without_crashing_it(
    based: ChaosCluster, workloads: Workloads, say: Callable[[str], None]
) -> None:
    chaos = based
    spec = install_base(chaos, workloads)
    operator = chaos.operator
    pid = operator.pid
    repairs_before = drift_repairs(operator)
    unexpected_before = chaos.unexpected_errors()

    # Rolls virt-operator (the operator writes the Deployment); a downgrade from v1.9.0, so accepted.
    spec["kubevirt"] = {"version": "v1.8.4", "acceptDowngradeFrom": "v1.9.0"}
    put_profile(chaos.api, spec)
    writer = ConcurrentWriter(
        chaos.api,
        deployment=("kubevirt", "virt-operator"),
        nad=(WORKLOAD_NAMESPACE, "vlan-10"),
        iterations=40,
    ).run()
    print(
        f"\nwriter: {writer.writes} writes, {writer.conflicts} lost to 409 Conflict, "
        f"{len(writer.errors)} hit a deleted object"
    )

    assert_converged(chaos, spec, workloads)
    want = {(o["kind"], o["metadata"]["name"]): o for o in rendered(spec, PROFILE_NAME)}

    def restored() -> list[str]:
        problems = []
        deployment = client.AppsV1Api(chaos.api).read_namespaced_deployment("virt-operator", "kubevirt")
        wanted_replicas = want[("Deployment", "virt-operator")]["spec"]["replicas"]
        if deployment.spec.replicas != wanted_replicas:
            problems.append(f"virt-operator replicas {deployment.spec.replicas}, want {wanted_replicas}")
        pod_spec = deployment.spec.template.spec
        assert pod_spec is not None  # the API server requires a Deployment's pod template spec
        image = pod_spec.containers[0].image
        if image is None or not image.endswith(":v1.8.4"):
            problems.append(f"virt-operator image {image}")
        nad = manifest(
            client.CustomObjectsApi(chaos.api).get_namespaced_custom_object(
                "k8s.cni.cncf.io", "v1", WORKLOAD_NAMESPACE, "network-attachment-definitions", "vlan-10"
            )
        )
        config = json.loads(nad["spec"]["config"])
        if (config.get("type"), config.get("vlan")) != ("bridge", 10):
            problems.append(f"NAD config {config}")
        return problems

    settle(restored, timeout=60, what="the operator's values restored")
    assert operator.alive(), operator.log_tail()
    assert operator.pid == pid
    repairs = eventually(
        lambda: drift_repairs(operator) - repairs_before or None, timeout=30, what="drift repairs counted"
    )
    assert chaos.unexpected_errors() == unexpected_before, operator.log_tail()

    def overwritten() -> list[Any]:
        events = client.CoreV1Api(chaos.api).list_namespaced_event(
            "default", field_selector=f"involvedObject.name={PROFILE_NAME},reason=Overwritten"
        )
        return [e.message for e in events.items]

    messages = " ".join(eventually(overwritten, timeout=30, what="Overwritten events"))
    assert "virt-operator" in messages or "vlan-10" in messages, messages
    say(
        f"write conflicts: the writer lost {writer.conflicts} of {writer.iterations} writes to 409; "
        f"the operator counted {repairs:.0f} drift repairs and recorded Overwritten events"
    )
