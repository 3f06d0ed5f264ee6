"""The real cdi-operator installs CDI to `Deployed` under only the RBAC this project renders for it.

What the `cdi` component renders (namespace, CDI CRD, the operator's RBAC and Deployment, the CDI
CR) is applied as the engine applies it; then `.bin/cdi-operator` (built from CDI's own source at
the pinned release) runs as a process with its ServiceAccount's credentials and the rendered
Deployment's environment. It must deploy cdi-apiserver, cdi-deployment and cdi-uploadproxy (kwok
makes their pods Ready), bring the CDI CR to `Deployed` with the conditions upstream's lifecycle SDK
sets, and remove all of it again when the CR is deleted, without a single 403 in its log.

cdi-operator takes its namespace from the pod's service-account file, else `cdi`; the component
renders into `cdi`, so both agree. Run through `hack/netns-run`: the operator binds 0.0.0.0:8443 and
:8444 (loopback-only there), and the API server's dials to ClusterIPs fail locally with "network is
unreachable" instead of leaving the machine. The dials this module causes, and why they may fail:
- the aggregated API `upload.cdi.kubevirt.io` (cdi-apiserver's Service) stays unavailable; nothing
  here uses it, and the module waits for the operator to delete that APIService, so discovery
  failures cannot reach the rest of the session;
- deleting the CDI CR calls the `cdi-api-validate` webhook, whose failurePolicy is Ignore
  (upstream's), so the delete goes through;
- creating a DataVolume calls the `cdi-api-datavolume-mutate` webhook (failurePolicy Fail) first
  and is refused; one test does this on purpose to show the dial fails locally.
No test creates a PVC labelled for CDI's `cdi-api-pvc-mutate` webhook, the only one on PVCs.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

import pytest

from hack.operands import container_env
from tests.support.operands import (
    RealOperand,
    apply_rendered,
    render,
    restore_crd,
    running,
    uninstall_rendered,
)
from tests.support.paths import REPO
from tests.support.waiting import eventually
from vmo_operator.api import models
from vmo_operator.components import cdi
from vmo_operator.components.base import ClusterFacts
from vmo_operator.engine.apply import KindIndex
from vmo_operator.engine.diff import needs_apply, stamp
from vmo_operator.kube import kinds
from vmo_operator.kube.client import KubeClient, KubeError
from vmo_operator.kube.kinds import Kind
from vmo_operator.kube.objects import Manifest, ObjectKey
from vmo_operator.localenv.controlplane import ControlPlane

pytestmark = pytest.mark.integration

COMPONENTS = ("cdi-apiserver", "cdi-deployment", "cdi-uploadproxy")
UPLOAD_APISERVICE = "v1beta1.upload.cdi.kubevirt.io"
APISERVICE, SERVICE = kinds.API_SERVICE, kinds.SERVICE
# The kinds cdi-operator creates (upstream's pkg/operator/resources).
OPERATOR_KINDS = (
    kinds.CRD,
    kinds.CLUSTER_ROLE,
    kinds.CLUSTER_ROLE_BINDING,
    APISERVICE,
    kinds.MUTATING_WEBHOOK_CONFIGURATION,
    kinds.VALIDATING_WEBHOOK_CONFIGURATION,
    kinds.DEPLOYMENT,
    SERVICE,
    kinds.SERVICE_ACCOUNT,
    kinds.ROLE,
    kinds.ROLE_BINDING,
    kinds.SECRET,
    kinds.CONFIG_MAP,
)
# Reached by cdi-operator itself: deploying is a few reconciles, removal waits for the GC.
CONVERGE_SECONDS = 240.0
# cdi-operator always elects a leader, with this Lease in its namespace.
LEADER_LEASE = "cdi-operator-leader-election-helper"


def built_release() -> str:
    """The CDI release `.bin/cdi-operator` is built from (hack/testenv/cdi-operator/go.mod)."""
    gomod = (REPO / "hack/testenv/cdi-operator/go.mod").read_text()
    match = re.search(r"kubevirt\.io/containerized-data-importer (v\d+\.\d+\.\d+)", gomod)
    assert match, "hack/testenv/cdi-operator/go.mod must pin kubevirt.io/containerized-data-importer"
    return match.group(1)


SPEC = {"cdi": {"version": built_release()}}


def cdi_cr(api_client: Any) -> Manifest | None:
    return KubeClient(api_client).get(kinds.CDI, cdi.CR_NAME)


def conditions(obj: Manifest) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or []}


def deployed(api_client: Any) -> Manifest | None:
    cr = cdi_cr(api_client)
    return cr if cr and (cr.get("status") or {}).get("phase") == "Deployed" else None


def wait_deployed(api_client: Any, operand: RealOperand) -> Manifest:
    return operand.wait_for(lambda: deployed(api_client), timeout=CONVERGE_SECONDS, what="CDI Deployed")


def ready_components(api_client: Any) -> list[str]:
    kube = KubeClient(api_client)
    ready = []
    for name in COMPONENTS:
        status = (kube.get(kinds.DEPLOYMENT, name, cdi.NAMESPACE) or {}).get("status") or {}
        if status.get("readyReplicas") and status["readyReplicas"] == status.get("replicas"):
            ready.append(name)
    return ready


def owned_by(api_client: Any, owner_uid: str) -> list[str]:
    """What still exists of what cdi-operator created: it makes the CDI CR the owner of all of it."""
    kube = KubeClient(api_client)
    return [
        f"{obj['kind']} {obj['metadata']['name']}"
        for kind in OPERATOR_KINDS
        for obj in kube.list(kind)
        if any(ref.get("uid") == owner_uid for ref in obj["metadata"].get("ownerReferences") or [])
    ]


def remove_cdi(api_client: Any, operand: RealOperand) -> None:
    """Delete the CDI CR and wait until everything cdi-operator created for it is gone."""
    cr = cdi_cr(api_client)
    if cr is None:
        return
    KubeClient(api_client).delete(kinds.CDI, cdi.CR_NAME)
    operand.wait_for(lambda: cdi_cr(api_client) is None, timeout=CONVERGE_SECONDS, what="the CDI CR gone")
    uid = cr["metadata"]["uid"]
    operand.wait_for(
        lambda: not owned_by(api_client, uid),
        timeout=CONVERGE_SECONDS,
        what="what cdi-operator created, gone",
    )


def drop_finalizers(api_client: Any) -> None:
    """After a failed run: let the CRD go even though no operator will finish the CR's deletion."""
    if cdi_cr(api_client) is not None:
        KubeClient(api_client).merge_patch(kinds.CDI, cdi.CR_NAME, {"metadata": {"finalizers": None}})


def _workload_crds(kube: KubeClient) -> list[Manifest]:
    return [
        crd
        for crd in kube.list(kinds.CRD)
        if crd["spec"]["group"] == "cdi.kubevirt.io" and crd["spec"]["names"]["kind"] != "CDI"
    ]


@pytest.fixture(scope="module")
def rendered(api_client: Any) -> Iterator[list[Manifest]]:
    """What the cdi component renders, without the CDI CR (`cdi_operator` applies it once it leads).

    The simulator installs its own DataVolume CRD earlier in a session; cdi-operator would neither
    own nor remove it, so it is taken away for this module and put back afterwards.
    """
    kube = KubeClient(api_client)
    before = _workload_crds(kube)
    for crd in before:
        kube.delete(kinds.CRD, crd["metadata"]["name"])
    eventually(lambda: _workload_crds(kube) == [], timeout=120, what="no CDI workload CRDs")
    objects = render("cdi", SPEC)
    apply_rendered(api_client, "cdi", [obj for obj in objects if obj["kind"] != "CDI"])
    try:
        yield objects
    finally:
        drop_finalizers(api_client)
        uninstall_rendered(api_client, "cdi", objects)
        for crd in before:
            restore = functools.partial(restore_crd, kube, crd)
            eventually(restore, timeout=120, what=f"CRD {crd['metadata']['name']} back")


def _leading(kube: KubeClient) -> bool:
    lease = kube.get(kinds.LEASE, LEADER_LEASE, cdi.NAMESPACE)
    return bool(lease and lease["spec"].get("holderIdentity"))


@pytest.fixture(scope="module")
def cdi_operator(
    control_plane: ControlPlane, api_client: Any, rendered: list[Manifest]
) -> Iterator[RealOperand]:
    (deployment,) = (obj for obj in rendered if obj["kind"] == "Deployment")
    operand = RealOperand(
        "cdi-operator",
        control_plane,
        cdi.NAMESPACE,
        deployment["spec"]["template"]["spec"]["serviceAccountName"],
        args=["-kubeconfig={kubeconfig}"],
        env=container_env(deployment),
    )
    with running(operand):
        # The CR goes in only once the real operator leads, so no stand-in (the simulator stands
        # aside while this Lease is held) ever writes its status.
        kube = KubeClient(api_client)
        operand.wait_for(lambda: _leading(kube), timeout=CONVERGE_SECONDS, what="cdi-operator leading")
        (cr,) = (obj for obj in rendered if obj["kind"] == "CDI")
        apply_rendered(api_client, "cdi", [cr])
        try:
            yield operand
        finally:
            remove_cdi(api_client, operand)


def test_cdi_operator_deploys_its_components_ready(api_client: Any, cdi_operator: RealOperand) -> None:
    cdi_operator.wait_for(
        lambda: ready_components(api_client) == list(COMPONENTS),
        timeout=CONVERGE_SECONDS,
        what=f"{', '.join(COMPONENTS)} Ready",
    )
    cdi_operator.assert_unrefused()


def test_cdi_cr_reaches_deployed_with_upstreams_conditions(
    api_client: Any, cdi_operator: RealOperand
) -> None:
    cr = wait_deployed(api_client, cdi_operator)

    status = cr["status"]
    assert status["observedVersion"] == status["operatorVersion"] == built_release()
    # What controller-lifecycle-operator-sdk's MarkCrHealthyMessage sets on entering Deployed.
    found = conditions(cr)
    assert found["Available"]["status"] == "True"
    assert found["Available"]["reason"] == "DeployCompleted"
    assert found["Progressing"]["status"] == "False"
    assert found["Degraded"]["status"] == "False"
    assert "operator.cdi.kubevirt.io" in cr["metadata"].get("finalizers", [])
    cdi_operator.assert_unrefused()


def test_the_cdi_component_judges_the_real_install_ready(
    api_client: Any, cdi_operator: RealOperand, rendered: list[Manifest]
) -> None:
    wait_deployed(api_client, cdi_operator)
    kube = KubeClient(api_client)
    observed = {ObjectKey.of(obj): kube.get(*_coordinates(obj)) for obj in rendered}

    health = cdi.CDI.assess(models.parse_spec(SPEC), ClusterFacts(), rendered, observed)

    assert health.ready, health.message
    assert health.version == built_release()


def test_nothing_the_operator_settled_needs_a_write_from_us(
    api_client: Any, cdi_operator: RealOperand, rendered: list[Manifest]
) -> None:
    # vmo-operator and cdi-operator must not fight: once cdi-operator has settled (it prunes the
    # CRD's old versions, for one), every object we render still holds what we would apply, so an
    # idle resync of the profile writes nothing.
    wait_deployed(api_client, cdi_operator)
    kube = KubeClient(api_client)
    fought = [
        f"{obj['kind']}/{obj['metadata']['name']}"
        for obj in rendered
        if needs_apply(stamp(obj), kube.get(*_coordinates(obj)))
    ]
    assert fought == []


def _coordinates(obj: Manifest) -> tuple[Kind, str, str]:
    meta = obj["metadata"]
    return KindIndex(cdi.CDI.owned_kinds).of(obj), meta["name"], meta.get("namespace", "")


def test_a_datavolume_is_refused_because_its_webhook_cannot_be_dialled(
    api_client: Any, cdi_operator: RealOperand, namespace: str
) -> None:
    wait_deployed(api_client, cdi_operator)
    datavolume = {
        "apiVersion": "cdi.kubevirt.io/v1beta1",
        "kind": "DataVolume",
        "metadata": {"name": "blank", "namespace": namespace},
        "spec": {"source": {"blank": {}}, "storage": {"resources": {"requests": {"storage": "1Gi"}}}},
    }

    with pytest.raises(KubeError) as refused:
        KubeClient(api_client).create(kinds.DATA_VOLUME, datavolume)

    assert refused.value.status == 500
    # The mutating webhook comes first; the API server's dial to its ClusterIP fails in the netns.
    assert "datavolume-mutate.cdi.kubevirt.io" in refused.value.message
    assert "network is unreachable" in refused.value.message


def test_deleting_the_cdi_cr_removes_what_the_operator_installed(
    api_client: Any, cdi_operator: RealOperand
) -> None:
    # Runs last in this module (pytest keeps file order): it takes CDI down.
    cr = wait_deployed(api_client, cdi_operator)
    installed = set(owned_by(api_client, cr["metadata"]["uid"]))
    expected = {f"Deployment {name}" for name in COMPONENTS} | {f"APIService {UPLOAD_APISERVICE}"}
    assert expected | {"CustomResourceDefinition datavolumes.cdi.kubevirt.io"} <= installed

    remove_cdi(api_client, cdi_operator)

    assert ready_components(api_client) == []
    assert KubeClient(api_client).get(APISERVICE, UPLOAD_APISERVICE) is None
    cdi_operator.assert_unrefused()
