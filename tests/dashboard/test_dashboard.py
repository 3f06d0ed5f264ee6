"""The dashboard in a real browser (Debian's Chromium, driven by Playwright) against `vmo dashboard`
and the local control plane with upstream's VM CRDs.

Every user logs in with a token; every request the dashboard makes is that user's, so what the
API server allows is what the page offers, and what it refuses is shown with its 403.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from playwright.sync_api import Page, expect

from tests.support.dashboard import Dashboard, User, log_in, reference_screenshot, viewer_user
from tests.support.kube import manifest
from tests.support.vms import vm_body
from tests.support.waiting import eventually

VM = ("kubevirt.io", "v1")
LIVE_TIMEOUT_MS = 30_000


def create_vm(api: Any, namespace: str, name: str, run: str = "Halted") -> dict[str, Any]:
    body = vm_body(name, {"default": "02:00:00:00:aa:01"})
    body["spec"]["runStrategy"] = run
    created = client.CustomObjectsApi(api).create_namespaced_custom_object(
        *VM, namespace, "virtualmachines", body
    )
    return manifest(created)


def get_vm(api: Any, namespace: str, name: str) -> dict[str, Any]:
    return manifest(
        client.CustomObjectsApi(api).get_namespaced_custom_object(*VM, namespace, "virtualmachines", name)
    )


def create_running_vmi(api: Any, namespace: str, name: str, node: str) -> None:
    """A VMI as virt-controller and virt-handler would leave it: on a node, live-migratable."""
    custom = client.CustomObjectsApi(api)
    body = {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachineInstance",
        "metadata": {"name": name},
        "spec": {"domain": {"devices": {}}},
    }
    custom.create_namespaced_custom_object(*VM, namespace, "virtualmachineinstances", body)
    status = {
        "status": {
            "phase": "Running",
            "nodeName": node,
            "conditions": [{"type": "LiveMigratable", "status": "True"}],
            "interfaces": [{"name": "default", "mac": "02:00:00:00:aa:01", "ipAddresses": ["10.1.2.3"]}],
        }
    }
    try:
        custom.patch_namespaced_custom_object_status(*VM, namespace, "virtualmachineinstances", name, status)
    except ApiException as exc:
        if exc.status != 404:  # no status subresource: the status is part of the object
            raise
        custom.patch_namespaced_custom_object(*VM, namespace, "virtualmachineinstances", name, status)


def row(page: Page, namespace: str, name: str) -> Any:
    return page.locator(f'tr[data-key="{namespace}/{name}"]')


def set_status(api: Any, namespace: str, plural: str, name: str, status: dict[str, Any]) -> None:
    """What virt-controller would write, through the status subresource where the CRD has one."""
    custom = client.CustomObjectsApi(api)
    try:
        custom.patch_namespaced_custom_object_status(*VM, namespace, plural, name, {"status": status})
    except ApiException as exc:
        if exc.status != 404:
            raise
        custom.patch_namespaced_custom_object(*VM, namespace, plural, name, {"status": status})


def live_page(page: Page) -> None:
    """The page's event stream is open: what changes from now on reaches it."""
    expect(page.locator("table#vms[data-live=true]")).to_have_count(1, timeout=LIVE_TIMEOUT_MS)


def test_a_bad_token_is_refused(page: Page, dashboard: Dashboard) -> None:
    page.goto(f"{dashboard.url}/login")
    page.get_by_label("Token").fill("not-a-token-the-api-server-knows")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("did not accept this token")
    assert page.context.cookies() == []
    page.goto(f"{dashboard.url}/vms")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()  # no session, no list


def test_the_session_cookie_and_headers_are_strict(page: Page, dashboard: Dashboard, admin: User) -> None:
    log_in(page, dashboard, admin)
    [cookie] = page.context.cookies()
    assert (cookie["httpOnly"], cookie["secure"], cookie["sameSite"]) == (True, True, "Strict")
    assert admin.token not in cookie["value"]
    answer = page.request.get(f"{dashboard.url}/vms")
    policy = answer.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy


def test_an_admin_sees_every_vm_with_its_actions(
    page: Page, dashboard: Dashboard, api_client: Any, admin: User, namespace: str, other_namespace: str
) -> None:
    create_vm(api_client, namespace, "alpha")
    create_vm(api_client, other_namespace, "beta", run="Always")
    log_in(page, dashboard, admin)
    expect(row(page, namespace, "alpha")).to_contain_text("02:00:00:00:aa:01")
    expect(row(page, other_namespace, "beta")).to_be_visible()
    expect(row(page, namespace, "alpha").locator('button[data-action="start"]')).to_be_visible()
    expect(row(page, other_namespace, "beta").locator('button[data-action="stop"]')).to_be_visible()
    # The filter narrows the list to one namespace.
    page.get_by_label("Namespace").select_option(other_namespace)
    page.get_by_role("button", name="Filter").click()
    expect(row(page, other_namespace, "beta")).to_be_visible()
    expect(row(page, namespace, "alpha")).to_have_count(0)


def test_a_viewer_sees_only_their_namespace_and_no_actions_and_a_forced_action_gets_the_403(
    page: Page, dashboard: Dashboard, api_client: Any, namespace: str, other_namespace: str
) -> None:
    create_vm(api_client, namespace, "mine")
    create_vm(api_client, other_namespace, "theirs")
    viewer = viewer_user(api_client, namespace)
    log_in(page, dashboard, viewer)
    expect(row(page, namespace, "mine")).to_be_visible()
    expect(row(page, other_namespace, "theirs")).to_have_count(0)
    expect(page.locator("button[data-action]")).to_have_count(0)
    expect(page.locator("a.button.danger")).to_have_count(0)
    # Forced: the same form a button would post, with the session's own CSRF token.
    page.evaluate(
        """([path]) => {
            const form = document.createElement("form");
            form.method = "post";
            form.action = path;
            const csrf = document.querySelector('input[name="csrf"]').cloneNode();
            form.appendChild(csrf);
            document.body.appendChild(form);
            form.submit();
        }""",
        [f"/vms/{namespace}/mine/start"],
    )
    expect(page.get_by_role("heading", name="Forbidden by the API server")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("403")
    expect(page.get_by_role("alert")).to_contain_text(viewer.name)
    assert get_vm(api_client, namespace, "mine")["spec"]["runStrategy"] == "Halted"


def test_start_and_stop_set_the_run_strategy(
    page: Page, dashboard: Dashboard, api_client: Any, admin: User, namespace: str
) -> None:
    create_vm(api_client, namespace, "web")
    log_in(page, dashboard, admin)
    row(page, namespace, "web").locator('button[data-action="start"]').click()
    expect(page.get_by_role("status")).to_contain_text("runStrategy Always")
    assert get_vm(api_client, namespace, "web")["spec"]["runStrategy"] == "Always"
    # The action's page follows the VM: its printable status moves as virt-controller reports it.
    status = row(page, namespace, "web").locator("[data-status]")
    expect(status).to_have_text("Stopped")
    live_page(page)
    set_status(api_client, namespace, "virtualmachines", "web", {"printableStatus": "Starting"})
    expect(status).to_have_text("Starting", timeout=LIVE_TIMEOUT_MS)
    set_status(api_client, namespace, "virtualmachines", "web", {"printableStatus": "Running"})
    expect(status).to_have_text("Running", timeout=LIVE_TIMEOUT_MS)
    reference_screenshot(page, "action-progress")
    row(page, namespace, "web").locator('button[data-action="stop"]').click()
    expect(page.get_by_role("status")).to_contain_text("runStrategy Halted")
    assert get_vm(api_client, namespace, "web")["spec"]["runStrategy"] == "Halted"
    live_page(page)
    set_status(api_client, namespace, "virtualmachines", "web", {"printableStatus": "Stopping"})
    expect(row(page, namespace, "web").locator("[data-status]")).to_have_text(
        "Stopping", timeout=LIVE_TIMEOUT_MS
    )


def test_migrate_creates_the_migration(
    page: Page, dashboard: Dashboard, api_client: Any, admin: User, namespace: str
) -> None:
    create_vm(api_client, namespace, "db", run="Always")
    create_running_vmi(api_client, namespace, "db", "kwok-node-0")
    log_in(page, dashboard, admin)
    expect(row(page, namespace, "db")).to_contain_text("kwok-node-0")
    reference_screenshot(page, "vms")
    row(page, namespace, "db").locator('button[data-action="migrate"]').click()
    # A round trip through the dashboard and the API server: on a loaded 2-core machine (a CI
    # lane) it once took longer than Playwright's default 5 s.
    expect(page.get_by_role("status")).to_contain_text("Migration db-migration-", timeout=LIVE_TIMEOUT_MS)
    migrations = client.CustomObjectsApi(api_client).list_namespaced_custom_object(
        *VM, namespace, "virtualmachineinstancemigrations"
    )
    [migration] = manifest(migrations)["items"]
    assert migration["spec"]["vmiName"] == "db"
    assert migration["metadata"]["name"].startswith("db-migration-")
    # Its progress: the migration's phase shows in the VM's row as virt-controller moves it on.
    phase = row(page, namespace, "db").locator("[data-migration]")
    expect(phase).to_have_text("migration Pending", timeout=LIVE_TIMEOUT_MS)
    live_page(page)
    name = migration["metadata"]["name"]
    set_status(api_client, namespace, "virtualmachineinstancemigrations", name, {"phase": "Running"})
    expect(phase).to_have_text("migration Running", timeout=LIVE_TIMEOUT_MS)
    set_status(api_client, namespace, "virtualmachineinstancemigrations", name, {"phase": "Succeeded"})
    expect(phase).to_have_text("migration Succeeded", timeout=LIVE_TIMEOUT_MS)
    page.goto(f"{dashboard.url}/vms")
    expect(row(page, namespace, "db").locator("[data-migration]")).to_have_text("migration Succeeded")


def test_the_list_updates_live_when_a_vm_changes(
    page: Page, dashboard: Dashboard, api_client: Any, admin: User, namespace: str
) -> None:
    create_vm(api_client, namespace, "live")
    log_in(page, dashboard, admin)
    status = row(page, namespace, "live").locator("[data-status]")
    expect(status).to_have_text("Stopped")
    expect(page.locator("table#vms[data-live=true]")).to_have_count(1, timeout=LIVE_TIMEOUT_MS)
    client.CustomObjectsApi(api_client).patch_namespaced_custom_object_status(
        *VM, namespace, "virtualmachines", "live", {"status": {"printableStatus": "Migrating"}}
    )
    expect(status).to_have_text("Migrating", timeout=LIVE_TIMEOUT_MS)
    create_vm(api_client, namespace, "newcomer")
    expect(row(page, namespace, "newcomer")).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    client.CustomObjectsApi(api_client).delete_namespaced_custom_object(
        *VM, namespace, "virtualmachines", "newcomer"
    )
    expect(row(page, namespace, "newcomer")).to_have_count(0, timeout=LIVE_TIMEOUT_MS)


def test_a_post_without_the_csrf_token_is_refused(
    page: Page, dashboard: Dashboard, api_client: Any, admin: User, namespace: str
) -> None:
    create_vm(api_client, namespace, "guarded")
    log_in(page, dashboard, admin)
    answer = page.request.post(f"{dashboard.url}/vms/{namespace}/guarded/start", form={"other": "x"})
    assert answer.status == 403
    assert "CSRF" in answer.text()
    wrong = page.request.post(f"{dashboard.url}/vms/{namespace}/guarded/start", form={"csrf": "forged"})
    assert wrong.status == 403
    cross_site = page.request.post(
        f"{dashboard.url}/vms/{namespace}/guarded/start",
        form={"csrf": page.locator('input[name="csrf"]').first.get_attribute("value") or ""},
        headers={"Origin": "https://evil.example"},
    )
    assert cross_site.status == 403
    assert get_vm(api_client, namespace, "guarded")["spec"]["runStrategy"] == "Halted"
    # The control: the same request with the session's token and no foreign Origin goes through,
    # so the refusals above are the CSRF and Origin checks, not a missing session.
    token = page.locator('input[name="csrf"]').first.get_attribute("value") or ""
    accepted = page.request.post(f"{dashboard.url}/vms/{namespace}/guarded/start", form={"csrf": token})
    assert accepted.status == 200
    assert get_vm(api_client, namespace, "guarded")["spec"]["runStrategy"] == "Always"


def test_delete_asks_for_the_name_first(
    page: Page, dashboard: Dashboard, api_client: Any, admin: User, namespace: str
) -> None:
    create_vm(api_client, namespace, "doomed")
    log_in(page, dashboard, admin)
    row(page, namespace, "doomed").get_by_role("link", name="Delete").click()
    page.get_by_label("Type doomed to delete it").fill("wrong")
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("alert")).to_contain_text("Type the VM's name")
    assert get_vm(api_client, namespace, "doomed")
    page.go_back()
    page.get_by_label("Type doomed to delete it").fill("doomed")
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status")).to_contain_text("is being deleted")

    def gone() -> bool:
        try:
            get_vm(api_client, namespace, "doomed")
        except ApiException as exc:
            return bool(exc.status == 404)
        return False

    eventually(gone, timeout=30, what="the VM deleted")


def test_the_detail_page_shows_the_vm(
    page: Page, dashboard: Dashboard, api_client: Any, admin: User, namespace: str
) -> None:
    create_vm(api_client, namespace, "shown")
    log_in(page, dashboard, admin)
    row(page, namespace, "shown").get_by_role("link", name="shown").click()
    expect(page.get_by_role("heading", name=f"{namespace}/shown")).to_be_visible()
    expect(page.locator("#vm-yaml")).to_contain_text("runStrategy: Halted")
    expect(page.get_by_role("heading", name="Networks")).to_be_visible()
    reference_screenshot(page, "vm-detail")
