"""The operator's own identity cannot make itself more than the chart says (issue 12, part 6).

Every request here is sent as the operator's ServiceAccount, bound only to what the chart ships
(`bind_operator_identity`: the generated ClusterRole and Role, and the admission policies next to
them). Writes are server-side applies with `dryRun=All`: the API server authorizes them (RBAC,
the escalation checks, admission policies) exactly like real ones, and changes nothing, so an
attack that wrongly succeeded leaves no trace in the shared control plane. Each refusal is checked
for its reason too, so a test cannot pass on a 403 that came from something else, such as a
binding that is not in effect yet.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from hack.official_client import official_client
from hack.simulators.operands import CDI_WORKLOAD_CRDS
from tests.support.kube import status_body
from tests.support.operator import OPERATOR_NAMESPACE, OPERATOR_SERVICE_ACCOUNT, bind_operator_identity
from tests.support.paths import REPO
from tests.support.prometheus import prometheus_rule_crd
from tests.support.tenants import Tenant
from tests.support.waiting import eventually
from vmo_operator.api.models import parse_spec
from vmo_operator.components import registry
from vmo_operator.components.base import ClusterFacts
from vmo_operator.engine.apply import KindIndex
from vmo_operator.kube import kinds
from vmo_operator.kube.client import KubeClient, KubeError
from vmo_operator.kube.kinds import Kind
from vmo_operator.kube.objects import MANAGED_BY_LABEL, MANAGED_BY_VALUE, RELEASED_LABEL, Manifest
from vmo_operator.localenv.controlplane import ControlPlane
from vmo_operator.macpool import admission_config
from vmo_operator.macpool.settings import NAMESPACE_OPT_OUT_LABEL, NAMESPACE_OPT_OUT_VALUE

pytestmark = pytest.mark.integration

RBAC = "rbac.authorization.k8s.io"
ITSELF = {"kind": "ServiceAccount", "name": OPERATOR_SERVICE_ACCOUNT, "namespace": OPERATOR_NAMESPACE}
EVERYTHING = [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]
# How each guard says no: RBAC's authorizer, RBAC's escalation check, and the admission policies.
NOT_GRANTED = "cannot"  # User "..." cannot patch resource "clusterroles" ...
ESCALATION = "attempting to grant RBAC permissions not currently held"
OPERAND_NAMESPACES = "only in the operand namespaces"
OPERAND_SUBJECTS = "binds roles only to the operand ServiceAccounts"
NOT_OURS = "changes only the"


@pytest.fixture(scope="module")
def operator_api(control_plane: ControlPlane) -> Iterator[Any]:
    """An ApiClient that authenticates as the operator's ServiceAccount."""
    api = official_client(bind_operator_identity(control_plane))
    yield api
    api.close()


@pytest.fixture(scope="module")
def operator_identity(operator_api: Any) -> KubeClient:
    kube = KubeClient(operator_api, field_manager="vmo-operator")
    # Bindings reach the authorizer through a watch: wait until the role is in effect, or every
    # refusal below could be the binding's absence rather than the rule under test.
    eventually(
        lambda: kube.apply(kinds.DEPLOYMENT, _deployment("descheduler", "kube-system"), dry_run=True),
        timeout=30,
        what="the operator's ClusterRole in effect",
    )
    return kube


@pytest.fixture
def admin(api_client: Any) -> KubeClient:
    return KubeClient(api_client, field_manager="vmo-tests")


def _refusal(call: Callable[[], object]) -> KubeError | None:
    try:
        call()
    except KubeError as exc:
        if exc.status == 403:
            return exc
        raise
    return None


def refused(call: Callable[[], object], because: str, *, guard_settling: bool = False) -> str:
    """The 403 message `call` gets, which must say `because`.

    `guard_settling`: the refusal comes from an admission policy, which the API server loads
    through a watch; retry until it is in force (a dry run that slips through changes nothing).
    """
    if guard_settling:

        def refused_so() -> KubeError | None:
            exc = _refusal(call)
            return exc if exc is not None and because in exc.message else None

        return eventually(refused_so, timeout=30, what=f"refused because {because!r}").message
    exc = _refusal(call)
    assert exc is not None, f"allowed, but it should be refused ({because})"
    assert because in exc.message, exc.message
    return exc.message


def _cluster_role(name: str, rules: list[dict[str, list[str]]]) -> Manifest:
    return {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRole", "metadata": {"name": name}, "rules": rules}


def _binding(
    kind: str, name: str, role_kind: str, role: str, subject: dict[str, str], namespace: str = ""
) -> Manifest:
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {
        "apiVersion": f"{RBAC}/v1",
        "kind": kind,
        "metadata": meta,
        "roleRef": {"apiGroup": RBAC, "kind": role_kind, "name": role},
        "subjects": [subject],
    }


def _deployment(name: str, namespace: str) -> Manifest:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "c", "image": "x"}]},
            },
        },
    }


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# ------------------------------------------------------------------------------- RBAC escalation


def test_an_apply_is_authorized_by_name_and_a_post_is_not(
    operator_identity: KubeClient, operator_api: Any
) -> None:
    """Why names work at all: a server-side apply that creates is authorized as `patch` and `create`
    on the object's name, while a POST carries no name in the request, so a `create` granted only
    for named objects refuses it. The operator writes operand objects by apply only."""
    role = _cluster_role("kubevirt-operator", [])
    operator_identity.apply(kinds.CLUSTER_ROLE, role, dry_run=True)
    body = client.V1ClusterRole.model_validate(role)
    with pytest.raises(ApiException) as posted:
        client.RbacAuthorizationV1Api(operator_api).create_cluster_role(body, dry_run="All")
    assert posted.value.status == 403
    assert 'cannot create resource "clusterroles"' in status_body(posted.value)["message"]


def test_it_cannot_create_a_new_cluster_role_granting_everything(operator_identity: KubeClient) -> None:
    role = _cluster_role(_unique("vmo-power"), EVERYTHING)
    refused(lambda: operator_identity.apply(kinds.CLUSTER_ROLE, role, dry_run=True), NOT_GRANTED)


def test_it_cannot_bind_cluster_admin_to_itself(operator_identity: KubeClient) -> None:
    # Under a name of its own choosing, and under the name of an operand binding it may write.
    for name, because in ((_unique("vmo-power"), NOT_GRANTED), ("kubevirt-operator", ESCALATION)):
        binding = _binding("ClusterRoleBinding", name, "ClusterRole", "cluster-admin", ITSELF)
        refused(partial(operator_identity.apply, kinds.CLUSTER_ROLE_BINDING, binding, dry_run=True), because)


def test_it_cannot_bind_an_unrelated_role(operator_identity: KubeClient) -> None:
    unrelated = _binding("ClusterRoleBinding", _unique("vmo-view"), "ClusterRole", "view", ITSELF)
    refused(lambda: operator_identity.apply(kinds.CLUSTER_ROLE_BINDING, unrelated, dry_run=True), NOT_GRANTED)
    # Even under an operand binding's name and for an operand's ServiceAccount: `bind` names the
    # operand roles only, and the operator does not hold what `edit` grants.
    multus = {"kind": "ServiceAccount", "name": "multus", "namespace": "kube-system"}
    renamed = _binding("ClusterRoleBinding", "multus", "ClusterRole", "edit", multus)
    refused(lambda: operator_identity.apply(kinds.CLUSTER_ROLE_BINDING, renamed, dry_run=True), ESCALATION)


def test_an_operand_role_it_may_rewrite_cannot_be_bound_to_itself(operator_identity: KubeClient) -> None:
    """The residual power, shown: `escalate` on kubevirt-operator lets it set that role's rules to
    anything, which is how it installs virt-operator; the admission policy stops it binding that
    role (or any) to a subject other than the operand ServiceAccounts."""
    rewritten = _cluster_role("kubevirt-operator", EVERYTHING)
    operator_identity.apply(kinds.CLUSTER_ROLE, rewritten, dry_run=True)
    to_itself = _binding(
        "ClusterRoleBinding", "kubevirt-operator", "ClusterRole", "kubevirt-operator", ITSELF
    )
    refused(
        lambda: operator_identity.apply(kinds.CLUSTER_ROLE_BINDING, to_itself, dry_run=True),
        OPERAND_SUBJECTS,
        guard_settling=True,
    )
    in_kube_system = _binding(
        "RoleBinding",
        "snapshot-controller-leaderelection",
        "Role",
        "snapshot-controller-leaderelection",
        ITSELF,
        namespace="kube-system",
    )
    refused(
        lambda: operator_identity.apply(kinds.ROLE_BINDING, in_kube_system, dry_run=True),
        OPERAND_SUBJECTS,
        guard_settling=True,
    )


# ------------------------------------------------------------------------------- workloads


def test_it_writes_workloads_only_under_operand_names_in_operand_namespaces(
    operator_identity: KubeClient, namespace: str
) -> None:
    for name, where in (("virt-operator", namespace), ("descheduler", "default")):
        deployment = _deployment(name, where)
        refused(
            partial(operator_identity.apply, kinds.DEPLOYMENT, deployment, dry_run=True),
            OPERAND_NAMESPACES,
            guard_settling=True,
        )
    for where in ("kube-system", namespace):
        deployment = _deployment("miner", where)
        refused(partial(operator_identity.apply, kinds.DEPLOYMENT, deployment, dry_run=True), NOT_GRANTED)


# ------------------------------------------------------------------------------- webhooks and CRDs


def test_it_cannot_touch_a_webhook_configuration_or_crd_it_does_not_own(
    operator_identity: KubeClient, admin: KubeClient
) -> None:
    name = _unique("foreign")
    foreign = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [],
    }
    admin.apply(kinds.VALIDATING_WEBHOOK_CONFIGURATION, foreign)
    try:
        cut = {**foreign, "metadata": {"name": name, "labels": {"taken": "over"}}}
        webhook = kinds.VALIDATING_WEBHOOK_CONFIGURATION
        refused(lambda: operator_identity.apply(webhook, cut, dry_run=True), NOT_GRANTED)
        refused(lambda: operator_identity.delete(webhook, name, dry_run=True), NOT_GRANTED)
    finally:
        admin.delete(kinds.VALIDATING_WEBHOOK_CONFIGURATION, name)
    # The project's own CRDs are the installer's, not the operator's.
    profile_crd = yaml.safe_load((REPO / "crds/vmo.dev_vmoprofiles.yaml").read_text())
    refused(lambda: operator_identity.apply(kinds.CRD, profile_crd, dry_run=True), NOT_GRANTED)
    refused(
        lambda: operator_identity.delete(kinds.CRD, profile_crd["metadata"]["name"], dry_run=True),
        NOT_GRANTED,
    )


def test_it_changes_only_network_attachment_definitions_it_created(
    operator_identity: KubeClient, admin: KubeClient, namespace: str, nad_crd: None
) -> None:
    nad = kinds.NETWORK_ATTACHMENT_DEFINITION

    def network(name: str, labels: dict[str, str]) -> Manifest:
        meta = {"name": name, "namespace": namespace, "labels": labels}
        return {"apiVersion": nad.api_version, "kind": nad.kind, "metadata": meta, "spec": {"config": "{}"}}

    admin.apply(nad, network("theirs", {}))
    admin.apply(nad, network("ours", {MANAGED_BY_LABEL: MANAGED_BY_VALUE}))
    refused(
        lambda: operator_identity.apply(
            nad, network("theirs", {MANAGED_BY_LABEL: MANAGED_BY_VALUE}), dry_run=True
        ),
        NOT_OURS,
        guard_settling=True,
    )
    refused(lambda: operator_identity.delete(nad, "theirs", namespace, dry_run=True), NOT_OURS)
    operator_identity.apply(nad, network("ours", {MANAGED_BY_LABEL: MANAGED_BY_VALUE}), dry_run=True)
    operator_identity.delete(nad, "ours", namespace, dry_run=True)
    operator_identity.apply(nad, network("new", {MANAGED_BY_LABEL: MANAGED_BY_VALUE}), dry_run=True)


def _served_for_the_test(admin: KubeClient, crd: Manifest, kind: Kind) -> Iterator[None]:
    """`crd` served while the test runs; removed afterwards only if it was made here."""
    name = crd["metadata"]["name"]

    def not_terminating() -> bool:
        # An earlier module's profile removal may still be deleting it (and every object of it).
        live = admin.get(kinds.CRD, name)
        return live is None or not live["metadata"].get("deletionTimestamp")

    eventually(not_terminating, timeout=120, what=f"no {name} CRD being deleted")
    created = admin.get(kinds.CRD, name) is None
    if created:
        admin.apply(kinds.CRD, crd)
    eventually(lambda: admin.served(kind), timeout=30, what=f"{kind.plural} served")
    yield
    if created:
        admin.delete(kinds.CRD, name)


@pytest.fixture
def nad_crd(admin: KubeClient) -> Iterator[None]:
    """The NAD CRD, as Multus's component renders it; removed afterwards only if this test made it."""
    spec = parse_spec({})
    crd = next(
        obj
        for obj in registry.render_all(spec, ClusterFacts(), "security")
        if obj["kind"] == "CustomResourceDefinition" and obj["spec"]["group"] == "k8s.cni.cncf.io"
    )
    yield from _served_for_the_test(admin, crd, kinds.NETWORK_ATTACHMENT_DEFINITION)


def test_it_changes_only_prometheus_rules_it_created(
    operator_identity: KubeClient, admin: KubeClient, namespace: str, prometheus_rules_served: None
) -> None:
    """The rule's namespace is the profile's choice, so its writes are unnamed in RBAC; the
    profile-named policy keeps the operator off a PrometheusRule someone else wrote."""
    rule = kinds.PROMETHEUS_RULE

    def alerts(name: str, labels: dict[str, str]) -> Manifest:
        meta = {"name": name, "namespace": namespace, "labels": labels}
        return {"apiVersion": rule.api_version, "kind": rule.kind, "metadata": meta, "spec": {"groups": []}}

    admin.apply(rule, alerts("theirs", {}))
    refused(
        lambda: operator_identity.apply(
            rule, alerts("theirs", {MANAGED_BY_LABEL: MANAGED_BY_VALUE}), dry_run=True
        ),
        NOT_OURS,
        guard_settling=True,
    )
    refused(lambda: operator_identity.delete(rule, "theirs", namespace, dry_run=True), NOT_OURS)
    operator_identity.apply(rule, alerts("new", {MANAGED_BY_LABEL: MANAGED_BY_VALUE}), dry_run=True)


def test_it_changes_only_golden_image_data_volumes_it_created_or_released(
    operator_identity: KubeClient, admin: KubeClient, namespace: str, data_volumes_served: None
) -> None:
    """Golden images go where the profile says, so DataVolume writes are unnamed in RBAC; the
    profile-named policy keeps the operator off anyone else's and lets it take back one it released
    (a source named again). It may delete none at all: they hold users' disks, and it releases them."""
    dv = kinds.DATA_VOLUME

    def volume(name: str, labels: dict[str, str]) -> Manifest:
        meta = {"name": name, "namespace": namespace, "labels": labels}
        spec = {"source": {"http": {"url": "https://example.com/x.img"}}}
        return {"apiVersion": dv.api_version, "kind": dv.kind, "metadata": meta, "spec": spec}

    ours = {MANAGED_BY_LABEL: MANAGED_BY_VALUE}
    admin.apply(dv, volume("theirs", {}))
    refused(
        lambda: operator_identity.apply(dv, volume("theirs", ours), dry_run=True),
        NOT_OURS,
        guard_settling=True,
    )
    admin.apply(dv, volume("released", {RELEASED_LABEL: "vmo"}))
    operator_identity.apply(dv, volume("released", ours), dry_run=True)
    operator_identity.apply(dv, volume("new", ours), dry_run=True)
    admin.apply(dv, volume("made", ours))
    for name in ("theirs", "released", "made"):
        refused(partial(operator_identity.delete, dv, name, namespace, dry_run=True), NOT_GRANTED)


@pytest.fixture
def data_volumes_served(admin: KubeClient) -> Iterator[None]:
    """CDI's DataVolume CRD (the simulator's schema-less stand-in); removed afterwards only if made here."""
    (crd,) = [c for c in CDI_WORKLOAD_CRDS if c["spec"]["names"]["kind"] == "DataVolume"]
    yield from _served_for_the_test(admin, crd, kinds.DATA_VOLUME)


@pytest.fixture
def prometheus_rules_served(admin: KubeClient) -> Iterator[None]:
    """A PrometheusRule CRD (monitoring.coreos.com/v1, schema left open), removed afterwards."""
    admin.apply(kinds.CRD, prometheus_rule_crd())
    eventually(lambda: admin.served(kinds.PROMETHEUS_RULE), timeout=30, what="PrometheusRules served")
    yield
    admin.delete(kinds.CRD, prometheus_rule_crd()["metadata"]["name"])


# ------------------------------------------------------------------------------- legitimate work


def test_what_the_profile_renders_is_still_allowed(operator_identity: KubeClient, admin: KubeClient) -> None:
    """Every object of the example profile the API server can take now (its namespace exists, its
    CRD is served), and the MAC webhook configurations, apply as the operator (dry run)."""
    example = yaml.safe_load((REPO / "examples/vmoprofile.yaml").read_text())["spec"]
    rendered = registry.render_all(parse_spec(example), ClusterFacts(), "security")
    index = KindIndex([*registry.owned_kinds(), *WEBHOOK_KINDS])
    mutating, validating = admission_config.webhook_configurations(
        admission_config.Endpoint(b"ca", url="https://127.0.0.1:9443"),
        profile_selector={},
        excluded_namespaces=[OPERATOR_NAMESPACE],
    )
    applied, skipped = [], []
    for obj in [*rendered, mutating, validating]:
        kind = index.of(obj)
        if not _can_take(admin, kind, obj):
            skipped.append(f"{obj['kind']} {obj['metadata']['name']}")
            continue
        operator_identity.apply(kind, obj, dry_run=True)
        applied.append(obj["kind"])
    # Without any operand installed, the cluster-scoped objects and kube-system's are still there:
    # the roles (escalate), bindings (bind), CRDs, namespaces and Deployments of every operand.
    expected = {"ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "Namespace", "Deployment"}
    expected |= {"DaemonSet", "Role", "RoleBinding", "MutatingWebhookConfiguration"}
    assert expected <= set(applied), skipped


WEBHOOK_KINDS: tuple[Kind, ...] = (
    kinds.MUTATING_WEBHOOK_CONFIGURATION,
    kinds.VALIDATING_WEBHOOK_CONFIGURATION,
)


def _can_take(admin: KubeClient, kind: Kind, obj: Manifest) -> bool:
    namespace = obj["metadata"].get("namespace", "")
    if namespace and admin.get(kinds.NAMESPACE, namespace) is None:
        return False
    return admin.served(kind)


# ------------------------------------------------------------------------------- MAC opt-out label


def test_only_who_may_edit_the_profile_may_opt_a_namespace_out(
    operator_identity: KubeClient, api_client: Any, tenant_a: Tenant
) -> None:
    """A namespace admin granted `patch` on their own namespace (a RoleBinding inside it does that)
    may label it, but not with the MAC pool's opt-out label; a cluster admin may. (The policy ships
    with the operator's RBAC, which `operator_identity` installs.)"""
    rbac_api = client.RbacAuthorizationV1Api(api_client)
    role = client.V1Role(
        metadata=client.V1ObjectMeta(name="patch-own-namespace"),
        rules=[client.V1PolicyRule(api_groups=[""], resources=["namespaces"], verbs=["get", "patch"])],
    )
    rbac_api.create_namespaced_role(tenant_a.namespace, role)
    binding = client.V1RoleBinding(
        metadata=client.V1ObjectMeta(name="patch-own-namespace"),
        role_ref=client.V1RoleRef(api_group=RBAC, kind="Role", name="patch-own-namespace"),
        subjects=[client.RbacV1Subject(api_group=RBAC, kind="User", name=tenant_a.user)],
    )
    rbac_api.create_namespaced_role_binding(tenant_a.namespace, binding)
    tenant = client.CoreV1Api(tenant_a.api)

    def label(api: Any, key: str, value: str) -> Callable[[], object]:
        return lambda: api.patch_namespace(tenant_a.namespace, {"metadata": {"labels": {key: value}}})

    eventually(label(tenant, "team", "a"), timeout=30, what="tenant may patch its namespace")
    opt_out = label(tenant, NAMESPACE_OPT_OUT_LABEL, NAMESPACE_OPT_OUT_VALUE)

    def refusal() -> str | None:
        try:
            opt_out()
        except ApiException as exc:
            return str(exc.body) if exc.status == 403 and "VMOProfiles" in str(exc.body) else None
        # The policy was not in force yet: undo, so the next attempt changes the label again.
        client.CoreV1Api(api_client).patch_namespace(
            tenant_a.namespace, {"metadata": {"labels": {NAMESPACE_OPT_OUT_LABEL: None}}}
        )
        return None

    assert NAMESPACE_OPT_OUT_LABEL in eventually(refusal, timeout=30, what="opt-out label refused")
    label(client.CoreV1Api(api_client), NAMESPACE_OPT_OUT_LABEL, NAMESPACE_OPT_OUT_VALUE)()


# ------------------------------------------------------------------------------- VM namespaces


def test_it_sets_up_vm_namespaces_but_nothing_beyond_them(
    operator_identity: KubeClient, admin: KubeClient
) -> None:
    """VM namespaces are named by the profile, so the operator may create and patch any namespace,
    and place the clone-source Role and the VM role bindings anywhere; the admission policies hold
    those writes to exactly what the vmNamespaces component renders."""
    where = f"vmns-power-{uuid.uuid4().hex[:6]}"
    admin.apply(kinds.NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": where}})

    def namespace(labels: dict[str, str], annotations: dict[str, str] | None = None) -> Callable[[], object]:
        meta: dict[str, Any] = {"name": where, "labels": labels, "annotations": annotations or {}}
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}
        return lambda: operator_identity.apply(kinds.NAMESPACE, body, dry_run=True)

    def clone_role(verbs: list[str]) -> Callable[[], object]:
        rules = [{"apiGroups": ["cdi.kubevirt.io"], "resources": ["datavolumes/source"], "verbs": verbs}]
        meta = {"name": "vmo-cdi-clone-source", "namespace": where}
        body = {"apiVersion": f"{RBAC}/v1", "kind": "Role", "metadata": meta, "rules": rules}
        return lambda: operator_identity.apply(kinds.ROLE, body, dry_run=True)

    def binding(name: str, kind: str, role: str, subject: dict[str, str]) -> Callable[[], object]:
        body = {
            "apiVersion": f"{RBAC}/v1",
            "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": where},
            "roleRef": {"apiGroup": RBAC, "kind": kind, "name": role},
            "subjects": [subject],
        }
        return lambda: operator_identity.apply(kinds.ROLE_BINDING, body, dry_run=True)

    group = {"kind": "Group", "apiGroup": RBAC, "name": "vm-users"}
    default_account = {"kind": "ServiceAccount", "name": "default", "namespace": "team-a"}
    other_account = {"kind": "ServiceAccount", "name": "builder", "namespace": "team-a"}
    # What the component renders goes through.
    namespace({"vmo.dev/vm-namespace": "true"}, {"vmo.dev/on-prune": "release"})()
    clone_role(["create"])()
    binding("vmo-cdi-clone-source", "Role", "vmo-cdi-clone-source", default_account)()
    binding("vmo-vm-user", "ClusterRole", "vmo-vm-user", group)()
    # Anything else does not.
    own_only = "only its own labels and annotations"
    refused(namespace({"pod-security.kubernetes.io/enforce": "privileged"}), own_only, guard_settling=True)
    refused(
        namespace({}, {"scheduler.alpha.kubernetes.io/node-selector": "x=y"}), own_only, guard_settling=True
    )
    refused(clone_role(["create", "delete"]), "grants only create", guard_settling=True)
    refused(
        binding("vmo-cdi-clone-source", "Role", "vmo-cdi-clone-source", other_account),
        OPERAND_SUBJECTS,
        guard_settling=True,
    )
    refused(
        binding("vmo-vm-user", "ClusterRole", "vmo-vm-admin", group), OPERAND_SUBJECTS, guard_settling=True
    )
    refused(binding("vmo-vm-admin", "ClusterRole", "admin", group), ESCALATION)
    refused(lambda: operator_identity.delete(kinds.NAMESPACE, where), NOT_GRANTED)
    admin.delete(kinds.NAMESPACE, where)
