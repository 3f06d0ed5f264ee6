"""`vmo dashboard` as the browser tests run it, the users who log in to it, and the system Chromium.

Users log in with ServiceAccount tokens from the TokenRequest API, as a person would paste the
output of `kubectl create token`: the admin's ServiceAccount is bound to `cluster-admin`; a
viewer's to the built-in `view` role in its own namespace only (which the VM roles aggregate into).
The dashboard process is given the admin kubeconfig only to learn where the API server is and
which CA it has (`kube.connect.server_only`): it never uses its credentials.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client
from playwright.sync_api import Page, expect

from tests.support.tenants import install_vm_roles
from tests.support.waiting import eventually
from vmo_operator.localenv.processes import free_port

INSTALL_HINT = "install it with hack/dashboard/install.sh (Debian's chromium package; `make test` does)"


def chromium() -> str:
    """The system Chromium from Debian's package; Playwright never downloads a browser here."""
    found = shutil.which("chromium")
    if found is None:
        raise RuntimeError(f"no chromium on PATH: {INSTALL_HINT}")
    return found


@dataclass(frozen=True)
class User:
    name: str  # system:serviceaccount:ns:sa
    namespace: str
    token: str


def token_for(api: Any, namespace: str, name: str) -> str:
    request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(expiration_seconds=3600))
    answer = client.CoreV1Api(api).create_namespaced_service_account_token(name, namespace, request)
    assert answer.status is not None
    return str(answer.status.token)


def _can(api: Any, token_user: User, verb: str, resource: str, group: str, namespace: str) -> bool:
    review = client.V1SubjectAccessReview(
        spec=client.V1SubjectAccessReviewSpec(
            user=token_user.name,
            groups=["system:serviceaccounts", f"system:serviceaccounts:{token_user.namespace}"],
            resource_attributes=client.V1ResourceAttributes(
                verb=verb, resource=resource, group=group, namespace=namespace
            ),
        )
    )
    answer = client.AuthorizationV1Api(api).create_subject_access_review(review)
    return answer.status is not None and bool(answer.status.allowed)


def service_account(api: Any, namespace: str, prefix: str) -> tuple[str, str]:
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    body = client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=name))
    client.CoreV1Api(api).create_namespaced_service_account(namespace, body)
    return name, f"system:serviceaccount:{namespace}:{name}"


def _subject(namespace: str, name: str) -> Any:
    return client.RbacV1Subject(kind="ServiceAccount", name=name, namespace=namespace)


def admin_user(api: Any, namespace: str) -> User:
    """A ServiceAccount bound to cluster-admin, and a token for it."""
    name, user = service_account(api, namespace, "admin")
    binding = client.V1ClusterRoleBinding(
        metadata=client.V1ObjectMeta(name=f"dashboard-{namespace}-{name}", labels={"vmo.dev/test": "true"}),
        role_ref=client.V1RoleRef(
            api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="cluster-admin"
        ),
        subjects=[_subject(namespace, name)],
    )
    client.RbacAuthorizationV1Api(api).create_cluster_role_binding(binding)
    found = User(user, namespace, token_for(api, namespace, name))
    eventually(
        lambda: _can(api, found, "delete", "virtualmachines", "kubevirt.io", ""),
        timeout=30,
        what=f"{user} is a cluster admin",
    )
    return found


def viewer_user(api: Any, namespace: str) -> User:
    """A ServiceAccount that holds `view` in its own namespace and nothing anywhere else."""
    # The VM roles again: removing a profile that rendered them (the MAC tests' does) removes them.
    install_vm_roles(api)
    name, user = service_account(api, namespace, "viewer")
    binding = client.V1RoleBinding(
        metadata=client.V1ObjectMeta(name=f"{name}-view"),
        role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="view"),
        subjects=[_subject(namespace, name)],
    )
    client.RbacAuthorizationV1Api(api).create_namespaced_role_binding(namespace, binding)
    found = User(user, namespace, token_for(api, namespace, name))
    # The aggregation controller fills `view` in with the VM roles asynchronously.
    eventually(
        lambda: _can(api, found, "list", "virtualmachines", "kubevirt.io", namespace),
        timeout=30,
        what=f"{user} may list VMs in {namespace}",
    )
    return found


@dataclass
class Dashboard:
    url: str
    ca_file: Path
    log_path: Path
    process: subprocess.Popen[bytes]

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def running_dashboard(kubeconfig: Path, workdir: Path) -> Iterator[Dashboard]:
    """`vmo dashboard` on 127.0.0.1 (a free port), serving HTTPS with a generated certificate."""
    port = free_port()
    ca_file = workdir / "dashboard-ca.crt"
    log_path = workdir / "dashboard.log"
    command = [
        sys.executable, "-m", "vmo_operator.cli", "dashboard", "--address", "127.0.0.1", "--port", str(port),
        "--kubeconfig", str(kubeconfig), "--ca-out", str(ca_file),
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    dashboard = Dashboard(f"https://127.0.0.1:{port}", ca_file, log_path, process)

    def healthy() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"vmo dashboard exited: {dashboard.log_tail()}")
        context = ssl.create_default_context(cafile=str(ca_file))
        with urllib.request.urlopen(f"{dashboard.url}/healthz", context=context, timeout=2) as answer:
            return bool(answer.status == 200)

    try:
        eventually(healthy, timeout=60, what="vmo dashboard /healthz")
        yield dashboard
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def log_in(page: Page, dashboard: Dashboard, user: User) -> None:
    page.goto(f"{dashboard.url}/login")
    page.get_by_label("Token").fill(user.token)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Virtual machines")).to_be_visible()


def reference_screenshot(page: Page, name: str) -> None:
    """Save `page` as docs' reference screenshot `name`.png when VMO_DASHBOARD_SCREENSHOTS names a
    directory (docs/dashboard for the README); otherwise nothing."""
    import os

    target = os.environ.get("VMO_DASHBOARD_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(target) / f"{name}.png"), full_page=True)
