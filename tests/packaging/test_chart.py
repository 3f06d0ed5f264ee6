"""The Helm chart lints, renders what the operator needs, and the kustomize base renders the same.

These run helm and kubectl offline (no cluster): `helm template` and `kubectl kustomize`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from tests.packaging import tools
from tests.packaging.tools import Manifest, find, pod_spec, render_chart, render_kustomize
from tests.support.paths import REPO
from vmo_operator.macpool import admission_config
from vmo_operator.operator import guards, rbac

# Labels only Helm adds; the kustomize base leaves them out and is otherwise identical.
HELM_ONLY_LABELS = ("helm.sh/chart", "app.kubernetes.io/managed-by", "app.kubernetes.io/version")


@pytest.fixture(scope="module")
def chart() -> list[Manifest]:
    return render_chart()


@pytest.fixture(scope="module")
def base() -> list[Manifest]:
    return render_kustomize()


def test_helm_lint_passes_strict() -> None:
    proc = tools.run([tools.helm_binary(), "lint", "--strict", str(tools.CHART)], check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 chart(s) failed" in proc.stdout


@pytest.mark.parametrize("override", ["logFormat=xml", "replica=3", "image.digest=latest"])
def test_helm_lint_rejects_values_the_schema_forbids(override: str) -> None:
    # Guards the lint test itself, and shows values.schema.json catches typos and bad enums.
    proc = tools.run([tools.helm_binary(), "lint", str(tools.CHART), "--set", override], check=False)
    assert proc.returncode != 0, proc.stdout


def test_default_render_has_every_object_the_operator_needs(chart: list[Manifest]) -> None:
    assert tools.kinds(chart) == sorted(
        [
            *["CustomResourceDefinition"] * len(list((REPO / "crds").glob("*.yaml"))),
            "ServiceAccount",
            "ClusterRole",
            "ClusterRole",  # vmo-macpool-duplicates, for admins to bind
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
            "Service",
            "Service",
            "Deployment",
            "PodDisruptionBudget",
            "NetworkPolicy",
            *[policy["kind"] for policy in guards.admission_policies(guards.Identity("x", "y", "z"))],
        ]
    )


def test_rendered_operator_roles_equal_the_code(chart: list[Manifest], base: list[Manifest]) -> None:
    for docs in (chart, base):
        assert find(docs, "ClusterRole", "vmo-operator")["rules"] == rbac.cluster_role_rules()
        assert find(docs, "Role", "vmo-operator")["rules"] == rbac.namespace_role_rules()
        # The VM user roles are the operator's (the vmRoles component), not the installer's.
        assert not [d for d in docs if d["metadata"]["name"].startswith("vmo-vm-")]


def test_the_duplicates_role_ships_as_the_code_says_and_aggregates_into_nothing(
    chart: list[Manifest], base: list[Manifest]
) -> None:
    for docs in (chart, base):
        role = find(docs, "ClusterRole", "vmo-macpool-duplicates")
        assert role["rules"] == rbac.duplicates_role_rules()
        assert not [label for label in role["metadata"]["labels"] if "aggregate-to" in label]
        assert "aggregationRule" not in role


def test_bindings_point_the_roles_at_the_service_account(chart: list[Manifest]) -> None:
    account = find(chart, "ServiceAccount")["metadata"]
    subject = {"kind": "ServiceAccount", "name": account["name"], "namespace": account["namespace"]}
    assert find(chart, "ClusterRoleBinding")["subjects"] == [subject]
    assert find(chart, "RoleBinding")["subjects"] == [subject]
    assert find(chart, "RoleBinding")["roleRef"]["name"] == find(chart, "Role")["metadata"]["name"]
    deployment = find(chart, "Deployment")
    assert pod_spec(deployment)["serviceAccountName"] == account["name"]


def test_deployment_runs_the_operator_as_documented(chart: list[Manifest]) -> None:
    deployment = find(chart, "Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 1},
    }
    container = pod_spec(deployment)["containers"][0]
    assert container["args"] == [
        "run",
        "--webhook-mode=service",
        "--metrics-port=8080",
        "--metrics-address=0.0.0.0",
        "--liveness=http://0.0.0.0:8081/healthz",
        "--log-format=json",
        "--log-level=info",
    ]
    env = {e["name"]: e for e in container["env"]}
    assert env["VMO_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert env["VMO_WEBHOOK_SERVICE"]["value"] == "vmo-operator-webhook"
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "healthz"}
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"webhook": 9443, "metrics": 8080, "healthz": 8081}
    anti = pod_spec(deployment)["affinity"]["podAntiAffinity"][
        "preferredDuringSchedulingIgnoredDuringExecution"
    ]
    assert anti[0]["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert anti[0]["podAffinityTerm"]["labelSelector"]["matchLabels"] == spec["selector"]["matchLabels"]


def test_services_route_to_the_webhook_and_metrics_ports(chart: list[Manifest]) -> None:
    webhook = find(chart, "Service", "vmo-operator-webhook")["spec"]
    assert webhook["ports"] == [{"name": "https", "port": 443, "targetPort": "webhook", "protocol": "TCP"}]
    metrics = find(chart, "Service", "vmo-operator-metrics")["spec"]
    assert metrics["ports"][0]["targetPort"] == "metrics"
    selector = find(chart, "Deployment")["spec"]["selector"]["matchLabels"]
    assert webhook["selector"] == selector == metrics["selector"]


def test_disruption_budget_and_network_policy(chart: list[Manifest]) -> None:
    selector = find(chart, "Deployment")["spec"]["selector"]["matchLabels"]
    pdb = find(chart, "PodDisruptionBudget")["spec"]
    assert pdb == {"minAvailable": 1, "selector": {"matchLabels": selector}}
    policy = find(chart, "NetworkPolicy")["spec"]
    assert policy["podSelector"]["matchLabels"] == selector
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    assert [rule["ports"][0]["port"] for rule in policy["ingress"]] == [9443, 8080]


def test_egress_reaches_only_the_api_server_and_dns(chart: list[Manifest]) -> None:
    api_server, dns = find(chart, "NetworkPolicy")["spec"]["egress"]
    # By default any address on the API server's ports: its address is not known in general.
    assert api_server == {"ports": [{"port": 443, "protocol": "TCP"}, {"port": 6443, "protocol": "TCP"}]}
    assert dns["to"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}
    ]
    assert {p["port"] for p in dns["ports"]} == {53}
    narrowed = render_chart(
        "--set-json", 'networkPolicy.egress.apiServerCIDRs=["10.0.0.10/32"]',
        "--set-json", "networkPolicy.egress.apiServerPorts=[6443]",
        "--set", "networkPolicy.egress.dns=false",
    )  # fmt: skip
    assert find(narrowed, "NetworkPolicy")["spec"]["egress"] == [
        {"ports": [{"port": 6443, "protocol": "TCP"}], "to": [{"ipBlock": {"cidr": "10.0.0.10/32"}}]}
    ]


def test_nothing_in_the_chart_carries_the_operators_own_managed_by_label(chart: list[Manifest]) -> None:
    # The operator prunes objects labelled managed-by=vmo-operator that it did not render.
    for doc in chart:
        assert doc["metadata"].get("labels", {}).get("app.kubernetes.io/managed-by") != "vmo-operator"


# ---------------------------------------------------------------------------------- values


def test_values_change_image_replicas_logging_and_placement() -> None:
    docs = render_chart(
        "--set", "image.repository=registry.example.com/vmo",
        "--set", "image.tag=1.2.3",
        "--set", "replicas=3",
        "--set", "logLevel=debug",
        "--set", "logFormat=console",
        "--set", "nodeSelector.role=infra",
        "--set-json", 'tolerations=[{"key":"infra","operator":"Exists","effect":"NoSchedule"}]',
        "--set-json", 'affinity={"nodeAffinity":{}}',
        "--set-json", 'resources={"limits":{"cpu":"2","memory":"1Gi"},"requests":{"cpu":"1","memory":"1Gi"}}',
    )  # fmt: skip
    deployment = find(docs, "Deployment")
    spec = pod_spec(deployment)
    container = spec["containers"][0]
    assert container["image"] == "registry.example.com/vmo:1.2.3"
    assert deployment["spec"]["replicas"] == 3
    assert "--log-level=debug" in container["args"]
    assert "--log-format=console" in container["args"]
    assert spec["nodeSelector"] == {"role": "infra"}
    assert spec["tolerations"][0]["key"] == "infra"
    assert spec["affinity"] == {"nodeAffinity": {}}
    assert container["resources"]["limits"] == {"cpu": "2", "memory": "1Gi"}


def test_image_digest_wins_over_tag() -> None:
    digest = "sha256:" + "a" * 64
    deployment = find(
        render_chart("--set", f"image.digest={digest}", "--set", "image.tag=9.9.9"), "Deployment"
    )
    assert pod_spec(deployment)["containers"][0]["image"] == f"ghcr.io/vmo-dev/vmo-operator@{digest}"


def test_single_replica_renders_no_disruption_budget() -> None:
    # minAvailable 1 with one replica would block every node drain.
    assert "PodDisruptionBudget" not in tools.kinds(render_chart("--set", "replicas=1"))


def test_metrics_off_removes_the_listener_service_and_policy_port() -> None:
    docs = render_chart("--set", "metrics.enabled=false", "--set", "serviceMonitor.enabled=true")
    args = pod_spec(find(docs, "Deployment"))["containers"][0]["args"]
    assert "--metrics-port=0" in args
    assert [d["metadata"]["name"] for d in docs if d["kind"] == "Service"] == ["vmo-operator-webhook"]
    assert "ServiceMonitor" not in tools.kinds(docs)
    assert [rule["ports"][0]["port"] for rule in find(docs, "NetworkPolicy")["spec"]["ingress"]] == [9443]


def test_readiness_is_an_https_probe_of_the_admission_path_within_the_webhook_timeout(
    chart: list[Manifest], base: list[Manifest]
) -> None:
    for docs in (chart, base):
        probe = pod_spec(find(docs, "Deployment"))["containers"][0]["readinessProbe"]
        assert probe["httpGet"] == {"path": "/readyz", "port": "webhook", "scheme": "HTTPS"}
        assert probe["timeoutSeconds"] < admission_config.TIMEOUT_SECONDS


def test_the_webhook_client_ca_is_mounted_and_named_from_a_secret_or_a_config_map() -> None:
    for source, volume in (
        ("secret", {"secret": {"secretName": "apiserver-ca"}}),
        ("configMap", {"configMap": {"name": "apiserver-ca"}}),
    ):
        docs = render_chart(
            "--set", f"webhook.clientCA.{source}=apiserver-ca", "--set", "webhook.clientCA.key=b.pem"
        )
        spec = pod_spec(find(docs, "Deployment"))
        container = spec["containers"][0]
        assert "--webhook-client-ca=/etc/vmo/webhook-client-ca/b.pem" in container["args"]
        mount = {"name": "webhook-client-ca", "mountPath": "/etc/vmo/webhook-client-ca", "readOnly": True}
        assert mount in container["volumeMounts"]
        assert {"name": "webhook-client-ca", **volume} in spec["volumes"]
    default = pod_spec(find(render_chart(), "Deployment"))
    assert not [arg for arg in default["containers"][0]["args"] if arg.startswith("--webhook-client-ca")]
    assert [v["name"] for v in default["volumes"]] == ["tmp"]


def test_the_webhook_rule_admits_only_the_named_sources() -> None:
    peers = [{"ipBlock": {"cidr": "10.0.0.0/24"}}]
    docs = render_chart("--set-json", f"networkPolicy.webhookFrom={json.dumps(peers)}")
    webhook_rule, metrics_rule = find(docs, "NetworkPolicy")["spec"]["ingress"]
    assert webhook_rule == {"ports": [{"port": 9443, "protocol": "TCP"}], "from": peers}
    assert "from" not in metrics_rule


def test_webhook_off_drops_service_readiness_and_policy_port() -> None:
    docs = render_chart("--set", "webhook.enabled=false")
    container = pod_spec(find(docs, "Deployment"))["containers"][0]
    assert "--webhook-mode=off" in container["args"]
    assert "readinessProbe" not in container
    assert [d["metadata"]["name"] for d in docs if d["kind"] == "Service"] == ["vmo-operator-metrics"]


def test_service_monitor_selects_only_the_metrics_service() -> None:
    docs = render_chart("--set", "serviceMonitor.enabled=true", "--set", "serviceMonitor.labels.release=prom")
    monitor = find(docs, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prom"
    selector = monitor["spec"]["selector"]["matchLabels"]
    matching = [
        d["metadata"]["name"]
        for d in docs
        if d["kind"] == "Service" and selector.items() <= d["metadata"]["labels"].items()
    ]
    assert matching == ["vmo-operator-metrics"]
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"


def test_optional_profile_is_rendered_from_values_and_kept_on_uninstall() -> None:
    spec = {"multus": {"networks": [{"name": "vlan-100", "vlan": 100, "namespaces": ["default"]}]}}
    docs = render_chart("--set", "profile.create=true", "--set-json", f"profile.spec={json.dumps(spec)}")
    profile = find(docs, "VMOProfile", "vmo")
    assert profile["apiVersion"] == "vmo.dev/v1alpha1"
    assert profile["spec"] == spec
    assert profile["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert "VMOProfile" not in tools.kinds(render_chart())


def test_extra_args_reach_the_container() -> None:
    docs = render_chart("--set-json", 'extraArgs=["--peering","--resync-seconds=120"]')
    args = pod_spec(find(docs, "Deployment"))["containers"][0]["args"]
    assert args[-2:] == ["--peering", "--resync-seconds=120"]


# ---------------------------------------------------------------------------------- kustomize


# Cluster-scoped kinds kustomize v5.5 does not know, so its namespace transformer stamps a namespace
# on them; the API server drops the field for cluster-scoped objects (test_apply shows it accepts them).
KUSTOMIZE_UNKNOWN_CLUSTER_KINDS = ("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding")


def _normalised(doc: Manifest) -> Manifest:
    out = json.loads(json.dumps(doc))
    if out["kind"] in KUSTOMIZE_UNKNOWN_CLUSTER_KINDS:
        out["metadata"].pop("namespace", None)
    labels = out["metadata"].get("labels")
    if labels is not None:
        for key in HELM_ONLY_LABELS:
            labels.pop(key, None)
    return dict(out)


def test_kustomize_base_equals_the_chart_defaults(chart: list[Manifest], base: list[Manifest]) -> None:
    from_chart = tools.keyed(map(_normalised, chart))
    from_base = {
        key: doc for key, doc in tools.keyed(map(_normalised, base)).items() if key[0] != "Namespace"
    }
    assert from_base.keys() == from_chart.keys()
    for key, doc in from_chart.items():
        assert from_base[key] == doc, key


def test_kustomize_base_creates_a_restricted_namespace(base: list[Manifest]) -> None:
    namespace = find(base, "Namespace", tools.NAMESPACE)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_example_overlay_changes_image_and_replicas_and_authenticates_the_api_server() -> None:
    docs = render_kustomize(tools.OVERLAY)
    deployment = find(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 3
    container = pod_spec(deployment)["containers"][0]
    assert container["image"] == "registry.example.com/platform/vmo-operator:0.1.0"
    # The same client-CA wiring and webhook rule as the chart renders from its values.
    from_chart = render_chart(
        "--set", "webhook.clientCA.configMap=vmo-webhook-client-ca",
        "--set-json", 'networkPolicy.webhookFrom=[{"ipBlock":{"cidr":"10.0.0.0/24"}}]',
    )  # fmt: skip
    chart_spec = pod_spec(find(from_chart, "Deployment"))
    assert container["args"] == chart_spec["containers"][0]["args"]
    assert container["volumeMounts"] == chart_spec["containers"][0]["volumeMounts"]
    assert pod_spec(deployment)["volumes"] == chart_spec["volumes"]
    assert find(docs, "NetworkPolicy")["spec"] == find(from_chart, "NetworkPolicy")["spec"]


# ---------------------------------------------------------------------------------- pod security


def security_findings(docs: list[Manifest]) -> list[str]:
    """The high-severity pod settings a security scan flags, checked directly on rendered output."""
    findings = []
    for doc in docs:
        if doc["kind"] not in ("Deployment", "DaemonSet", "StatefulSet", "Job", "Pod"):
            continue
        spec: Mapping[str, Any] = pod_spec(doc) if doc["kind"] != "Pod" else doc["spec"]
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        pod_ctx = spec.get("securityContext") or {}
        for flag in ("hostNetwork", "hostPID", "hostIPC"):
            if spec.get(flag):
                findings.append(f"{where}: {flag}")
        if any("hostPath" in volume for volume in spec.get("volumes") or []):
            findings.append(f"{where}: hostPath volume")
        if (pod_ctx.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
            findings.append(f"{where}: pod seccompProfile is not RuntimeDefault")
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            name = f"{where}/{container['name']}"
            ctx = container.get("securityContext") or {}
            if not (ctx.get("runAsNonRoot") or pod_ctx.get("runAsNonRoot")):
                findings.append(f"{name}: may run as root")
            if ctx.get("runAsUser", pod_ctx.get("runAsUser")) == 0:
                findings.append(f"{name}: runAsUser 0")
            if ctx.get("privileged"):
                findings.append(f"{name}: privileged")
            if ctx.get("allowPrivilegeEscalation") is not False:
                findings.append(f"{name}: privilege escalation allowed")
            if ctx.get("readOnlyRootFilesystem") is not True:
                findings.append(f"{name}: writable root filesystem")
            if (ctx.get("capabilities") or {}).get("drop") != ["ALL"]:
                findings.append(f"{name}: capabilities not dropped")
            if (ctx.get("capabilities") or {}).get("add"):
                findings.append(f"{name}: capabilities added")
            resources = container.get("resources") or {}
            for kind in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if resource not in (resources.get(kind) or {}):
                        findings.append(f"{name}: no {resource} {kind[:-1]}")
            if "livenessProbe" not in container:
                findings.append(f"{name}: no liveness probe")
    return findings


def test_chart_and_kustomize_pods_are_locked_down(chart: list[Manifest], base: list[Manifest]) -> None:
    assert security_findings(chart) == []
    assert security_findings(base) == []


def test_security_check_flags_a_weakened_pod() -> None:
    # The check above is only worth something if it notices a regression.
    deployment = find(render_chart("--set", "resources.limits=null"), "Deployment")
    spec = deployment["spec"]["template"]["spec"]
    container = spec["containers"][0]
    container["securityContext"]["allowPrivilegeEscalation"] = True
    container["securityContext"]["readOnlyRootFilesystem"] = False
    spec["volumes"].append({"name": "host", "hostPath": {"path": "/"}})
    findings = security_findings([deployment])
    assert any("privilege escalation" in f for f in findings)
    assert any("writable root" in f for f in findings)
    assert any("hostPath" in f for f in findings)
    assert any("no memory limit" in f for f in findings)
