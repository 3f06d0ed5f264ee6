"""The security suite: tenants with only the built-in `edit` role attack the MAC pool and the
operator. One MAC pool (two replicas) serves the whole suite; each test gets fresh tenants.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.macpool import MacPool, running_macpool
from tests.support.tenants import Tenant, edit_tenant, install_duplicates_role, install_vm_roles
from vmo_operator.localenv.controlplane import ControlPlane

# The suite's profile: a namespace quota small enough for a test to reach (spec.macPool.
# maxReservationsPerNamespace; each test gets fresh tenants, so nothing else comes near it).
NAMESPACE_QUOTA = 64


@pytest.fixture(scope="package")
def macpool(
    control_plane: ControlPlane,
    api_client: Any,
    project_crds: list[str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[MacPool]:
    logs = tmp_path_factory.mktemp("security-macpool")
    quota = {"maxReservationsPerNamespace": NAMESPACE_QUOTA}
    with running_macpool(control_plane, api_client, logs, mac_pool=quota) as pool:
        yield pool


@pytest.fixture(scope="package")
def vm_roles(api_client: Any) -> None:
    install_vm_roles(api_client)


@pytest.fixture(scope="package")
def duplicates_role(api_client: Any) -> None:
    """The ClusterRole that lets allow-duplicate count, installed as the chart would."""
    install_duplicates_role(api_client)


@pytest.fixture
def tenant_a(control_plane: ControlPlane, api_client: Any, vm_roles: None) -> Iterator[Tenant]:
    with edit_tenant(control_plane, api_client, "tenant-a") as tenant:
        yield tenant


@pytest.fixture
def tenant_b(control_plane: ControlPlane, api_client: Any, vm_roles: None) -> Iterator[Tenant]:
    with edit_tenant(control_plane, api_client, "tenant-b") as tenant:
        yield tenant
