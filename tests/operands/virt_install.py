"""Running the real virt-operator (KubeVirt v1.5.1, built from the module proxy) on kwok.

How virt-operator and its install-strategy dump are launched (args, env, ServiceAccount) is
hack/operands.py's, shared with `make demo`, so the tests and the demo run it the same way.

What cannot happen here, and what stands in for it:
- virt-operator dumps its install strategy through a Job running its own image, and kwok never
  runs that pod. `dump_install_strategy` runs the same binary in that mode as a process, with the
  environment of the Job virt-operator created and the Job's ServiceAccount (the operator's own).
- virt-operator's webhooks (and virt-api's) sit behind Services. Inside the loopback-only network
  namespace the API server cannot reach them, so every call to them fails at once. That blocks
  virt-operator's own finalizer patch (its `kubevirt-update-validator` judges every KubeVirt
  update). `uninstall` therefore stands in for that one patch and for the webhook that would allow
  the deletion, then lets the real virt-operator remove what it installed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from hack.operands import (
    VIRT_OPERATOR,
    install_strategy_dump,
    install_strategy_job,
    service_account_of,
    virt_operator_launch,
)
from tests.support.operands import RealOperand, apply_rendered, running
from tests.support.waiting import eventually
from vmo_operator.kube import kinds
from vmo_operator.kube.client import KubeClient
from vmo_operator.kube.kinds import Kind
from vmo_operator.kube.objects import Manifest
from vmo_operator.localenv.controlplane import ControlPlane
from vmo_operator.localenv.processes import free_port

VERSION = VIRT_OPERATOR.built_version()  # v1.5.1, the pin in hack/testenv/virt-operator/go.mod
SPEC = {"kubevirt": {"version": VERSION}}
NAMESPACE = "kubevirt"
SERVICE_ACCOUNT = "kubevirt-operator"
CR_NAME = "kubevirt"
LEASE = "virt-operator"
FINALIZER = "foregroundDeleteKubeVirt"
OPERATOR_WEBHOOK = "virt-operator-validator"
MANAGED = "app.kubernetes.io/managed-by=virt-operator"

JOB, POD, API_SERVICE = kinds.JOB, kinds.POD, kinds.API_SERVICE
ADMISSION_POLICY = Kind(
    "admissionregistration.k8s.io/v1",
    "ValidatingAdmissionPolicy",
    "validatingadmissionpolicies",
    namespaced=False,
)
ADMISSION_POLICY_BINDING = Kind(
    "admissionregistration.k8s.io/v1",
    "ValidatingAdmissionPolicyBinding",
    "validatingadmissionpolicybindings",
    namespaced=False,
)
# What virt-operator creates outside its namespace (deleting the namespace removes the rest).
CLUSTER_KINDS = (
    kinds.VALIDATING_WEBHOOK_CONFIGURATION,
    kinds.MUTATING_WEBHOOK_CONFIGURATION,
    API_SERVICE,
    ADMISSION_POLICY_BINDING,
    ADMISSION_POLICY,
    kinds.CLUSTER_ROLE_BINDING,
    kinds.CLUSTER_ROLE,
    kinds.CRD,
)


def operator(control_plane: ControlPlane, deployment: Manifest, role: str = "") -> RealOperand:
    """virt-operator with the rendered Deployment's args and env, serving on 127.0.0.1 only.

    It shares the tests' network namespace, so its metrics port is a free one; the demo runs it in
    a namespace of its own and keeps the rendered port."""
    launch = virt_operator_launch(deployment, "{kubeconfig}", port=free_port())
    return RealOperand(
        "virt-operator",
        control_plane,
        NAMESPACE,
        SERVICE_ACCOUNT,
        args=launch.args,
        env=launch.env,
        role=role,
    )


def kubevirt(kube: KubeClient) -> Manifest | None:
    return kube.get(kinds.KUBEVIRT, CR_NAME, NAMESPACE)


def leading(kube: KubeClient) -> bool:
    lease = kube.get(kinds.LEASE, LEASE, NAMESPACE)
    return bool(lease and lease["spec"].get("holderIdentity"))


def dump_install_strategy(control_plane: ControlPlane, kube: KubeClient) -> Manifest:
    """Do what the install-strategy Job would: returns the Job whose environment was used."""
    job = eventually(
        lambda: install_strategy_job(kube, NAMESPACE),
        timeout=120,
        what="virt-operator to create its install-strategy Job",
    )
    namespace, service_account = service_account_of(job)
    launch = install_strategy_dump(job, "{kubeconfig}")
    dump = RealOperand(
        "virt-operator",
        control_plane,
        namespace,
        service_account,
        args=launch.args,
        env=launch.env,
        role="dump-install-strategy",
    )
    with running(dump):
        code = dump.wait(timeout=120)
    assert code == 0, dump.log()[-3000:]
    return job


@contextlib.contextmanager
def install(
    control_plane: ControlPlane, api_client: Any, rendered: Sequence[Manifest]
) -> Iterator[RealOperand]:
    """Install the rendered operator, run the real one, apply the CR; yields while it runs."""
    kube = KubeClient(api_client)
    deployment = next(o for o in rendered if o["kind"] == "Deployment")
    apply_rendered(api_client, "kubevirt", [o for o in rendered if o["kind"] != "KubeVirt"])
    with running(operator(control_plane, deployment)) as real:
        # Only once it leads: the simulator (if this session started one) stands aside from then on.
        eventually(lambda: leading(kube), timeout=120, what="virt-operator to take its leader lease")
        apply_rendered(api_client, "kubevirt", [o for o in rendered if o["kind"] == "KubeVirt"])
        yield real


def uninstall(control_plane: ControlPlane, api_client: Any, deployment: Manifest) -> None:
    """Delete the KubeVirt CR and let a real virt-operator remove everything it installed."""
    kube = KubeClient(api_client)
    if kubevirt(kube) is None:
        return

    def finalized_and_deleted() -> bool:
        # Stand-in for the finalizer patch virt-operator cannot make (see the module docstring).
        kube.delete(kinds.VALIDATING_WEBHOOK_CONFIGURATION, OPERATOR_WEBHOOK)
        kube.merge_patch(kinds.KUBEVIRT, CR_NAME, {"metadata": {"finalizers": [FINALIZER]}}, NAMESPACE)
        kube.delete(kinds.KUBEVIRT, CR_NAME, NAMESPACE)
        return True

    eventually(finalized_and_deleted, timeout=60, what="the KubeVirt CR to be marked for deletion")
    with running(operator(control_plane, deployment, role="uninstall")):
        eventually(lambda: kubevirt(kube) is None, timeout=240, what="virt-operator to finish uninstalling")


def leftovers(kube: KubeClient) -> list[str]:
    """Cluster-scoped objects virt-operator created that still exist."""
    return [
        f"{kind.kind}/{obj['metadata']['name']}"
        for kind in CLUSTER_KINDS
        for obj in kube.list(kind, label_selector=MANAGED)
    ]


def force_cleanup(kube: KubeClient) -> None:
    """Remove whatever virt-operator left (only when the test failed before uninstalling)."""
    for kind in CLUSTER_KINDS[:2]:  # its webhooks first: they would refuse the CR's deletion
        for obj in kube.list(kind, label_selector=MANAGED):
            kube.delete(kind, obj["metadata"]["name"])

    def cr_gone() -> bool:
        if kubevirt(kube) is not None:
            kube.merge_patch(kinds.KUBEVIRT, CR_NAME, {"metadata": {"finalizers": None}}, NAMESPACE)
            kube.delete(kinds.KUBEVIRT, CR_NAME, NAMESPACE)
        return kubevirt(kube) is None

    eventually(cr_gone, timeout=60, what="the KubeVirt CR to be gone")
    for kind in CLUSTER_KINDS:
        for obj in kube.list(kind, label_selector=MANAGED):
            kube.delete(kind, obj["metadata"]["name"])
