"""The local control plane is real: versioned, RBAC-enforcing, scheduling onto kwok nodes,
calling admission webhooks, and leaving nothing behind."""

from __future__ import annotations

import base64
import json
import re
import ssl
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from hack.official_client import official_client
from tests.support.kube import metadata
from tests.support.paths import REPO
from tests.support.waiting import eventually
from vmo_operator.localenv.controlplane import ControlPlane
from vmo_operator.localenv.pki import CertificateAuthority
from vmo_operator.localenv.processes import leftover_processes

pytestmark = pytest.mark.integration


def pinned_kubernetes_version() -> str:
    gomod = (REPO / "hack/testenv/k8s/go.mod").read_text()
    match = re.search(r"^\s*(?:require\s+)?k8s\.io/kubernetes (v\d+\.\d+\.\d+)", gomod, re.MULTILINE)
    assert match, "hack/testenv/k8s/go.mod must pin k8s.io/kubernetes"
    return match.group(1)


def test_apiserver_is_ready_and_reports_the_pinned_version(api_client: Any) -> None:
    version = client.VersionApi(api_client).get_code()
    assert version.git_version == pinned_kubernetes_version()


def test_rbac_denies_an_unbound_user_until_a_role_binds_it(
    control_plane: ControlPlane, api_client: Any, namespace: str
) -> None:
    user = f"probe-{uuid.uuid4().hex[:6]}"
    as_user = official_client(control_plane.kubeconfig_for(user))
    apps_as_user = client.AppsV1Api(as_user)

    with pytest.raises(ApiException) as denied:
        apps_as_user.list_namespaced_deployment(namespace)
    assert denied.value.status == 403

    rbac = client.RbacAuthorizationV1Api(api_client)
    rbac.create_namespaced_role(
        namespace,
        client.V1Role.model_validate(
            {
                "metadata": {"name": "read-deployments"},
                "rules": [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["list"]}],
            }
        ),
    )
    rbac.create_namespaced_role_binding(
        namespace,
        client.V1RoleBinding.model_validate(
            {
                "metadata": {"name": "read-deployments"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": "read-deployments",
                },
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
            }
        ),
    )
    listed = eventually(lambda: apps_as_user.list_namespaced_deployment(namespace), what="allowed list")
    assert listed.items == []
    # The binding grants exactly one verb on one resource.
    with pytest.raises(ApiException) as still_denied:
        client.CoreV1Api(as_user).list_namespaced_pod(namespace)
    assert still_denied.value.status == 403


def _pod_template(app: str) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": app}},
        "spec": {"containers": [{"name": "main", "image": "registry.invalid/pause:1"}]},
    }


def test_deployment_and_daemonset_become_ready_on_kwok_nodes(api_client: Any, namespace: str) -> None:
    apps = client.AppsV1Api(api_client)
    apps.create_namespaced_deployment(
        namespace,
        client.V1Deployment.model_validate(
            {
                "metadata": {"name": "web"},
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": _pod_template("web"),
                },
            }
        ),
    )
    apps.create_namespaced_daemon_set(
        namespace,
        client.V1DaemonSet.model_validate(
            {
                "metadata": {"name": "agent"},
                "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": _pod_template("agent")},
            }
        ),
    )

    def deployment_ready() -> bool:
        status = apps.read_namespaced_deployment_status("web", namespace).status
        return status is not None and status.ready_replicas == 2 and status.available_replicas == 2

    def daemonset_ready() -> bool:
        status = apps.read_namespaced_daemon_set_status("agent", namespace).status
        return (
            status is not None
            and status.desired_number_scheduled >= 3
            and status.number_ready == status.desired_number_scheduled
        )

    eventually(deployment_ready, timeout=60, what="Deployment ready")
    eventually(daemonset_ready, timeout=60, what="DaemonSet ready on every node")
    pods = client.CoreV1Api(api_client).list_namespaced_pod(namespace, label_selector="app=agent").items
    nodes = {p.spec.node_name for p in pods if p.spec is not None}  # the API server always returns spec
    assert len(nodes) >= 3


class _LabelingWebhook(BaseHTTPRequestHandler):
    """Admits every object and adds a label, recording what the API server sent."""

    def do_POST(self) -> None:
        review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        assert isinstance(self.server, _RecordingServer)
        self.server.seen.append(review)
        patch = [{"op": "add", "path": "/metadata/labels", "value": {"mutated-by": "test-webhook"}}]
        body = json.dumps(
            {
                "apiVersion": "admission.k8s.io/v1",
                "kind": "AdmissionReview",
                "response": {
                    "uid": review["request"]["uid"],
                    "allowed": True,
                    "patchType": "JSONPatch",
                    "patch": base64.b64encode(json.dumps(patch).encode()).decode(),
                },
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class _RecordingServer(ThreadingHTTPServer):
    """Keeps every AdmissionReview its handler received, in order."""

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self.seen: list[dict[str, Any]] = []


@pytest.fixture
def webhook_server(tmp_path: Path) -> Iterator[tuple[_RecordingServer, bytes]]:
    ca = CertificateAuthority("test-webhook-ca")
    cert, key = ca.issue("127.0.0.1", ip_addresses=["127.0.0.1"], server=True).write(tmp_path, "serving")
    server = _RecordingServer(("127.0.0.1", 0), _LabelingWebhook)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, ca.cert_pem
    server.shutdown()
    server.server_close()


def test_mutating_webhook_on_loopback_is_called_and_changes_the_object(
    api_client: Any, namespace: str, webhook_server: tuple[_RecordingServer, bytes]
) -> None:
    server, ca_pem = webhook_server
    port = server.server_address[1]
    name = f"test-labeler-{namespace}"
    admission = client.AdmissionregistrationV1Api(api_client)
    admission.create_mutating_webhook_configuration(
        client.V1MutatingWebhookConfiguration.model_validate(
            {
                "metadata": {"name": name},
                "webhooks": [
                    {
                        "name": "labeler.test.vmo.dev",
                        "clientConfig": {
                            "url": f"https://127.0.0.1:{port}/mutate",
                            "caBundle": base64.b64encode(ca_pem).decode(),
                        },
                        "rules": [
                            {
                                "apiGroups": [""],
                                "apiVersions": ["v1"],
                                "operations": ["CREATE"],
                                "resources": ["configmaps"],
                            }
                        ],
                        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
                        "failurePolicy": "Fail",
                        "sideEffects": "None",
                        "admissionReviewVersions": ["v1"],
                        "timeoutSeconds": 10,
                    }
                ],
            }
        )
    )
    core = client.CoreV1Api(api_client)
    try:
        # Webhook configurations reach the admission chain through an informer: retry until they do.
        def created_and_mutated() -> dict[str, str] | None:
            cm_name = f"cm-{uuid.uuid4().hex[:6]}"
            created = core.create_namespaced_config_map(
                namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name=cm_name))
            )
            labels = metadata(created).labels
            return labels if labels else None

        labels = eventually(created_and_mutated, timeout=30, what="webhook mutation")
        assert labels == {"mutated-by": "test-webhook"}
        seen = server.seen
        assert seen
        assert seen[-1]["request"]["kind"]["kind"] == "ConfigMap"
        assert seen[-1]["request"]["namespace"] == namespace
    finally:
        admission.delete_mutating_webhook_configuration(name)


def test_a_stopped_control_plane_leaves_no_process_or_directory() -> None:
    plane = ControlPlane(node_count=1)
    plane.start()
    workdir = plane.workdir
    assert workdir is not None
    pids = plane.pids()
    assert set(pids) == {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}
    assert {pid for pid, _ in leftover_processes(workdir)} >= set(pids.values())

    plane.stop()

    assert leftover_processes(workdir) == []
    assert not workdir.exists()


def test_a_kubeconfig_whose_user_is_a_credential_plugin_reaches_the_api_server_as_that_user(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    """The floor's own kubeconfig reader runs an exec plugin (as EKS, GKE and kubelogin users have)
    and presents the certificate it issues; the API server says who that is."""
    import sys

    import yaml

    from vmo_operator.kube import kinds
    from vmo_operator.kube.client import KubeClient
    from vmo_operator.kube.connect import connect_kubeconfig

    user = f"plugin-user-{uuid.uuid4().hex[:6]}"
    issued = yaml.safe_load(control_plane.kubeconfig_for(user).read_text())
    credential = issued["users"][0]["user"]
    status = {
        "clientCertificateData": base64.b64decode(credential["client-certificate-data"]).decode(),
        "clientKeyData": base64.b64decode(credential["client-key-data"]).decode(),
    }
    plugin = tmp_path / "plugin.py"
    plugin.write_text(f"import json\nprint(json.dumps({{'kind': 'ExecCredential', 'status': {status!r}}}))\n")
    issued["users"][0]["user"] = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": sys.executable,
            "args": [str(plugin)],
            "interactiveMode": "Never",
        }
    }
    config = tmp_path / "kubeconfig"
    config.write_text(yaml.safe_dump(issued))
    review = KubeClient(connect_kubeconfig(config)).create(
        kinds.SELF_SUBJECT_REVIEW,
        {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview", "metadata": {}},
    )
    assert review["status"]["userInfo"]["username"] == user


def test_tls_server_name_is_the_name_the_api_servers_certificate_is_checked_against(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    """A kubeconfig may reach the API server by an address its certificate does not name and say
    which name to check instead (`tls-server-name`); a name the certificate lacks is refused."""
    import yaml

    from vmo_operator.kube import kinds
    from vmo_operator.kube.client import KubeClient, KubeError
    from vmo_operator.kube.connect import connect_kubeconfig

    def client_naming(name: str) -> KubeClient:
        issued = yaml.safe_load(control_plane.kubeconfig.read_text())
        issued["clusters"][0]["cluster"]["tls-server-name"] = name
        config = tmp_path / f"{name}.kubeconfig"
        config.write_text(yaml.safe_dump(issued))
        return KubeClient(connect_kubeconfig(config))

    assert client_naming("kubernetes.default.svc").get(kinds.NAMESPACE, "default") is not None
    with pytest.raises(KubeError) as refused:
        client_naming("not-the-api-server.example").get(kinds.NAMESPACE, "default")
    assert (refused.value.status, refused.value.reason) == (0, "Unreachable")
    assert "certificate verify failed" in refused.value.message.lower(), refused.value.message
