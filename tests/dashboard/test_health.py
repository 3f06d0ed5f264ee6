"""The stack health page with the real operator running, over the profile it reconciled: conditions,
components, and drain readiness naming a VM a drain of a cordoned node would block on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from playwright.sync_api import Page, expect

from tests.support.dashboard import Dashboard, User, log_in, reference_screenshot, viewer_user
from tests.support.kube import get_profile, wait_condition
from tests.support.profiles import SharedProfile, delete_vms
from tests.support.waiting import eventually

VM = ("kubevirt.io", "v1")
SPEC: dict[str, Any] = {}


@pytest.fixture(scope="module")
def shared_profile(api_client: Any, operator: Any) -> Iterator[SharedProfile]:
    """The module's profile, installed before any node is cordoned. The first install is given
    longer than `converge` allows: on a loaded 2-core machine it has taken just over 240 s."""
    shared = SharedProfile(api_client)
    shared.create(SPEC)
    wait_condition(api_client, "vmo", "Available", timeout=600)
    yield shared
    delete_vms(api_client)
    shared.remove()


@pytest.fixture
def cordoned(api_client: Any) -> Iterator[str]:
    """A kwok node, cordoned as an admin does before a drain; uncordoned afterwards."""
    core = client.CoreV1Api(api_client)
    node = sorted(n.metadata.name for n in core.list_node().items if n.metadata and n.metadata.name)[0]
    core.patch_node(node, {"spec": {"unschedulable": True}})
    yield node
    core.patch_node(node, {"spec": {"unschedulable": None}})


def place_pinned_vmi(api: Any, namespace: str, name: str, node: str) -> None:
    """A VMI running on `node` that cannot live-migrate, with the cluster's eviction strategy."""
    custom = client.CustomObjectsApi(api)
    body = {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance", "metadata": {"name": name}}
    body["spec"] = {"domain": {"devices": {}}}
    custom.create_namespaced_custom_object(*VM, namespace, "virtualmachineinstances", body)
    status = {
        "status": {
            "phase": "Running",
            "nodeName": node,
            "conditions": [{"type": "LiveMigratable", "status": "False", "reason": "DisksNotLiveMigratable"}],
        }
    }
    try:
        custom.patch_namespaced_custom_object_status(*VM, namespace, "virtualmachineinstances", name, status)
    except ApiException as exc:
        if exc.status != 404:  # no status subresource (upstream's VMI CRD): the status is in the object
            raise
        custom.patch_namespaced_custom_object(*VM, namespace, "virtualmachineinstances", name, status)


def test_an_admin_sees_the_stack_and_the_vm_a_drain_of_a_cordoned_node_would_block(
    page: Page,
    dashboard: Dashboard,
    api_client: Any,
    admin: User,
    namespace: str,
    shared_profile: SharedProfile,
    cordoned: str,
) -> None:
    shared_profile.converge(SPEC)
    place_pinned_vmi(api_client, namespace, "pinned", cordoned)

    def listed() -> bool:
        status = (get_profile(api_client, "vmo") or {}).get("status") or {}
        node = ((status.get("drainReadiness") or {}).get("nodes") or {}).get(cordoned) or {}
        return any(f"{namespace}/pinned" in n for n in (node.get("blocking") or {}).get("names") or [])

    # The operator's resync reads the VMIs again; nothing else wakes it for a VMI.
    eventually(listed, timeout=180, what="drainReadiness naming the pinned VMI")
    log_in(page, dashboard, admin)
    page.get_by_role("link", name="Stack health").click()
    expect(page.get_by_role("heading", name="Stack health: vmo")).to_be_visible()
    available = page.get_by_role("row").filter(has=page.get_by_role("cell", name="Available", exact=True))
    expect(available).to_contain_text("True")
    expect(page.locator("tr", has_text="kubevirt").first).to_be_visible()
    drain_row = page.locator("tr", has_text=cordoned).last
    expect(drain_row).to_contain_text(f"{namespace}/pinned")
    expect(drain_row).to_contain_text("not live-migratable")
    reference_screenshot(page, "stack-health")
    client.CustomObjectsApi(api_client).delete_namespaced_custom_object(
        *VM, namespace, "virtualmachineinstances", "pinned"
    )


def test_a_viewer_who_may_not_read_profiles_is_told_so_by_the_api_server(
    page: Page, dashboard: Dashboard, api_client: Any, namespace: str, project_crds: list[str]
) -> None:
    viewer = viewer_user(api_client, namespace)
    log_in(page, dashboard, viewer)
    page.get_by_role("link", name="Stack health").click()
    expect(page.get_by_role("heading", name="Forbidden by the API server")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("vmoprofiles")
