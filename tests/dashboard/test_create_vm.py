"""The create-VM form with the MAC allocator running (two webhook replicas, as the MAC tests run
them): the VM created is exactly the previewed manifest, on the profile's VLAN network chosen in the
form, and the allocator gives every interface, the VLAN one included, its MAC."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from kubernetes import client
from playwright.sync_api import Page, expect

from tests.support.dashboard import Dashboard, User, log_in, reference_screenshot
from tests.support.kube import manifest
from tests.support.macpool import MacPool, put_profile, running_macpool
from vmo_operator.localenv.controlplane import ControlPlane
from vmo_operator.macpool import mac as macs

VM = ("kubevirt.io", "v1")


@pytest.fixture(scope="module")
def macpool(
    control_plane: ControlPlane,
    api_client: Any,
    project_crds: list[str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[MacPool]:
    with running_macpool(control_plane, api_client, tmp_path_factory.mktemp("macpool")) as pool:
        yield pool


@pytest.fixture
def vlan_network(api_client: Any, namespace: str, macpool: MacPool) -> Iterator[str]:
    """The profile's VLAN network vlan-20 in the test's namespace (Multus on); off again afterwards."""
    network = {"name": "vlan-20", "vlan": 20, "namespaces": [namespace]}
    put_profile(api_client, {"multus": {"enabled": True, "networks": [network]}})
    yield "vlan-20"
    put_profile(api_client, {"multus": {"enabled": False, "networks": None}})


def test_create_vm_creates_exactly_the_previewed_manifest_and_the_allocator_gives_the_macs(
    page: Page, dashboard: Dashboard, api_client: Any, admin: User, namespace: str, vlan_network: str
) -> None:
    log_in(page, dashboard, admin)
    page.get_by_role("link", name="Create a VM").click()
    page.get_by_label("Name", exact=True).fill("made-here")
    page.get_by_label("Namespace", exact=True).select_option(namespace)
    page.get_by_label("CPU cores", exact=True).fill("2")
    page.get_by_label("Memory", exact=True).fill("1Gi")
    page.get_by_label("Image", exact=True).fill("quay.io/containerdisks/fedora:41")
    page.get_by_role("checkbox", name=re.compile(rf"^{vlan_network} \(in .*{namespace}")).check()
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_role("heading", name=f"Create {namespace}/made-here?")).to_be_visible()
    previewed = yaml.safe_load(page.locator("#manifest").inner_text())
    reference_screenshot(page, "create-preview")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("status")).to_contain_text("made-here created")
    created = manifest(
        client.CustomObjectsApi(api_client).get_namespaced_custom_object(
            *VM, namespace, "virtualmachines", "made-here"
        )
    )
    template = created["spec"]["template"]["spec"]
    interfaces = template["domain"]["devices"]["interfaces"]
    assert [i["name"] for i in interfaces] == ["default", vlan_network]
    assert {"name": vlan_network, "multus": {"networkName": vlan_network}} in template["networks"]
    assert all(i.get("macAddress") for i in interfaces)  # the VLAN interface got one too
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
    # Gone before the network is taken out of the profile, which would otherwise wait for it.
    client.CustomObjectsApi(api_client).delete_namespaced_custom_object(
        *VM, namespace, "virtualmachines", "made-here"
    )


def test_a_bad_form_is_sent_back_naming_the_field(page: Page, dashboard: Dashboard, admin: User) -> None:
    log_in(page, dashboard, admin)
    page.goto(f"{dashboard.url}/vms/new")
    page.get_by_label("Name", exact=True).fill("Not_A_Name")
    page.get_by_label("Memory", exact=True).fill("lots")
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_text("name: must be a DNS-1123 label")).to_be_visible()
    expect(page.get_by_text("memory: must be a quantity")).to_be_visible()
