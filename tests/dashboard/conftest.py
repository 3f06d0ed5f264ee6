"""Fixtures of the browser tests: the VM API, one `vmo dashboard`, the system Chromium, and a page
per test whose screenshot is saved to test-artifacts/dashboard/ when the test fails."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from tests.support.dashboard import Dashboard, User, admin_user, chromium, running_dashboard
from tests.support.tenants import install_vm_roles
from tests.support.vms import install_vm_api
from vmo_operator.localenv.controlplane import ControlPlane

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


FAILED = pytest.StashKey[bool]()


@pytest.fixture(scope="session")
def vm_api(control_plane: ControlPlane, api_client: Any) -> list[dict[str, Any]]:
    """Upstream's VM CRDs, and the VM roles aggregated into view/edit/admin as the operator ships them."""
    crds = install_vm_api(api_client, control_plane.kubeconfig)
    install_vm_roles(api_client)
    return crds


@pytest.fixture(scope="session")
def dashboard(
    control_plane: ControlPlane, vm_api: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Dashboard]:
    workdir = tmp_path_factory.mktemp("dashboard")
    with running_dashboard(control_plane.kubeconfig, workdir) as running:
        yield running
        print(f"\n--- dashboard log tail ({running.log_path}) ---\n{running.log_tail()}")


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    # As root (the machines' user), Chromium's sandbox cannot start; the page runs only our own pages.
    found = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
    yield found
    found.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser context (no cookies) per test; console errors fail the test."""
    # The certificate is the dashboard's own, generated at start; HTTPS still carries the Secure cookie.
    context = browser.new_context(ignore_https_errors=True)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    yield opened
    if request.node.stash.get(FAILED, False):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.nodeid)
        for index, shown in enumerate(context.pages):
            shown.screenshot(path=str(ARTIFACTS / f"{name}-{index}.png"), full_page=True)
    context.close()
    # Refused requests (403/401 answers the tests provoke) log a console error for the resource.
    unexpected = [e for e in errors if "Failed to load resource" not in e]
    assert unexpected == [], f"console errors: {unexpected}"


@pytest.fixture
def other_namespace(api_client: Any) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:10]}"
    core = client.CoreV1Api(api_client)
    core.create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels={"vmo.dev/test": "true"}))
    )
    yield name
    core.delete_namespace(name)


@pytest.fixture
def admin(api_client: Any, namespace: str) -> Iterator[User]:
    user = admin_user(api_client, namespace)
    yield user
    client.RbacAuthorizationV1Api(api_client).delete_collection_cluster_role_binding(
        label_selector="vmo.dev/test=true"
    )
