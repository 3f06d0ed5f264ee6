"""Spare reservations end to end (#17): two replicas, a real API server, tenants with `edit` only.

Each replica keeps spares made ahead of demand; a VM create gets one without any write on the
admission path (the reservation it ends up with is the very object that existed, as a Spare,
before the AdmissionReview), the spare is adopted on commit, and the pool is refilled only after
use. The namespace quota still holds exactly for a tenant: spares far from the limit, writes
before answering near it.

And a create the mutating call checked whole costs no validating call: the API server's condition
(`checked_macs`) is tested on its own below, and a tenant's own mark gains them nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.support.macpool import (
    GRACE_SECONDS,
    MacPool,
    await_fresh_audits,
    committed_to,
    put_profile,
    reserved_vm,
    running_macpool,
)
from tests.support.tenants import Tenant, edit_tenant, install_vm_roles
from tests.support.vms import VM_API, create_vm, denial, vm_macs
from tests.support.waiting import eventually
from vmo_operator.localenv.controlplane import ControlPlane
from vmo_operator.macpool import checked_macs, spares
from vmo_operator.macpool import mac as macs
from vmo_operator.macpool.admission_config import ROUTES_BY_PATH, VALIDATE_VM
from vmo_operator.macpool.limits import MAX_INTERFACES, PROFILE_FIELD
from vmo_operator.macpool.reservation import SPARE_OF_LABEL, Reservation
from vmo_operator.macpool.settings import NAMESPACE_OPT_OUT_LABEL, NAMESPACE_OPT_OUT_VALUE

pytestmark = pytest.mark.integration

# Far from it, spares; within MAX_INTERFACES of it, writes: with 8-NIC VMs, three get spares.
QUOTA = MAX_INTERFACES + 24
PER_VM = 8


@pytest.fixture(scope="module")
def macpool(
    control_plane: ControlPlane,
    api_client: Any,
    project_crds: list[str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[MacPool]:
    logs = tmp_path_factory.mktemp("spares-macpool")
    with running_macpool(
        control_plane, api_client, logs, mac_pool={"maxReservationsPerNamespace": QUOTA}
    ) as pool:
        yield pool


@pytest.fixture
def tenant(control_plane: ControlPlane, api_client: Any) -> Iterator[Tenant]:
    install_vm_roles(api_client)
    with edit_tenant(control_plane, api_client, "spares") as found:
        yield found


def spares_now(pool: MacPool) -> dict[str, Reservation]:
    """Every Spare reservation, by name."""
    return {name: r for name, r in pool.reservations().items() if r.state == "Spare"}


def full_pools(pool: MacPool, size: int = spares.TARGET) -> dict[str, Reservation] | None:
    """The spares once both replicas hold a full pool of `size`, else None."""
    found = spares_now(pool)
    per_replica: dict[str, int] = {}
    for reservation in found.values():
        per_replica[reservation.replica] = per_replica.get(reservation.replica, 0) + 1
    full = len(per_replica) == len(pool.replicas) and all(n == size for n in per_replica.values())
    return found if full else None


def uid_of(pool: MacPool, name: str) -> str:
    found = pool.custom.get_cluster_custom_object("vmo.dev", "v1alpha1", "macreservations", name)
    return str(found["metadata"]["uid"])


def test_a_create_gets_spares_that_existed_before_it_and_they_are_adopted_on_commit(
    macpool: MacPool, tenant: Tenant
) -> None:
    before = eventually(lambda: full_pools(macpool), timeout=60, what="a full spare pool on each replica")
    uids_before = {name: uid_of(macpool, name) for name in before}
    vm = create_vm(tenant.api, tenant.namespace, "from-spares", {"a": None, "b": None})
    names = [macs.parse(m).reservation_name for m in vm_macs(vm).values()]
    # Both MACs were reserved as spares before the AdmissionReview was sent: nothing was written
    # for them on the admission path.
    assert set(names) <= set(before), (names, sorted(before))
    uid = vm["metadata"]["uid"]
    for text in vm_macs(vm).values():
        eventually(partial(committed_to, macpool, text, uid), timeout=30, what=f"{text} adopted on commit")
    for name in names:
        assert uid_of(macpool, name) == uids_before[name]  # the same object, committed in place
        committed = macpool.reservations()[name]
        assert committed.replica == ""  # no longer any replica's spare
        assert committed.holder.namespace == tenant.namespace


def test_the_pool_is_refilled_only_after_use(macpool: MacPool, tenant: Tenant) -> None:
    eventually(lambda: full_pools(macpool), timeout=60, what="a full spare pool on each replica")
    idle = {name: r.resource_version for name, r in spares_now(macpool).items()}
    await_fresh_audits(macpool)  # two whole audit rounds, and many keeper ticks, with nothing to do
    assert {name: r.resource_version for name, r in spares_now(macpool).items()} == idle

    vm = create_vm(tenant.api, tenant.namespace, "uses-two", {"a": None, "b": None})
    used = {macs.parse(m).reservation_name for m in vm_macs(vm).values()}
    # Once both are committed to the VM: a handed-out spare stays a Spare until then, and would
    # count towards a full pool.
    for text in vm_macs(vm).values():
        eventually(
            partial(committed_to, macpool, text, vm["metadata"]["uid"]), timeout=30, what=f"{text} committed"
        )
    refilled = eventually(lambda: full_pools(macpool), timeout=60, what="the pool refilled")
    made = set(refilled) - set(idle)
    assert len(made) == len(used)  # exactly one new spare per spare used
    assert set(refilled) - made == set(idle) - used  # the unused ones untouched
    assert all(refilled[n].resource_version == idle[n] for n in set(idle) - used)


def quota_refused(exc: ApiException, namespace: str) -> bool:
    message = denial(exc)
    return (
        exc.status == 403 and f'namespace "{namespace}" holds {QUOTA}' in message and PROFILE_FIELD in message
    )


def test_an_edit_tenant_gets_spares_far_from_its_quota_and_is_held_exactly_to_it(
    macpool: MacPool, tenant: Tenant
) -> None:
    spare_names = set(eventually(lambda: full_pools(macpool), timeout=60, what="full spare pools"))
    nics = {f"nic{n}": None for n in range(PER_VM)}
    first = create_vm(tenant.api, tenant.namespace, "fill-0", nics)
    assert {macs.parse(m).reservation_name for m in vm_macs(first).values()} <= spare_names
    for n in range(1, QUOTA // PER_VM):
        create_vm(tenant.api, tenant.namespace, f"fill-{n}", nics)
    with pytest.raises(ApiException) as refused:
        create_vm(tenant.api, tenant.namespace, "one-too-many", nics)
    assert quota_refused(refused.value, tenant.namespace), denial(refused.value)

    def held() -> list[Reservation]:
        return [r for r in macpool.reservations().values() if r.holder.namespace == tenant.namespace]

    eventually(
        lambda: len(held()) == QUOTA and all(r.state == "Committed" for r in held()),
        timeout=60,
        what="exactly the quota, all committed",
    )
    assert not any(r.holder.namespace == tenant.namespace for r in spares_now(macpool).values())
    assert all(SPARE_OF_LABEL not in r.to_object()["metadata"]["labels"] for r in held())


# ---- the validating call a checked create does not cost ---------------------------------------

MARK = checked_macs.ANNOTATION
VALIDATE_VM_NAME = ROUTES_BY_PATH[VALIDATE_VM].name


def webhook_calls(api: Any, webhook: str, operation: str) -> float:
    """How many times the API server called `webhook` for `operation` (from its /metrics)."""
    method, url, headers, _, _ = api.param_serialize("GET", "/metrics", auth_settings=["BearerToken"])
    response = api.call_api(method, url, header_params=headers)
    response.read()
    prefix = "apiserver_admission_webhook_admission_duration_seconds_count{"
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in response.data.decode().splitlines()
        if line.startswith(prefix) and f'name="{webhook}"' in line and f'operation="{operation}"' in line
    )


def test_a_create_the_mutating_call_checked_is_not_validated_again_and_an_update_is(
    macpool: MacPool, tenant: Tenant
) -> None:
    creates, updates = (webhook_calls(macpool.api, VALIDATE_VM_NAME, op) for op in ("CREATE", "UPDATE"))
    vm = create_vm(tenant.api, tenant.namespace, "checked", {"a": None, "b": None})
    assigned = vm_macs(vm)
    assert vm["metadata"]["annotations"][MARK] == f"a={assigned['a']},b={assigned['b']}"
    assert webhook_calls(macpool.api, VALIDATE_VM_NAME, "CREATE") == creates

    client.CustomObjectsApi(tenant.api).patch_namespaced_custom_object(
        *VM_API, tenant.namespace, "virtualmachines", "checked", {"metadata": {"labels": {"touched": "yes"}}}
    )
    assert webhook_calls(macpool.api, VALIDATE_VM_NAME, "UPDATE") == updates + 1


def test_a_mark_the_tenant_writes_takes_no_mac_and_is_replaced(
    macpool: MacPool, tenant: Tenant, namespace: str
) -> None:
    victim, mac = reserved_vm(macpool, macpool.api, namespace, "victim")
    with pytest.raises(ApiException) as refused:
        create_vm(tenant.api, tenant.namespace, "thief", {"nic": mac}, annotations={MARK: f"nic={mac}"})
    assert refused.value.status == 409, denial(refused.value)
    assert committed_to(macpool, mac, victim["metadata"]["uid"])

    forged = "nic=02:00:00:00:00:02"
    own = create_vm(tenant.api, tenant.namespace, "own", {"nic": None}, annotations={MARK: forged})
    assert own["metadata"]["annotations"][MARK] == f"nic={vm_macs(own)['nic']}" != forged


def test_the_api_servers_condition_skips_only_a_create_whose_interfaces_spell_out_the_mark(
    macpool: MacPool, api_client: Any, namespace: str
) -> None:
    """The condition alone, on the real API server: a ValidatingAdmissionPolicy with the very same
    matchConditions denies exactly the requests the validating webhook would be called for, in a
    namespace our webhooks leave alone (so nothing rewrites the marks)."""
    core, custom = client.CoreV1Api(api_client), client.CustomObjectsApi(api_client)
    core.patch_namespace(
        namespace, {"metadata": {"labels": {NAMESPACE_OPT_OUT_LABEL: NAMESPACE_OPT_OUT_VALUE}}}
    )
    name = f"checked-macs-{namespace}"
    rules = [
        {
            "apiGroups": ["kubevirt.io"],
            "apiVersions": ["v1"],
            "operations": ["CREATE", "UPDATE"],
            "resources": ["virtualmachines"],
        }
    ]
    policies = client.AdmissionregistrationV1Api(api_client)
    policies.create_validating_admission_policy(
        client.V1ValidatingAdmissionPolicy.model_validate(
            {
                "metadata": {"name": name},
                "spec": {
                    "failurePolicy": "Fail",
                    "matchConstraints": {"resourceRules": rules},
                    "matchConditions": [dict(checked_macs.MATCH_CONDITION)],
                    "validations": [{"expression": "false", "message": "would call the validating webhook"}],
                },
            }
        )
    )
    policies.create_validating_admission_policy_binding(
        client.V1ValidatingAdmissionPolicyBinding.model_validate(
            {
                "metadata": {"name": name},
                "spec": {
                    "policyName": name,
                    "validationActions": ["Deny"],
                    "matchResources": {
                        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
                    },
                },
            }
        )
    )
    created: list[str] = []

    def called(interfaces: dict[str, str | None], mark: str | None) -> bool:
        name = f"vm-{len(created)}"  # a refused create leaves the name free
        try:
            create_vm(
                api_client, namespace, name, interfaces, annotations=None if mark is None else {MARK: mark}
            )
        except ApiException as exc:
            if "would call the validating webhook" not in denial(exc):
                raise
            return True
        created.append(name)
        return False

    try:
        eventually(lambda: called({"a": None}, None), timeout=30, what="the policy in force")
        one, two = "02:00:00:00:00:01", "02:00:00:00:00:02"
        assert not called({"a": one, "b": None}, f"a={one},b=")
        assert called({"a": one}, None)
        assert called({"a": one}, "")
        assert called({"a": one}, f"a={two}")
        assert called({"a": one, "b": two}, f"b={two},a={one}")  # another order
        assert called({"a": one, "b": two}, f"a={one}")  # an interface the mark does not name
        assert called({}, "x")
        assert called({}, "")
        with pytest.raises(ApiException) as update:
            custom.patch_namespaced_custom_object(
                *VM_API,
                namespace,
                "virtualmachines",
                created[-1],
                {"metadata": {"labels": {"touched": "yes"}}},
            )
        assert "would call the validating webhook" in denial(update.value)
    finally:
        policies.delete_validating_admission_policy_binding(name)
        policies.delete_validating_admission_policy(name)


def test_the_pools_follow_the_profiles_size_and_a_pool_of_none_still_allocates(
    macpool: MacPool, tenant: Tenant
) -> None:
    eventually(lambda: full_pools(macpool), timeout=60, what="a full spare pool on each replica")
    mac_pool = {"releaseGracePeriodSeconds": GRACE_SECONDS, "maxReservationsPerNamespace": QUOTA}
    try:
        put_profile(macpool.api, {"macPool": {**mac_pool, "sparesPerReplica": 3}})
        eventually(lambda: full_pools(macpool, 3), timeout=60, what="pools of 3: the surplus deleted")
        put_profile(macpool.api, {"macPool": {**mac_pool, "sparesPerReplica": 0}})
        eventually(lambda: not spares_now(macpool), timeout=60, what="no spares left")
        vm = create_vm(tenant.api, tenant.namespace, "without-spares", {"a": None})
        (text,) = vm_macs(vm).values()
        # Reserved while the request waited: the MAC's reservation names the VM's namespace already.
        reservation = macpool.reservations()[macs.parse(text).reservation_name]
        assert reservation.state in ("Pending", "Committed")
        assert reservation.holder.namespace == tenant.namespace
        await_fresh_audits(macpool)  # rounds of every replica, and many keeper ticks meanwhile
        assert not spares_now(macpool)  # nothing was made to replace it
    finally:
        put_profile(macpool.api, {"macPool": {**mac_pool, "sparesPerReplica": spares.TARGET}})
    eventually(lambda: full_pools(macpool), timeout=60, what="the default pools again")
