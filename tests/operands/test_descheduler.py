"""The real descheduler (v0.36.0) with the rendered policy, args and RBAC, on a cordoned kwok node.

The component's objects are installed as the engine would install them; the descheduler runs as
a process with the rendered Deployment's args (its policy file written from the rendered
ConfigMap, and a short interval) and credentials of the rendered ServiceAccount, so RBAC gives it
exactly what we render and its log must hold no 403. Before the conformance fix it could not list
PVCs, its PVC informer never synced, and it never ran a cycle.

Test pods sit on one kwok node (kwok reports them Running) and are owned by a ConfigMap that
exists, so the garbage collector leaves them and the DefaultEvictor accepts them (it refuses
ownerless pods). Cordoning the node makes the node lifecycle controller add the
node.kubernetes.io/unschedulable taint that the policy's RemovePodsViolatingNodeTaints targets.
The descheduler's cycles are counted from its "Number of evictions/requests" log line, one per
cycle, so the tests wait on cycles, never on time.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.operands.eviction_double import EvictionAdmissionDouble
from tests.support.operands import RealOperand, install_rendered, rendered_workload, running
from tests.support.waiting import eventually
from vmo_operator.kube.objects import Manifest
from vmo_operator.localenv.controlplane import ControlPlane

pytestmark = pytest.mark.integration

VERSION_UNDER_TEST = "v0.36.0"
NODE = "kwok-node-2"
CORDON_TAINT = "node.kubernetes.io/unschedulable"
LAUNCHER = {"kubevirt.io": "virt-launcher"}
# KubeVirt puts this on launcher pods: evicting them starts a migration that ends in a deletion.
EVICT_ONLY = {"descheduler.alpha.kubernetes.io/request-evict-only": ""}
CYCLE = re.compile(r'"Number of evictions/requests"')


@pytest.fixture
def rendered(api_client: Any) -> list[Manifest]:
    spec = {"descheduler": {"version": VERSION_UNDER_TEST, "interval": "2s"}}
    return install_rendered(api_client, "descheduler", spec)


@pytest.fixture
def descheduler(control_plane: ControlPlane, rendered: list[Manifest], tmp_path: Path) -> RealOperand:
    """The descheduler as the rendered Deployment runs it, its policy from the rendered ConfigMap."""
    (config_map,) = [o for o in rendered if o["kind"] == "ConfigMap"]
    policy = tmp_path / "policy.yaml"
    policy.write_text(config_map["data"]["policy.yaml"])
    workload = rendered_workload(rendered, "Deployment", "descheduler")
    assert "--descheduling-interval=2s" in workload.args
    assert "--feature-gates=EvictionsInBackground=true" in workload.args
    args = [a for a in workload.args if not a.startswith("--policy-config-file=")]
    return RealOperand(
        "descheduler",
        control_plane,
        workload.namespace,
        workload.service_account,
        args=[*args, f"--policy-config-file={policy}", "--kubeconfig={kubeconfig}", "--secure-port=0"],
        env=workload.env,
    )


@pytest.fixture
def core(api_client: Any) -> Any:
    return client.CoreV1Api(api_client)


@contextlib.contextmanager
def cordoned_node(core: Any) -> Iterator[str]:
    """NODE cordoned and carrying the cordon taint; uncordoned afterwards."""
    core.patch_node(NODE, {"spec": {"unschedulable": True}})
    try:
        eventually(
            lambda: any(t.key == CORDON_TAINT for t in core.read_node(NODE).spec.taints or []),
            timeout=60,
            what=f"{NODE} tainted {CORDON_TAINT}",
        )
        yield NODE
    finally:
        core.patch_node(NODE, {"spec": {"unschedulable": False}})


def _pods(
    core: Any, namespace: str, pods: dict[str, tuple[dict[str, str], dict[str, str]]]
) -> dict[str, str]:
    """Pods `name -> (labels, annotations)` on NODE, owned by a ConfigMap, Running; returns their uids."""
    owner = core.create_namespaced_config_map(namespace, {"metadata": {"name": "owner"}})
    reference = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid}
    for name, (labels, notes) in pods.items():
        core.create_namespaced_pod(
            namespace,
            {
                "metadata": {
                    "name": name,
                    "labels": labels,
                    "annotations": notes,
                    "ownerReferences": [reference],
                },
                "spec": {"nodeName": NODE, "containers": [{"name": "c", "image": "registry.invalid/none"}]},
            },
        )

    def running_pods() -> bool:
        phases = {p.metadata.name: p.status.phase for p in core.list_namespaced_pod(namespace).items}
        return all(phases.get(name) == "Running" for name in pods)

    eventually(running_pods, timeout=60, what=f"pods {sorted(pods)} Running")
    return {name: core.read_namespaced_pod(name, namespace).metadata.uid for name in pods}


def _present(core: Any, namespace: str, name: str, uid: str) -> bool:
    """The pod `uid` still exists and nobody has asked to delete it."""
    found = [p for p in core.list_namespaced_pod(namespace).items if p.metadata.name == name]
    return bool(found) and found[0].metadata.uid == uid and found[0].metadata.deletion_timestamp is None


def _cycles(operand: RealOperand) -> int:
    operand.check_alive()
    return len(CYCLE.findall(operand.log()))


def test_evicts_virt_launcher_pods_from_a_cordoned_node_and_nothing_else(
    descheduler: RealOperand, core: Any, namespace: str
) -> None:
    uids = _pods(
        core,
        namespace,
        {"launcher-a": (LAUNCHER, {}), "launcher-b": (LAUNCHER, {}), "plain": ({"app": "plain"}, {})},
    )
    with running(descheduler):
        eventually(lambda: _cycles(descheduler), timeout=60, what="a first descheduling cycle")
        # Not cordoned yet: a cycle passes and every pod stays.
        assert all(_present(core, namespace, name, uid) for name, uid in uids.items())
        with cordoned_node(core):
            eventually(
                lambda: not any(_present(core, namespace, n, uids[n]) for n in ("launcher-a", "launcher-b")),
                timeout=60,
                what="virt-launcher pods evicted from the cordoned node",
            )
            seen = _cycles(descheduler)
            eventually(lambda: _cycles(descheduler) >= seen + 2, timeout=60, what="two more cycles")
            assert _present(core, namespace, "plain", uids["plain"]), "an unlabelled pod was evicted"


def test_migration_answer_counts_as_an_eviction_in_progress(
    descheduler: RealOperand, api_client: Any, core: Any, namespace: str
) -> None:
    """KubeVirt answers 429 "Eviction triggered evacuation" and migrates the VM instead.

    With EvictionsInBackground (the rendered feature gate), the descheduler records such an
    eviction of a pod marked request-evict-only as in progress and does not request it again. The
    control pod lacks that annotation (as launcher pods of older KubeVirt releases): the same
    answer is an error for it, retried every cycle, which is also the clock of this test.
    """
    vmis = {"launcher-migrating": "vm-migrating", "launcher-legacy": "vm-legacy"}
    uids = _pods(
        core,
        namespace,
        {"launcher-migrating": (LAUNCHER, EVICT_ONLY), "launcher-legacy": (LAUNCHER, {})},
    )
    admission: Any = client.AdmissionregistrationV1Api(api_client)
    double = EvictionAdmissionDouble(vmis)
    with double.serving():
        admission.create_validating_webhook_configuration(
            double.webhook_configuration(f"eviction-double-{namespace}", namespace)
        )
        try:
            with running(descheduler), cordoned_node(core):
                eventually(
                    lambda: double.count("launcher-legacy") >= 4, timeout=90, what="4 retries of legacy"
                )
        finally:
            admission.delete_validating_webhook_configuration(f"eviction-double-{namespace}")
    assert double.count("launcher-migrating") == 1, dict(double.calls)
    assert double.requested_by["launcher-migrating"] == "sigs.k8s.io/descheduler"
    # A denied eviction deletes nothing: the VM's pod waits for its migration.
    assert all(_present(core, namespace, name, uid) for name, uid in uids.items())
    assert "Eviction in background assumed" in descheduler.log()
