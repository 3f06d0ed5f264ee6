"""With the real operator running: the stack health page over the profile it reconciled (conditions,
components, drain readiness naming a VM a drain of a cordoned node would block on), and the create-VM
form, whose VM is exactly the previewed manifest and gets its MACs from the MAC allocator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from kubernetes import client
from playwright.sync_api import Page, expect

from tests.support.dashboard import Dashboard, User, log_in, reference_screenshot, viewer_user
from tests.support.kube import get_profile, manifest
from tests.support.profiles import SharedProfile, delete_vms
from tests.support.waiting import eventually
from vmo_operator.macpool import mac as macs

VM = ("kubevirt.io", "v1")
# The profile of this module: one VLAN network, its NetworkAttachmentDefinition in `default`.
SPEC: dict[str, Any] = {"multus": {"networks": [{"name": "vlan-20", "vlan": 20}]}}


@pytest.fixture(scope="module")
def shared_profile(api_client: Any, operator: Any) -> Iterator[SharedProfile]:
    shared = SharedProfile(api_client)
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
    custom.patch_namespaced_custom_object_status(*VM, namespace, "virtualmachineinstances", name, status)


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
    conditions = page.locator("table").first
    expect(conditions.locator("tr", has_text="Available")).to_contain_text("True")
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


def test_create_vm_creates_exactly_the_previewed_manifest_and_the_allocator_gives_the_macs(
    page: Page, dashboard: Dashboard, api_client: Any, admin: User, shared_profile: SharedProfile
) -> None:
    shared_profile.converge(SPEC)
    log_in(page, dashboard, admin)
    page.get_by_role("link", name="Create a VM").click()
    page.get_by_label("Name", exact=True).fill("made-here")
    page.get_by_label("Namespace", exact=True).select_option("default")
    page.get_by_label("CPU cores", exact=True).fill("2")
    page.get_by_label("Memory", exact=True).fill("1Gi")
    page.get_by_label("Image", exact=True).fill("quay.io/containerdisks/fedora:41")
    page.get_by_label("vlan-20 (in default)").check()
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_role("heading", name="Create default/made-here?")).to_be_visible()
    previewed = yaml.safe_load(page.locator("#manifest").inner_text())
    reference_screenshot(page, "create-preview")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("status")).to_contain_text("made-here created")
    created = manifest(
        client.CustomObjectsApi(api_client).get_namespaced_custom_object(
            *VM, "default", "virtualmachines", "made-here"
        )
    )
    interfaces = created["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"]
    assert [i["name"] for i in interfaces] == ["default", "vlan-20"]
    for interface in interfaces:
        given = macs.parse(interface.pop("macAddress"))
        assert given.is_locally_administered
        # The allocator's: a MACReservation holds it.
        client.CustomObjectsApi(api_client).get_cluster_custom_object(
            "vmo.dev", "v1alpha1", "macreservations", given.reservation_name
        )
    assert created["spec"]["template"] == previewed["spec"]["template"]
    assert created["spec"]["runStrategy"] == previewed["spec"]["runStrategy"] == "Halted"
    assert created["metadata"]["name"] == previewed["metadata"]["name"]


def test_a_bad_form_is_sent_back_naming_the_field(
    page: Page, dashboard: Dashboard, admin: User, shared_profile: SharedProfile
) -> None:
    log_in(page, dashboard, admin)
    page.goto(f"{dashboard.url}/vms/new")
    page.get_by_label("Name", exact=True).fill("Not_A_Name")
    page.get_by_label("Memory", exact=True).fill("lots")
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_text("name: must be a DNS-1123 label")).to_be_visible()
    expect(page.get_by_text("memory: must be a quantity")).to_be_visible()
