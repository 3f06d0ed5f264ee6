"""Fixtures of the integration modules: the shared profile, installed once per module."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from tests.support.kube import PROFILE, manifest
from tests.support.macpool import MacPool, running_macpool
from tests.support.profiles import SharedProfile, delete_vms
from tests.support.waiting import eventually
from vmo_operator.localenv.controlplane import ControlPlane


@pytest.fixture(scope="module")
def shared_profile(api_client: Any, operator: Any) -> Iterator[SharedProfile]:
    """The module's profile; afterwards every profile is deleted and nothing we own remains."""
    custom = client.CustomObjectsApi(api_client)
    # A profile left over from another module would make ours the second (inactive) one.
    eventually(
        lambda: not manifest(custom.list_cluster_custom_object(*PROFILE))["items"],
        timeout=120,
        what="no profiles left",
    )
    shared = SharedProfile(api_client)
    yield shared
    delete_vms(api_client)
    shared.remove()


@pytest.fixture
def profile(api_client: Any, shared_profile: SharedProfile) -> Iterator[SharedProfile]:
    """The shared profile; after each test, the VMs it made and any other profile are deleted."""
    yield shared_profile
    delete_vms(api_client)
    shared_profile.remove(keep="vmo")


@pytest.fixture(scope="module")
def macpool(
    control_plane: ControlPlane,
    api_client: Any,
    project_crds: list[str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[MacPool]:
    """Two MAC webhook replicas and their test profile, for the module (tests/support/macpool.py)."""
    with running_macpool(control_plane, api_client, tmp_path_factory.mktemp("macpool")) as pool:
        yield pool
