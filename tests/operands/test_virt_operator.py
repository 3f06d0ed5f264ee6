"""The real virt-operator (KubeVirt v1.5.1) installs KubeVirt under only the RBAC this project renders.

The kubevirt component is rendered for v1.5.1 and installed as the engine would; the operator binary
built from the module proxy then runs as the rendered ServiceAccount (see virt_install for what
stands in for the parts kwok cannot run). It really installs: the kubevirt.io CRDs, virt-api,
virt-controller and virt-handler, their RBAC and its admission webhooks, without one 403.

The state it reaches here is `Deploying` with `Degraded=True`, and not because nothing runs the
pods (kwok reports them Ready, which virt-operator would accept): virt-api's admission webhooks sit
behind a Service, the API server cannot reach it inside the loopback-only network namespace, and
virt-operator's creation of the common VirtualMachineClusterInstancetypes is refused by
virt-api's validating webhook. The same webhooks refuse every VM, VMI, migration, snapshot, clone,
export, instancetype and preference create or update, and its eviction interceptor refuses evictions
of virt-launcher pods, for as long as virt-operator's configurations exist.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import pytest

from tests.operands import virt_install as vi
from tests.support.operands import render, restore_crd, uninstall_rendered
from tests.support.waiting import eventually
from vmo_operator.kube import kinds
from vmo_operator.kube.client import KubeClient
from vmo_operator.kube.objects import Manifest
from vmo_operator.localenv.controlplane import ControlPlane

pytestmark = pytest.mark.integration

WORKLOAD_CRDS = {
    "virtualmachines.kubevirt.io",
    "virtualmachineinstances.kubevirt.io",
    "virtualmachineinstancemigrations.kubevirt.io",
    "virtualmachineinstancereplicasets.kubevirt.io",
    "virtualmachinesnapshots.snapshot.kubevirt.io",
    "virtualmachineclusterinstancetypes.instancetype.kubevirt.io",
}
COMPONENT_RBAC = ("kubevirt-apiserver", "kubevirt-controller", "kubevirt-handler")
CONTROL_PLANE_NODE = "kwok-node-0"


def _kubevirt_crds(kube: KubeClient) -> list[Manifest]:
    return [crd for crd in kube.list(kinds.CRD) if crd["spec"]["group"].endswith("kubevirt.io")]


@pytest.fixture
def rendered(api_client: Any) -> Iterator[list[Manifest]]:
    """What the kubevirt component renders for v1.5.1; afterwards the cluster is as it was before.

    The MAC allocator tests and the simulator install their own kubevirt.io CRDs earlier in a
    session; virt-operator would take them over and delete them, so they are put back.
    """
    kube = KubeClient(api_client)
    assert kube.list(kinds.KUBEVIRT) == [], "a KubeVirt CR is left from an earlier test"
    eventually(
        lambda: kube.get(kinds.NAMESPACE, vi.NAMESPACE) is None, timeout=180, what="no kubevirt namespace"
    )
    before = _kubevirt_crds(kube)
    manifests = render("kubevirt", vi.SPEC)
    try:
        yield manifests
    finally:
        if vi.kubevirt(kube) is not None or vi.leftovers(kube):
            vi.force_cleanup(kube)
        uninstall_rendered(api_client, "kubevirt", manifests, timeout=240)
        for crd in before:
            restore = functools.partial(restore_crd, kube, crd)
            eventually(restore, timeout=120, what=f"CRD {crd['metadata']['name']} back")


def _condition(kv: Manifest, type_: str) -> dict[str, Any]:
    found = [c for c in kv.get("status", {}).get("conditions", []) if c["type"] == type_]
    return found[0] if found else {}


def _installed(kube: KubeClient) -> Manifest | None:
    """The KubeVirt CR once virt-operator has created its components and settled on a verdict."""
    kv = vi.kubevirt(kube)
    if kv is None:
        return None
    settled = (
        kv.get("status", {}).get("phase") == "Deployed" or _condition(kv, "Degraded").get("status") == "True"
    )
    if not settled:
        return None
    names = {crd["metadata"]["name"] for crd in _kubevirt_crds(kube)}
    if not names >= WORKLOAD_CRDS:
        return None
    if kube.get(kinds.DAEMON_SET, "virt-handler", vi.NAMESPACE) is None:
        return None
    return kv


def _pod_nodes(kube: KubeClient, app: str) -> set[str]:
    pods = kube.list(vi.POD, namespace=vi.NAMESPACE, label_selector=f"kubevirt.io={app}")
    return {p["spec"].get("nodeName", "") for p in pods}


def test_virt_operator_installs_kubevirt_under_the_rendered_rbac_and_uninstalls_it(
    control_plane: ControlPlane, api_client: Any, rendered: list[Manifest]
) -> None:
    kube = KubeClient(api_client)
    deployment = next(o for o in rendered if o["kind"] == "Deployment")
    with vi.install(control_plane, api_client, rendered) as real:
        job = vi.dump_install_strategy(control_plane, kube)
        assert kube.list(
            kinds.CONFIG_MAP, namespace=vi.NAMESPACE, label_selector="kubevirt.io/install-strategy"
        )

        # A 403 ends the wait at once: the operator would only retry it until the timeout.
        def installed_or_refused() -> tuple[Manifest | None, list[str]] | None:
            kv, refused = _installed(kube), real.forbidden()
            return (kv, refused) if kv or refused else None

        kv, refused = eventually(installed_or_refused, timeout=300, what="virt-operator to install KubeVirt")
        if kv is None:
            pytest.fail("virt-operator was refused by RBAC:\n" + "\n".join(refused[:20]))
        real.check_alive()

        # The version this project asked for, taken from the CR and the operator's environment.
        assert kv["status"]["operatorVersion"] == vi.VERSION
        assert kv["status"]["targetKubeVirtVersion"] == vi.VERSION
        assert job["metadata"]["annotations"]["kubevirt.io/install-strategy-version"] == vi.VERSION
        # Its components, with upstream's placement: infra on the control-plane node, handlers on all.
        for name in ("virt-api", "virt-controller"):
            assert kube.get(kinds.DEPLOYMENT, name, vi.NAMESPACE) is not None, name
            nodes = functools.partial(_pod_nodes, kube, name)
            assert eventually(nodes, timeout=60) == {CONTROL_PLANE_NODE}
        assert len(eventually(lambda: _pod_nodes(kube, "virt-handler"), timeout=60)) == 3
        # The RBAC it creates for them (the escalation rule held: it granted nothing it lacks).
        for name in COMPONENT_RBAC:
            assert kube.get(kinds.CLUSTER_ROLE, name) is not None, name
            assert kube.get(kinds.CLUSTER_ROLE_BINDING, name) is not None, name
            assert kube.get(kinds.SERVICE_ACCOUNT, name, vi.NAMESPACE) is not None, name
        # Its admission webhooks, served behind Services.
        validating = {w["metadata"]["name"] for w in kube.list(kinds.VALIDATING_WEBHOOK_CONFIGURATION)}
        mutating = {w["metadata"]["name"] for w in kube.list(kinds.MUTATING_WEBHOOK_CONFIGURATION)}
        assert {"virt-operator-validator", "virt-api-validator"} <= validating
        assert "virt-api-mutator" in mutating

        # Not Deployed: virt-api's webhooks cannot be reached, and no dial left loopback trying.
        assert kv["status"]["phase"] == "Deploying"
        degraded = _condition(kv, "Degraded")
        assert degraded["reason"] == "DeploymentFailed", degraded
        assert "virtualmachineclusterinstancetype-validator.instancetype.kubevirt.io" in degraded["message"]
        assert "connect: network is unreachable" in degraded["message"]
        assert _condition(kv, "Available")["status"] == "False"
    # Leaving `install` stopped virt-operator and found no 403 in its log.

    vi.uninstall(control_plane, api_client, deployment)
    assert vi.leftovers(kube) == []
    assert not WORKLOAD_CRDS & {crd["metadata"]["name"] for crd in _kubevirt_crds(kube)}
    for name in ("virt-api", "virt-controller"):
        assert kube.get(kinds.DEPLOYMENT, name, vi.NAMESPACE) is None, name
    assert kube.get(kinds.DAEMON_SET, "virt-handler", vi.NAMESPACE) is None
