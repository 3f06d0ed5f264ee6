"""The chart's RBAC, applied to the RBAC-enforcing control plane, allows what it lists and no more.

The operator identity here is a ServiceAccount bound only by the chart's own ClusterRole and Role
(rendered with `helm template`, applied for real). Every check sends the real request; writes use
server-side dry run, which is authorized exactly like the real write but changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from hack.official_client import official_client
from tests.packaging import tools
from tests.support.kube import metadata
from tests.support.waiting import eventually
from vmo_operator.components import vmroles
from vmo_operator.kube import kinds
from vmo_operator.kube.client import KubeClient, KubeError
from vmo_operator.localenv.controlplane import ControlPlane

pytestmark = pytest.mark.integration

RBAC_KINDS = {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
GUARD_KINDS = {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}
DRY = "All"
RBAC_V1 = "rbac.authorization.k8s.io/v1"


@dataclass
class Operator:
    name: str
    namespace: str
    api: Any  # kubernetes ApiClient authenticated as the operator's ServiceAccount


@pytest.fixture
def chart_identity(
    control_plane: ControlPlane, kubeconfig: Path, namespace: str, project_crds: list[str]
) -> Iterator[Operator]:
    """The chart's operator RBAC installed under a unique name in a test namespace."""
    name = f"vmo-rbac-{uuid.uuid4().hex[:8]}"
    docs = tools.render_chart(f"--set=fullnameOverride={name}", namespace=namespace, crds=False)
    ours = [d for d in docs if d["kind"] in RBAC_KINDS and d["metadata"]["name"] == name]
    assert {d["kind"] for d in ours} == RBAC_KINDS
    guards = [d for d in docs if d["kind"] in GUARD_KINDS and d["metadata"]["name"].startswith(f"{name}-")]
    assert {d["kind"] for d in guards} == GUARD_KINDS
    text = tools.dump([*ours, *guards])
    tools.run([tools.kubectl_binary(), "apply", "-f", "-"], stdin=text, kubeconfig=kubeconfig)
    try:
        creds = control_plane.service_account_kubeconfig(namespace, name)
        api = official_client(creds)
        operator = Operator(name, namespace, api)
        # The authorizer learns new bindings from a watch; wait until this one is in effect.
        eventually(lambda: _allowed(operator), timeout=30, what="chart ClusterRole binding in effect")
        yield operator
    finally:
        policies = [f"{d['kind'].lower()}/{d['metadata']['name']}" for d in guards]
        tools.run(
            [tools.kubectl_binary(), "delete", "--ignore-not-found", "--wait=false",
             f"clusterrole/{name}", f"clusterrolebinding/{name}", *policies],
            kubeconfig=kubeconfig,
        )  # fmt: skip


def _allowed(operator: Operator) -> bool:
    client.CustomObjectsApi(operator.api).list_cluster_custom_object("vmo.dev", "v1alpha1", "vmoprofiles")
    return True


def status_of(call: Callable[[], object]) -> int:
    try:
        call()
    except ApiException as exc:
        return int(exc.status)
    except KubeError as exc:
        return exc.status
    return 200


def test_chart_role_allows_the_operators_own_work(chart_identity: Operator) -> None:
    api = chart_identity.api
    custom = client.CustomObjectsApi(api)
    core = client.CoreV1Api(api)
    reservation = {
        "apiVersion": "vmo.dev/v1alpha1",
        "kind": "MACReservation",
        "metadata": {"name": "mac-02000000aa01"},
        "spec": {
            "mac": "02:00:00:00:aa:01",
            "state": "Pending",
            "holder": {"kind": "VirtualMachine", "namespace": "default", "name": "vm1"},
            "reservedAt": "2026-01-01T00:00:00Z",
        },
    }
    operand_namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kubevirt"}}
    kube = KubeClient(api, field_manager="vmo-operator")
    checks = {
        "list profiles": lambda: custom.list_cluster_custom_object("vmo.dev", "v1alpha1", "vmoprofiles"),
        "reserve a MAC": lambda: custom.create_cluster_custom_object(
            "vmo.dev", "v1alpha1", "macreservations", reservation, dry_run=DRY
        ),
        "list deployments everywhere": lambda: client.AppsV1Api(api).list_deployment_for_all_namespaces(),
        "apply an operand namespace": lambda: kube.apply(kinds.NAMESPACE, operand_namespace, dry_run=True),
        "list CRDs": lambda: client.ApiextensionsV1Api(api).list_custom_resource_definition(),
        "secrets in its own namespace": lambda: core.list_namespaced_secret(chart_identity.namespace),
        "post an Event": lambda: core.create_namespaced_event(
            "default",
            client.CoreV1Event.model_validate(
                {
                    "metadata": {"generateName": "vmo-"},
                    "involvedObject": {"kind": "VMOProfile", "name": "vmo", "apiVersion": "vmo.dev/v1alpha1"},
                    "reason": "Applied",
                    "message": "rbac test",
                    "type": "Normal",
                }
            ),
            dry_run=DRY,
        ),
    }
    regarding = {"kind": "VMOProfile", "name": "vmo", "apiVersion": "vmo.dev/v1alpha1"}
    checks["record an Event regarding the profile"] = lambda: client.EventsV1Api(api).create_namespaced_event(
        "default",
        client.EventsV1Event.model_validate(
            {
                "metadata": {"generateName": "vmo-"},
                "eventTime": "2026-01-01T00:00:00.123456Z",  # six digits: a MicroTime
                "reportingController": "vmo.dev/vmo-operator",
                "reportingInstance": "rbac-test",
                "action": "Reconcile",
                "reason": "Applied",
                "note": "rbac test",
                "type": "Normal",
                "regarding": regarding,
            }
        ),
        dry_run=DRY,
    )
    results = {what: status_of(call) for what, call in checks.items()}
    assert results == dict.fromkeys(checks, 200)


def test_chart_role_can_install_operand_rbac_beyond_its_own_rights(chart_identity: Operator) -> None:
    # `escalate` and `bind` on virt-operator's role, by name, let the operator install that role and
    # its binding although it does not hold what the role grants. The same under another name, or a
    # binding of cluster-admin, is refused (tests/security/test_operator_power.py has the rest).
    kube = KubeClient(chart_identity.api, field_manager="vmo-operator")
    broad = [{"apiGroups": [""], "resources": ["nodes", "pods"], "verbs": ["get", "list", "delete"]}]

    def role(name: str) -> Callable[[], object]:
        body = {"apiVersion": RBAC_V1, "kind": "ClusterRole", "metadata": {"name": name}, "rules": broad}
        return lambda: kube.apply(kinds.CLUSTER_ROLE, body, dry_run=True)

    def binding(name: str, role: str) -> Callable[[], object]:
        body = {
            "apiVersion": RBAC_V1,
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": "kubevirt-operator", "namespace": "kubevirt"}],
        }
        return lambda: kube.apply(kinds.CLUSTER_ROLE_BINDING, body, dry_run=True)

    results = {
        "operand role": status_of(role("kubevirt-operator")),
        "operand binding": status_of(binding("kubevirt-operator", "kubevirt-operator")),
        "other role": status_of(role(f"operand-{uuid.uuid4().hex[:6]}")),
        "cluster-admin binding": status_of(binding("kubevirt-operator", "cluster-admin")),
    }
    assert results == {
        "operand role": 200,
        "operand binding": 200,
        "other role": 403,
        "cluster-admin binding": 403,
    }


def test_chart_role_denies_what_the_operator_does_not_need(api_client: Any, chart_identity: Operator) -> None:
    api = chart_identity.api
    core = client.CoreV1Api(api)
    node = metadata(client.CoreV1Api(api_client).list_node().items[0]).name
    assert node
    pod = client.V1Pod.model_validate(
        {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    )
    checks = {
        "delete a node": lambda: core.delete_node(node, dry_run=DRY),
        "read secrets in kube-system": lambda: core.list_namespaced_secret("kube-system"),
        "list secrets cluster-wide": lambda: core.list_secret_for_all_namespaces(),
        "create a pod": lambda: core.create_namespaced_pod(chart_identity.namespace, pod, dry_run=DRY),
        "delete a profile": lambda: client.CustomObjectsApi(api).delete_cluster_custom_object(
            "vmo.dev", "v1alpha1", "vmoprofiles", "vmo", dry_run=DRY
        ),
        "delete a VM": lambda: client.CustomObjectsApi(api).delete_namespaced_custom_object(
            "kubevirt.io", "v1", "default", "virtualmachines", "vm1", dry_run=DRY
        ),
    }
    results = {what: status_of(call) for what, call in checks.items()}
    assert results == dict.fromkeys(checks, 403)


def test_vm_roles_aggregate_into_the_default_roles(api_client: Any, kubeconfig: Path) -> None:
    """A namespace `edit` binding carries the power-user VM rights once the VM roles exist."""
    vm_role_docs = vmroles.cluster_roles()
    assert len(vm_role_docs) == 4
    tools.run(
        [tools.kubectl_binary(), "apply", "-f", "-"], stdin=tools.dump(vm_role_docs), kubeconfig=kubeconfig
    )
    rbac = client.RbacAuthorizationV1Api(api_client)

    def grants(role: str, group: str, resource: str, verb: str) -> bool:
        rules = rbac.read_cluster_role(role).rules or []
        return any(
            # resource rules always carry apiGroups (API validation requires at least one)
            group in (r.api_groups or []) and resource in r.resources and verb in r.verbs
            for r in rules
            if r.resources
        )

    try:
        # The controller-manager's aggregation controller rewrites the default roles' rules.
        eventually(
            lambda: (
                grants("edit", "kubevirt.io", "virtualmachines", "create")
                and grants("view", "kubevirt.io", "virtualmachines", "list")
                and grants("admin", "instancetype.kubevirt.io", "virtualmachineinstancetypes", "create")
            ),
            timeout=30,
            what="VM roles aggregated into admin/edit/view",
        )
        assert not grants("view", "subresources.kubevirt.io", "virtualmachineinstances/vnc", "get")
        assert not grants("edit", "instancetype.kubevirt.io", "virtualmachineinstancetypes", "create")
    finally:
        names = [f"clusterrole/{d['metadata']['name']}" for d in vm_role_docs]
        tools.run([tools.kubectl_binary(), "delete", "--ignore-not-found", *names], kubeconfig=kubeconfig)
