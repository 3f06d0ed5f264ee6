"""No traffic leaves loopback: the guard for issue 11's first acceptance point.

On the development machines a dial to any non-loopback address leaves the machine, and the API
server dials a ClusterIP whenever it calls a Service-backed webhook or aggregated API (virt-api's,
CDI's). The tests therefore run in a network namespace holding only loopback (`hack/netns-run`),
where such a dial fails locally with "network is unreachable". These tests prove that: the test
process sees only `lo`, the session fixture refuses to start a control plane anywhere else, and the
API server's own call to a Service-backed webhook fails with that local error.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def test_the_tests_run_in_a_network_namespace_with_only_loopback() -> None:
    assert [name for _, name in socket.if_nameindex()] == ["lo"], (
        "run the tests under hack/netns-run: this process can reach other networks"
    )


def test_the_control_plane_fixture_refuses_to_start_where_other_networks_are_reachable() -> None:
    """A nested namespace with one extra (isolated) veth pair: the fixture must refuse there."""
    env = {k: v for k, v in os.environ.items() if k != "VMO_TESTENV_KUBECONFIG"}
    pytest_argv = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "tests/integration/test_controlplane.py::test_apiserver_is_ready_and_reports_the_pinned_version",
    ]
    script = 'ip link add vmo-a0 type veth peer name vmo-b0 && exec "$@"'
    result = subprocess.run(
        ["unshare", "--net", "--map-root-user", "bash", "-c", script, "guard", *pytest_argv],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 3, output
    assert "refusing to start the control plane" in output
    assert "hack/netns-run" in output
    assert "vmo-a0" in output


@pytest.fixture
def unreachable_webhook(api_client: Any, namespace: str) -> Iterator[str]:
    """A ValidatingWebhookConfiguration for ConfigMaps in `namespace`, served by a Service that
    has a ClusterIP and no endpoints (as when kwok only pretends to run the webhook's pod)."""
    core: Any = client.CoreV1Api(api_client)
    service = core.create_namespaced_service(
        namespace,
        {
            "metadata": {"name": "webhook"},
            "spec": {"selector": {"app": "nothing-runs-this"}, "ports": [{"port": 443, "targetPort": 8443}]},
        },
    )
    cluster_ip = service.spec.cluster_ip
    assert cluster_ip
    assert cluster_ip != "None"
    name = f"test-unreachable-{namespace}"
    admission: Any = client.AdmissionregistrationV1Api(api_client)
    admission.create_validating_webhook_configuration(
        {
            "metadata": {"name": name},
            "webhooks": [
                {
                    "name": "unreachable.test.vmo.dev",
                    "clientConfig": {
                        "service": {"namespace": namespace, "name": "webhook", "port": 443, "path": "/v"}
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
    try:
        yield cluster_ip
    finally:
        admission.delete_validating_webhook_configuration(name)


def test_the_api_server_call_to_a_service_backed_webhook_fails_locally(
    api_client: Any, namespace: str, unreachable_webhook: str
) -> None:
    cluster_ip = unreachable_webhook
    core: Any = client.CoreV1Api(api_client)

    # The configuration reaches the admission chain through an informer: create until it bites.
    def refused() -> ApiException | None:
        try:
            core.create_namespaced_config_map(namespace, {"metadata": {"name": f"cm-{uuid.uuid4().hex[:6]}"}})
        except ApiException as exc:
            return exc
        return None

    error = eventually(refused, timeout=30, what="the webhook to be called")
    message = json.loads(str(error.body))["message"]
    assert error.status == 500, message
    assert 'failed calling webhook "unreachable.test.vmo.dev"' in message, message
    # The API server dialled the Service's ClusterIP and the kernel refused at once: no route
    # exists but loopback, so the connection attempt never left this network namespace.
    dial = re.search(r"dial tcp ([0-9.]+):443: connect: network is unreachable", message)
    assert dial is not None, message
    assert dial.group(1) == cluster_ip
