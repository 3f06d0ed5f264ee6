"""Pool flooding: what one tenant can cost the MAC pool is bounded per request and per namespace.

The incident these guard against: three failed `kubectl create`s of a 5,000-interface VM with an
invalid name left 15,000 Pending reservations, and the backlog kept other orphans waiting. Every
request here is made with a tenant's own `edit` credentials; the reservations are read as admin.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from tests.security.conftest import NAMESPACE_QUOTA
from tests.support.macpool import MacPool, orphan
from tests.support.tenants import Tenant
from tests.support.vms import VM_API, create_vm, denial, vm_macs
from tests.support.waiting import eventually
from vmo_operator.macpool import mac as macs
from vmo_operator.macpool.limits import MAX_INTERFACES, PROFILE_FIELD
from vmo_operator.macpool.reservation import (
    GROUP,
    HOLDER_NAMESPACE_LABEL,
    PLURAL,
    STATE_LABEL,
    VERSION,
    Reservation,
)

pytestmark = pytest.mark.integration

PER_VM = 16  # interfaces per VM in the quota tests: NAMESPACE_QUOTA / PER_VM VMs fill a namespace
ORPHANS = 2_000


def nics(count: int) -> dict[str, str | None]:
    return {f"nic{n}": None for n in range(count)}


def held_in(pool: MacPool, namespace: str) -> list[Reservation]:
    """Every reservation attributed to `namespace`, whatever its state."""
    return [r for r in pool.reservations().values() if r.holder.namespace == namespace]


def refusal(create: Callable[[], Any]) -> ApiException:
    with pytest.raises(ApiException) as refused:
        create()
    return refused.value


# ---- refused before anything is reserved ------------------------------------------------------


def test_the_incident_an_oversized_vm_with_an_invalid_name_reserves_nothing(
    macpool: MacPool, tenant_a: Tenant
) -> None:
    for _attempt in range(3):
        refused = refusal(lambda: create_vm(tenant_a.api, tenant_a.namespace, "Big_VM", nics(5_000)))
        assert refused.status == 422
        assert f"5000 interfaces; KubeVirt allows at most {MAX_INTERFACES}" in denial(refused)
    assert held_in(macpool, tenant_a.namespace) == []


def test_a_vm_beyond_kubevirts_interface_limit_is_refused_and_reserves_nothing(
    macpool: MacPool, tenant_a: Tenant
) -> None:
    refused = refusal(lambda: create_vm(tenant_a.api, tenant_a.namespace, "wide", nics(MAX_INTERFACES + 1)))
    assert refused.status == 422
    message = denial(refused)
    assert f"{MAX_INTERFACES + 1} interfaces" in message
    assert f"at most {MAX_INTERFACES}" in message
    assert held_in(macpool, tenant_a.namespace) == []


@pytest.mark.parametrize("name", ["Invalid_Name", "dots..twice", "x" * 254])
def test_a_create_that_would_fail_for_its_name_reserves_nothing(
    macpool: MacPool, tenant_a: Tenant, name: str
) -> None:
    """The API server checks the name only after the mutating webhooks ran: we check it first."""
    refused = refusal(lambda: create_vm(tenant_a.api, tenant_a.namespace, name, nics(8)))
    assert refused.status == 422
    assert "metadata.name" in denial(refused)
    assert held_in(macpool, tenant_a.namespace) == []
    vm = create_vm(tenant_a.api, tenant_a.namespace, "valid-name", nics(1))  # the tenant is not blocked
    assert isinstance(macs.check(vm_macs(vm)["nic0"]), macs.Mac)


# ---- the namespace quota ------------------------------------------------------------------------


def quota_refused(exc: ApiException, namespace: str, held: int) -> bool:
    message = denial(exc)
    return (
        exc.status == 403
        and f'namespace "{namespace}" holds {held} MAC reservations' in message
        and f"limit of {NAMESPACE_QUOTA}" in message
        and PROFILE_FIELD in message
    )


def test_a_flood_beyond_the_namespace_quota_is_refused_while_another_tenant_still_gets_macs(
    macpool: MacPool, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    flooded = tenant_a.namespace
    for n in range(NAMESPACE_QUOTA // PER_VM):  # exactly fills the namespace
        create_vm(tenant_a.api, flooded, f"fill-{n}", nics(PER_VM))

    def flood(n: int) -> ApiException | None:
        try:
            create_vm(tenant_a.api, flooded, f"flood-{n}", nics(PER_VM))
        except ApiException as exc:
            return exc
        return None

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(flood, range(24)))
    assert all(a is not None and quota_refused(a, flooded, NAMESPACE_QUOTA) for a in answers), [
        (a.status, denial(a)) if a is not None else "admitted" for a in answers
    ]
    assert len(held_in(macpool, flooded)) == NAMESPACE_QUOTA

    neighbour = create_vm(tenant_b.api, tenant_b.namespace, "neighbour", nics(2))
    assert all(isinstance(macs.check(m), macs.Mac) for m in vm_macs(neighbour).values())

    # A deleted VM's MACs count until their quarantine ends; then the namespace has room again.
    macpool.custom.delete_namespaced_custom_object(*VM_API, flooded, "virtualmachines", "fill-0")

    def room_again() -> dict[str, Any] | None:
        try:
            return create_vm(tenant_a.api, flooded, "after", nics(PER_VM))
        except ApiException as exc:
            if quota_refused(exc, flooded, NAMESPACE_QUOTA):
                return None
            raise

    eventually(room_again, timeout=60, what="the quota freed by a deleted VM")


def test_creates_failing_after_admission_cost_at_most_the_quota_and_are_collected(
    macpool: MacPool, tenant_a: Tenant
) -> None:
    """A create under a taken name passes both webhooks and fails in storage (409): each leaves
    Pending reservations no check before storage can foresee. The quota bounds them; the GC
    collects them after the grace period."""
    namespace = tenant_a.namespace
    taken = create_vm(tenant_a.api, namespace, "taken", nics(PER_VM))
    outcomes: list[int] = []
    for _attempt in range(NAMESPACE_QUOTA // PER_VM + 1):
        exc = refusal(lambda: create_vm(tenant_a.api, namespace, "taken", nics(PER_VM)))
        outcomes.append(exc.status)
        if exc.status == 403:
            assert quota_refused(exc, namespace, NAMESPACE_QUOTA)
            break
        assert "already exists" in denial(exc)
    assert outcomes == [409] * (NAMESPACE_QUOTA // PER_VM - 1) + [403]

    carried = {macs.parse(m) for m in vm_macs(taken).values()}
    eventually(
        lambda: {r.mac for r in held_in(macpool, namespace)} == carried,
        timeout=60,
        what="orphans of the failed creates collected",
    )


# ---- garbage collection of a backlog ------------------------------------------------------------


def orphan_mac(n: int) -> macs.Mac:
    return macs.Mac.of([0x0E, 0xF1, 0x00, n >> 16 & 0xFF, n >> 8 & 0xFF, n & 0xFF])


def reservations_of(pool: MacPool, namespace: str, state: str = "") -> int:
    """How many reservations `namespace` holds (in `state`), filtered by the API server."""
    selector = f"{HOLDER_NAMESPACE_LABEL}={namespace}" + (f",{STATE_LABEL}={state}" if state else "")
    return len(
        pool.custom.list_cluster_custom_object(GROUP, VERSION, PLURAL, label_selector=selector)["items"]
    )


def test_a_backlog_of_thousands_of_orphans_is_collected_and_a_later_orphan_too(macpool: MacPool) -> None:
    """The figure (20,000 within the grace period plus a minute) is `make bench`'s."""
    namespace = f"orphans-{uuid.uuid4().hex[:6]}"

    def put(n: int) -> None:
        macpool.custom.create_cluster_custom_object(
            GROUP, VERSION, PLURAL, orphan(orphan_mac(n), namespace, n)
        )

    started = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, range(ORPHANS)))
    put(ORPHANS)  # one more, behind the backlog
    last = orphan_mac(ORPHANS)
    # Each release and each delete is one write: the GC cannot outpace the API server, so it is
    # given twice as long as writing the backlog took here (a loaded 2-core machine takes minutes).
    patience = 120 + 2 * (time.monotonic() - started)
    eventually(
        lambda: reservations_of(macpool, namespace, "Pending") == 0,
        timeout=patience,
        interval=1,
        what=f"{ORPHANS + 1} orphaned Pending reservations released",
    )
    eventually(
        lambda: reservations_of(macpool, namespace) == 0,
        timeout=patience,
        interval=1,
        what="their tombstones deleted after the quarantine",
    )
    assert macpool.reservation(str(last)) is None
