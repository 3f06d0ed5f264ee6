"""One bad entry fails only itself; what admission can refuse, it refuses; destructive edits ask first.

Problem 2 of issue 13: a network whose namespace does not exist yet waits alone and converges as
soon as the namespace appears (a watch, not the resync); a component the API server refuses is
marked with the reason while the rest of the same edit is applied and assessed; `affinity` is the
Kubernetes type, so a misspelt key or an oversized value never reaches an apply. Problems 5 and 9:
removing a network VMs use, or downgrading KubeVirt, needs an acknowledgement, also when a GitOps
apply drops the network without anyone noticing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.support.kube import PROFILE, condition_of, get_profile, manifest, status_body, wait_condition
from tests.support.operator import OperatorProcess
from tests.support.paths import REPO
from tests.support.profiles import (
    SharedProfile,
    create_vm_once_served,
    kubectl,
    kubevirt_cr,
    profile_events,
    vm_on_network,
    without_snapshot_wait,
)
from tests.support.waiting import eventually
from vmo_operator.api import crd
from vmo_operator.localenv.controlplane import ControlPlane

pytestmark = pytest.mark.integration

NAD = ("k8s.cni.cncf.io", "v1")
ADMISSION = ("admissionregistration.k8s.io", "v1")
DENIED_LABEL = "vmo.dev/test-denied"


def nad(api: Any, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        found = manifest(
            client.CustomObjectsApi(api).get_namespaced_custom_object(
                *NAD, namespace, "network-attachment-definitions", name
            )
        )
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return found


def network(name: str, vlan: int, *namespaces: str) -> dict[str, Any]:
    return {"name": name, "vlan": vlan, "namespaces": list(namespaces)}


def condition_now(api: Any, type_: str) -> dict[str, Any]:
    profile = get_profile(api, "vmo")
    return condition_of(profile, type_) if profile else {}


def wait_reason(api: Any, type_: str, reason: str) -> dict[str, Any]:
    """The profile's condition `type_` once it has `reason`."""

    def found() -> dict[str, Any] | None:
        current = condition_now(api, type_)
        return current if current.get("reason") == reason else None

    return eventually(found, timeout=60, what=f"{type_} {reason}")


@pytest.fixture
def deployment_policy(api_client: Any) -> Iterator[None]:
    """An admission policy (as Kyverno or Gatekeeper would be) that refuses Deployments asking for a
    node label: the API server refuses the descheduler's Deployment, nothing admission of the
    profile could know."""
    custom = client.CustomObjectsApi(api_client)
    name = "vmo-test-deny-node-label"
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": ["apps"],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": ["deployments"],
                    }
                ]
            },
            "validations": [
                {
                    "expression": "!has(object.spec.template.spec.nodeSelector) || "
                    f"!('{DENIED_LABEL}' in object.spec.template.spec.nodeSelector)",
                    "message": "the cluster's policy refuses pods that ask for nodes labelled "
                    + DENIED_LABEL,
                }
            ],
        },
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {"policyName": name, "validationActions": ["Deny"]},
    }
    custom.create_cluster_custom_object(*ADMISSION, "validatingadmissionpolicies", policy)
    custom.create_cluster_custom_object(*ADMISSION, "validatingadmissionpolicybindings", binding)
    apps = client.AppsV1Api(api_client)
    probe = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="policy-probe"),
        spec=client.V1DeploymentSpec(
            selector=client.V1LabelSelector(match_labels={"a": "b"}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"a": "b"}),
                spec=client.V1PodSpec(
                    node_selector={DENIED_LABEL: "yes"}, containers=[client.V1Container(name="c", image="i")]
                ),
            ),
        ),
    )

    def enforced() -> bool:
        try:
            apps.create_namespaced_deployment("default", probe, dry_run="All")
        except ApiException:
            return True
        return False

    eventually(enforced, timeout=30, what="the policy enforced")
    yield
    custom.delete_cluster_custom_object(*ADMISSION, "validatingadmissionpolicybindings", name)
    custom.delete_cluster_custom_object(*ADMISSION, "validatingadmissionpolicies", name)


def _reconcile_rounds(operator: OperatorProcess) -> float:
    return sum(v for k, v in operator.metrics().items() if k.startswith("vmo_reconcile_total"))


def test_one_refused_component_and_one_waiting_network_hold_back_nothing_else(
    api_client: Any,
    profile: SharedProfile,
    namespace: str,
    operator: OperatorProcess,
    deployment_policy: None,
) -> None:
    profile.converge({"multus": {"networks": [network("vlan-10", 10, namespace)]}})
    later = f"t-later-{uuid.uuid4().hex[:6]}"
    edited = {
        "kubevirt": {"featureGates": {"add": ["CPUManager"]}},
        "descheduler": {"infra": {"nodeSelector": {DENIED_LABEL: "yes"}}},
        "multus": {"networks": [network("vlan-10", 10, namespace), network("vlan-20", 20, namespace, later)]},
    }
    client.CustomObjectsApi(api_client).patch_cluster_custom_object(*PROFILE, "vmo", {"spec": edited})

    def judged() -> dict[str, Any] | None:
        found = get_profile(api_client, "vmo")
        ready = condition_of(found, "DeschedulerReady") if found else {}
        current = found and ready.get("observedGeneration") == found["metadata"]["generation"]
        return found if current and ready.get("reason") == "ApplyFailed" else None

    judged_profile = eventually(judged, timeout=120, what="the descheduler marked ApplyFailed")
    # Everything else of the same edit was applied ...
    eventually(
        lambda: nad(api_client, namespace, "vlan-20"), timeout=60, what="vlan-20 in the existing namespace"
    )
    gates = kubevirt_cr(api_client)["spec"]["configuration"]["developerConfiguration"]["featureGates"]
    assert "CPUManager" in gates
    # ... and assessed, each component with its own reason.
    assert condition_of(judged_profile, "KubeVirtReady")["status"] == "True"
    assert condition_of(judged_profile, "CDIReady")["status"] == "True"
    refused = condition_of(judged_profile, "DeschedulerReady")["message"]
    assert "Deployment kube-system/descheduler" in refused, refused
    assert DENIED_LABEL in refused, refused
    multus = wait_reason(api_client, "MultusReady", "WaitingForNamespace")
    assert f"namespace {later} does not exist yet" in multus["message"]
    degraded = condition_now(api_client, "Degraded")
    assert degraded["status"] == "True"
    assert "Descheduler" in degraded["message"]
    assert "Multus" not in degraded["message"], "a namespace yet to come is a wait, not a fault"
    # The event follows the round's status write: wait for it, then for two more rounds, each of
    # which retries the refused write.
    eventually(lambda: profile_events(api_client, "ApplyFailed"), timeout=30, what="the ApplyFailed event")
    rounds = _reconcile_rounds(operator)
    eventually(lambda: _reconcile_rounds(operator) >= rounds + 2, timeout=60, what="two more rounds")
    failed = profile_events(api_client, "ApplyFailed")
    assert len(failed) == 1, "one event for the failure, not one per retry"
    assert failed[0]["type"] == "Warning"
    assert "Deployment kube-system/descheduler" in failed[0]["note"]

    wakeups = 'vmo_profile_wakeups_total{cause="namespace"}'
    before = operator.metrics().get(wakeups, 0)
    client.CoreV1Api(api_client).create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=later))
    )
    try:
        eventually(lambda: nad(api_client, later, "vlan-20"), timeout=60, what="vlan-20 in the new namespace")
        assert operator.metrics().get(wakeups, 0) > before, "the namespace's creation woke the profile"
        profile.converge({"multus": {"networks": [network("vlan-10", 10, namespace)]}})
    finally:
        client.CoreV1Api(api_client).delete_namespace(later)


def _openapi_schema(api: Any, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    method, url, headers, _, _ = api.param_serialize(
        "GET",
        "/openapi/v3/api/v1",
        header_params={"Accept": "application/json"},
        auth_settings=["BearerToken"],
    )
    response = api.call_api(method, url, header_params=headers)
    response.read()
    document = json.loads(response.data)
    schemas: dict[str, Any] = document["components"]["schemas"]
    return schemas[name], schemas


def _shape(schema: dict[str, Any], schemas: dict[str, Any], depth: int = 0) -> Any:
    """Property names and types, recursively, with references resolved (`allOf` of one `$ref` too)."""
    if "allOf" in schema and len(schema["allOf"]) == 1:
        schema = {**schema, **schema["allOf"][0]}
    if "$ref" in schema:
        schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
    if depth > 8:
        return "..."
    if schema.get("type") == "array":
        return [_shape(schema["items"], schemas, depth + 1)]
    if "properties" in schema:
        return {key: _shape(sub, schemas, depth + 1) for key, sub in schema["properties"].items()}
    if schema.get("type") == "object":
        return {"*": _shape(schema.get("additionalProperties") or {}, schemas, depth + 1)}
    return schema.get("type", "?")


def terms(requirement: dict[str, Any]) -> dict[str, Any]:
    """A required node affinity of one term with one requirement."""
    selector = {"nodeSelectorTerms": [{"matchExpressions": [requirement]}]}
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": selector}}


def test_affinity_has_the_api_servers_own_shape_and_admission_refuses_what_pods_would(
    api_client: Any, profile: SharedProfile
) -> None:
    upstream, schemas = _openapi_schema(api_client, "io.k8s.api.core.v1.Affinity")
    spec = crd.build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    ours = spec["properties"]["descheduler"]["properties"]["infra"]["properties"]["affinity"]
    assert _shape(ours, {}) == _shape(upstream, schemas)

    custom = client.CustomObjectsApi(api_client)

    def create(affinity: Any, **kw: Any) -> None:
        body = {
            "apiVersion": "vmo.dev/v1alpha1",
            "kind": "VMOProfile",
            "metadata": {"name": f"probe-{uuid.uuid4().hex[:6]}"},
            "spec": {"descheduler": {"infra": {"affinity": affinity}}},
        }
        custom.create_cluster_custom_object(*PROFILE, body, dry_run="All", **kw)

    cases = [
        (  # kubectl validates strictly by default; the API server then answers 400
            {"nodeAfinity": {}},
            {"field_validation": "Strict"},
            400,
            'unknown field "spec.descheduler.infra.affinity.nodeAfinity"',
        ),
        (terms({"key": "zone", "operator": "In"}), {}, 422, "values must be non-empty for In and NotIn"),
        (
            terms({"key": "zone", "operator": "In", "values": ["x" * 60] * 40000}),
            {},
            422,
            "must have at most 8 items",
        ),
    ]
    for affinity, options, code, said in cases:
        with pytest.raises(ApiException) as refused:
            create(affinity, **options)
        assert refused.value.status == code
        assert said in status_body(refused.value)["message"], status_body(refused.value)["message"][:500]

    # Without strict validation the API server prunes the misspelt key, and nothing fails later.
    profile.converge({})
    patch = {"spec": {"descheduler": {"infra": {"affinity": {"nodeAfinity": {"x": 1}}}}}}
    custom.patch_cluster_custom_object(*PROFILE, "vmo", patch)
    settled = wait_condition(api_client, "vmo", "ReconcileComplete", timeout=60)
    assert settled["spec"]["descheduler"]["infra"].get("affinity") == {}
    profile.converge({})


def test_removing_a_network_vms_use_waits_for_an_acknowledgement(
    api_client: Any, profile: SharedProfile, namespace: str
) -> None:
    profile.converge(
        {"multus": {"networks": [network("vlan-10", 10, namespace), network("vlan-20", 20, namespace)]}}
    )
    create_vm_once_served(api_client, namespace, vm_on_network("on-vlan-20", "vlan-20"))
    custom = client.CustomObjectsApi(api_client)
    custom.patch_cluster_custom_object(
        *PROFILE, "vmo", {"spec": {"multus": {"networks": [network("vlan-10", 10, namespace)]}}}
    )

    blocked = wait_reason(api_client, "ReconcileComplete", "RemovalBlocked")
    assert f"VirtualMachine {namespace}/on-vlan-20" in blocked["message"]
    assert "vmo.dev/accept-network-removal=vlan-20" in blocked["message"]
    assert nad(api_client, namespace, "vlan-20") is not None, "the NAD the VM uses is kept"
    warned = eventually(
        lambda: profile_events(api_client, "RemovalBlocked"), timeout=30, what="a Warning event"
    )
    assert "on-vlan-20" in warned[0]["note"]

    annotation = {"metadata": {"annotations": {"vmo.dev/accept-network-removal": "vlan-20"}}}
    custom.patch_cluster_custom_object(*PROFILE, "vmo", annotation)
    eventually(
        lambda: nad(api_client, namespace, "vlan-20") is None,
        timeout=60,
        what="vlan-20 removed once accepted",
    )
    custom.patch_cluster_custom_object(
        *PROFILE, "vmo", {"metadata": {"annotations": {"vmo.dev/accept-network-removal": None}}}
    )
    wait_condition(api_client, "vmo", "ReconcileComplete", timeout=60, current=False)


def test_a_kubevirt_downgrade_is_refused_unless_accepted_and_dropped_gates_are_reported(
    api_client: Any, profile: SharedProfile
) -> None:
    profile.converge({})
    custom = client.CustomObjectsApi(api_client)
    with pytest.raises(ApiException) as refused:
        custom.patch_cluster_custom_object(*PROFILE, "vmo", {"spec": {"kubevirt": {"version": "v1.8.4"}}})
    message = status_body(refused.value)["message"]
    assert refused.value.status == 422
    assert "downgrading KubeVirt from v1.9.0 to v1.8.4" in message
    assert "spec.kubevirt.acceptDowngradeFrom: v1.9.0" in message

    accepted = {"version": "v1.8.4", "acceptDowngradeFrom": "v1.9.0", "featureGates": {"add": ["Macvtap"]}}
    custom.patch_cluster_custom_object(*PROFILE, "vmo", {"spec": {"kubevirt": accepted}})
    changed = wait_reason(api_client, "FeatureGatesChanged", "GatesDropped")
    assert "Macvtap" in changed["message"]
    dropped = eventually(
        lambda: profile_events(api_client, "GatesDropped"), timeout=30, what="a Warning event"
    )
    assert dropped[0]["type"] == "Warning"
    assert "Macvtap" in dropped[0]["note"]
    assert eventually(
        lambda: profile_events(api_client, "KubeVirtDowngrade"), timeout=30, what="downgrade event"
    )
    profile.converge({})


def test_a_gitops_apply_that_drops_a_network_vms_use_cannot_delete_it(
    control_plane: ControlPlane, api_client: Any, profile: SharedProfile, namespace: str, tmp_path: Path
) -> None:
    """`make demo` once created the profile with client-side apply; a GitOps tool's server-side
    apply migrates kubectl's fields to itself, and a later apply without `multus.networks` drops
    them from the spec. The NAD that VMs use must outlive that."""
    demo = (REPO / "hack" / "demo.sh").read_text()
    assert "kubectl apply --server-side --field-manager=vmo-demo -f examples/vmoprofile.yaml" in demo

    profile.remove()
    full = {
        "apiVersion": "vmo.dev/v1alpha1",
        "kind": "VMOProfile",
        "metadata": {"name": "vmo"},
        "spec": without_snapshot_wait({"multus": {"networks": [network("vlan-10", 10, namespace)]}}),
    }
    partial = {**full, "spec": without_snapshot_wait({"descheduler": {"enabled": True}})}
    (tmp_path / "full.yaml").write_text(yaml.safe_dump(full))
    (tmp_path / "partial.yaml").write_text(yaml.safe_dump(partial))
    kubeconfig = control_plane.kubeconfig
    kubectl(kubeconfig, "apply", "-f", str(tmp_path / "full.yaml"))  # client-side, as make demo did
    wait_condition(api_client, "vmo", "Available", timeout=180)
    create_vm_once_served(api_client, namespace, vm_on_network("on-vlan-10", "vlan-10"))

    gitops = ("apply", "--server-side", "--field-manager=gitops")
    kubectl(kubeconfig, *gitops, "-f", str(tmp_path / "full.yaml"))
    kubectl(kubeconfig, *gitops, "-f", str(tmp_path / "partial.yaml"))
    stored = get_profile(api_client, "vmo")
    assert stored is not None
    assert not stored["spec"]["multus"].get("networks"), "the trap: the networks left the spec"

    blocked = wait_reason(api_client, "ReconcileComplete", "RemovalBlocked")
    assert f"VirtualMachine {namespace}/on-vlan-10" in blocked["message"]
    assert nad(api_client, namespace, "vlan-10") is not None
