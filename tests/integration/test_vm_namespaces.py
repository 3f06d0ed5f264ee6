"""VM namespaces and drain readiness on a real control plane (issue 14, items 1 and 11).

The tests run in order against the module's shared profile. A namespace that leaves
spec.vmNamespaces, or outlives the profile, is released: the operator's labels and role bindings go,
the namespace and the VMs and PVCs in it stay. Drain readiness is read from VMIs created directly
against upstream's VirtualMachineInstance CRD (the simulated KubeVirt serves it), placed on the
kwok nodes with the status virt-controller and virt-handler would write.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.support.kube import PROFILE, get_profile, manifest, refusal, status_body
from tests.support.profiles import SharedProfile, create_vm_once_served
from tests.support.vms import vm_body
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

VM_NS = "vmns-a"
ADOPTED = "vmns-adopted"  # exists before the profile names it, with a label of its own
GOLDEN = "vmns-golden"
VM_LABEL = "vmo.dev/vm-namespace"
RELEASED_LABEL = "vmo.dev/released-from"
CLONE = "vmo-cdi-clone-source"
SPEC: dict[str, Any] = {
    "vmNamespaces": {
        "namespaces": [VM_NS, ADOPTED],
        "goldenImageNamespace": GOLDEN,
        "roleBindings": [{"role": "vmo-vm-user", "groups": ["vm-users"], "users": ["alice@example.com"]}],
    }
}


def plain(api: Any, typed: object) -> dict[str, Any]:
    """A typed client answer (V1Namespace, ...) as the JSON the API server sent."""
    return manifest(api.sanitize_for_serialization(typed))


def namespace(api: Any, name: str) -> dict[str, Any] | None:
    try:
        return plain(api, client.CoreV1Api(api).read_namespace(name))
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def labels(api: Any, name: str) -> dict[str, str]:
    found = namespace(api, name)
    assert found is not None, f"namespace {name} is gone"
    assert not found["metadata"].get("deletionTimestamp"), f"namespace {name} is being deleted"
    return dict(found["metadata"].get("labels") or {})


def role_binding(api: Any, ns: str, name: str) -> dict[str, Any] | None:
    try:
        return plain(api, client.RbacAuthorizationV1Api(api).read_namespaced_role_binding(name, ns))
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def may_clone(api: Any, service_account_namespace: str) -> bool:
    """Whether that namespace's default ServiceAccount may clone from the golden-image namespace,
    the check CDI makes (create on datavolumes/source in the source namespace)."""
    review = client.V1SubjectAccessReview(
        spec=client.V1SubjectAccessReviewSpec(
            user=f"system:serviceaccount:{service_account_namespace}:default",
            groups=["system:serviceaccounts", f"system:serviceaccounts:{service_account_namespace}"],
            resource_attributes=client.V1ResourceAttributes(
                verb="create",
                group="cdi.kubevirt.io",
                resource="datavolumes",
                subresource="source",
                namespace=GOLDEN,
            ),
        )
    )
    answer = plain(api, client.AuthorizationV1Api(api).create_subject_access_review(review))
    return bool(answer["status"].get("allowed"))


def vm_namespaces_status(api: Any) -> dict[str, Any]:
    found = get_profile(api, "vmo")
    return dict(((found or {}).get("status") or {}).get("vmNamespaces") or {})


@pytest.fixture(scope="module", autouse=True)
def adopted_namespace(api_client: Any) -> None:
    core = client.CoreV1Api(api_client)
    body = client.V1Namespace(metadata=client.V1ObjectMeta(name=ADOPTED, labels={"team": "blue"}))
    try:
        core.create_namespace(body)
    except ApiException as exc:
        if exc.status != 409:
            raise


def test_vm_namespaces_are_created_labelled_bound_and_may_clone_from_the_golden_namespace(
    api_client: Any, profile: SharedProfile
) -> None:
    converged = profile.converge(SPEC)

    for ns in (VM_NS, ADOPTED):
        assert labels(api_client, ns)[VM_LABEL] == "true"
        binding = role_binding(api_client, ns, "vmo-vm-user")
        assert binding is not None
        assert binding["roleRef"]["name"] == "vmo-vm-user"
        assert {(s["kind"], s["name"]) for s in binding["subjects"]} == {
            ("Group", "vm-users"),
            ("User", "alice@example.com"),
        }
    assert labels(api_client, ADOPTED)["team"] == "blue"  # what was there stays
    assert labels(api_client, GOLDEN)["vmo.dev/golden-images"] == "true"
    clone = role_binding(api_client, GOLDEN, CLONE)
    assert clone is not None
    assert {(s["namespace"], s["name"]) for s in clone["subjects"]} == {
        (VM_NS, "default"),
        (ADOPTED, "default"),
    }
    eventually(lambda: may_clone(api_client, VM_NS), timeout=30, what="a VM namespace may clone")
    assert not may_clone(api_client, "kube-public")

    states = converged["status"]["vmNamespaces"]
    assert {ns: states[ns]["state"] for ns in (VM_NS, ADOPTED)} == {VM_NS: "Managed", ADOPTED: "Managed"}


def test_a_dropped_namespace_is_released_and_never_deleted_with_its_vm_and_pvc(
    api_client: Any, profile: SharedProfile
) -> None:
    profile.converge(SPEC)
    core = client.CoreV1Api(api_client)
    claim = client.V1PersistentVolumeClaim(
        metadata=client.V1ObjectMeta(name="disk"),
        spec=client.V1PersistentVolumeClaimSpec(
            access_modes=["ReadWriteOnce"],
            resources=client.V1VolumeResourceRequirements(requests={"storage": "1Gi"}),
        ),
    )
    core.create_namespaced_persistent_volume_claim(VM_NS, claim)
    create_vm_once_served(api_client, VM_NS, vm_body("keeper", {}))

    only_adopted = {"vmNamespaces": {**SPEC["vmNamespaces"], "namespaces": [ADOPTED]}}
    profile.converge(only_adopted)

    released = labels(api_client, VM_NS)
    assert VM_LABEL not in released
    assert released[RELEASED_LABEL] == "vmo"
    assert "app.kubernetes.io/managed-by" not in released
    assert role_binding(api_client, VM_NS, "vmo-vm-user") is None
    clone = role_binding(api_client, GOLDEN, CLONE)
    assert clone is not None
    assert {s["namespace"] for s in clone["subjects"]} == {ADOPTED}
    eventually(
        lambda: not may_clone(api_client, VM_NS), timeout=30, what="the released namespace may not clone"
    )
    # What the namespace holds is untouched.
    pvc = plain(api_client, core.read_namespaced_persistent_volume_claim("disk", VM_NS))
    assert not pvc["metadata"].get("deletionTimestamp")
    vm = manifest(
        client.CustomObjectsApi(api_client).get_namespaced_custom_object(
            "kubevirt.io", "v1", VM_NS, "virtualmachines", "keeper"
        )
    )
    assert not vm["metadata"].get("deletionTimestamp")
    state = eventually(
        lambda: (
            vm_namespaces_status(api_client).get(VM_NS, {}).get("state") == "Released"
            and vm_namespaces_status(api_client)[VM_NS]
        ),
        timeout=60,
        what="status says the namespace was released",
    )
    assert "never deletes" in state["message"]

    # Named again, it is managed again and the released mark goes.
    profile.converge(SPEC)
    again = labels(api_client, VM_NS)
    assert again[VM_LABEL] == "true"
    assert RELEASED_LABEL not in again


@pytest.mark.parametrize(
    ("vm_namespaces", "field", "reason"),
    [
        ({"namespaces": ["Not_A_Name"]}, "spec.vmNamespaces.namespaces[0]", "should match"),
        ({"namespaces": ["kube-system"]}, "spec.vmNamespaces.namespaces", "not VM namespaces"),
        ({"namespaces": [f"n{i}" for i in range(65)]}, "spec.vmNamespaces.namespaces", "at most 64"),
        (
            {"namespaces": ["a"], "goldenImageNamespace": "a"},
            "spec.vmNamespaces.goldenImageNamespace",
            "neither",
        ),
        (
            {"roleBindings": [{"role": "cluster-admin", "groups": ["g"]}]},
            "spec.vmNamespaces.roleBindings[0].role",
            "Unsupported value",
        ),
        (
            {"roleBindings": [{"role": "vmo-vm-user"}]},
            "spec.vmNamespaces.roleBindings[0]",
            "at least one user or group",
        ),
    ],
    ids=["bad-name", "reserved", "too-many", "golden-is-vm-namespace", "not-a-vm-role", "nobody-bound"],
)
def test_bad_vm_namespaces_are_rejected_naming_the_field(
    api_client: Any, project_crds: list[str], vm_namespaces: dict[str, Any], field: str, reason: str
) -> None:
    message = refusal(api_client, {"vmNamespaces": vm_namespaces})
    assert field in message, message
    assert reason.lower() in message.lower(), message


def test_bindings_without_the_vm_roles_are_rejected(api_client: Any, project_crds: list[str]) -> None:
    body = {
        "apiVersion": "vmo.dev/v1alpha1",
        "kind": "VMOProfile",
        "metadata": {"name": f"bad-{uuid.uuid4().hex[:6]}"},
        "spec": {"vmRoles": {"enabled": False}, "vmNamespaces": SPEC["vmNamespaces"]},
    }
    with pytest.raises(ApiException) as rejected:
        client.CustomObjectsApi(api_client).create_cluster_custom_object(*PROFILE, body)
    message = status_body(rejected.value)["message"]
    assert "spec.vmNamespaces.roleBindings" in message, message


# ------------------------------------------------------------------------------------------ drain


def kwok_nodes(api: Any) -> list[str]:
    nodes = plain(api, client.CoreV1Api(api).list_node())["items"]
    return sorted(str(n["metadata"]["name"]) for n in nodes if not (n.get("spec") or {}).get("unschedulable"))


def place_vmi(api: Any, ns: str, name: str, node: str, strategy: str | None, migratable: bool) -> None:
    """A VMI running on `node`, with the status KubeVirt's controllers would have written."""
    custom = client.CustomObjectsApi(api)
    spec: dict[str, Any] = {"domain": {"devices": {}}}
    if strategy:
        spec["evictionStrategy"] = strategy
    body = {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachineInstance",
        "metadata": {"name": name},
        "spec": spec,
    }
    custom.create_namespaced_custom_object("kubevirt.io", "v1", ns, "virtualmachineinstances", body)
    condition = {"type": "LiveMigratable", "status": "True" if migratable else "False"}
    if not migratable:
        condition["reason"] = "DisksNotLiveMigratable"
    status = {"status": {"phase": "Running", "nodeName": node, "conditions": [condition]}}
    try:
        custom.patch_namespaced_custom_object_status(
            "kubevirt.io", "v1", ns, "virtualmachineinstances", name, status
        )
    except ApiException as exc:
        if exc.status != 404:  # no status subresource: status is part of the object
            raise
        custom.patch_namespaced_custom_object(
            "kubevirt.io", "v1", ns, "virtualmachineinstances", name, status
        )


def test_drain_readiness_counts_what_a_drain_of_each_kwok_node_would_do(
    api_client: Any, profile: SharedProfile
) -> None:
    profile.converge(SPEC)  # the cluster-wide evictionStrategy is KubeVirt's LiveMigrate (our default)
    nodes = kwok_nodes(api_client)
    assert nodes, "the control plane has no schedulable kwok node"
    first, last = nodes[0], nodes[-1]
    eventually(
        lambda: client.CustomObjectsApi(api_client).list_namespaced_custom_object(
            "kubevirt.io", "v1", VM_NS, "virtualmachineinstances"
        ),
        timeout=60,
        what="the VirtualMachineInstance API",
    )
    place_vmi(api_client, VM_NS, "moves", first, None, migratable=True)
    place_vmi(api_client, VM_NS, "pinned", first, None, migratable=False)
    place_vmi(api_client, VM_NS, "cattle", first, "None", migratable=True)
    place_vmi(api_client, VM_NS, "maybe", last, "LiveMigrateIfPossible", migratable=False)

    def readiness() -> dict[str, Any] | None:
        found = ((get_profile(api_client, "vmo") or {}).get("status") or {}).get("drainReadiness") or {}
        per_node = found.get("nodes") or {}
        return found if first in per_node and last in per_node else None

    # The profile's resync reads the VMIs again; nothing else wakes it for a VMI.
    drain = eventually(readiness, timeout=120, what="drainReadiness for both nodes")
    assert drain["clusterEvictionStrategy"] == "LiveMigrate"
    busy = drain["nodes"][first]
    if first == last:
        assert (busy["liveMigrate"], busy["blockedBy"], busy["shutDown"]) == (1, 1, 2)
    else:
        assert (busy["liveMigrate"], busy["blockedBy"], busy["shutDown"]) == (1, 1, 1)
        other = drain["nodes"][last]
        assert (other["liveMigrate"], other["blockedBy"], other["shutDown"]) == (0, 0, 1)
        assert other["shuttingDown"]["names"] == [
            f"{VM_NS}/maybe: LiveMigrateIfPossible, not live-migratable: DisksNotLiveMigratable"
        ]
    assert busy["blocking"]["names"] == [
        f"{VM_NS}/pinned: LiveMigrate (cluster default) but not live-migratable: DisksNotLiveMigratable"
    ]
    assert f"{VM_NS}/cattle: evictionStrategy None" in busy["shuttingDown"]["names"]
    for name in ("moves", "pinned", "cattle", "maybe"):
        client.CustomObjectsApi(api_client).delete_namespaced_custom_object(
            "kubevirt.io", "v1", VM_NS, "virtualmachineinstances", name
        )


def test_deleting_the_profile_deletes_no_namespace(api_client: Any, profile: SharedProfile) -> None:
    profile.converge(SPEC)
    profile.remove()
    for ns in (VM_NS, ADOPTED, GOLDEN):
        kept = labels(api_client, ns)
        assert VM_LABEL not in kept
        assert kept[RELEASED_LABEL] == "vmo"
    assert labels(api_client, ADOPTED)["team"] == "blue"
    assert role_binding(api_client, GOLDEN, CLONE) is None
    assert role_binding(api_client, ADOPTED, "vmo-vm-user") is None
