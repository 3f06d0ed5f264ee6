"""The MAC allocator end to end: two operator replicas serving the webhooks on one loopback port,
a real API server calling them, reservations arbitrated by the API server.

The VirtualMachine API is installed the way virt-operator would (hack/simulators). Each replica
is a real process; the restart test SIGKILLs one of them in the middle of a burst of creates.
"""

from __future__ import annotations

import base64
import json
import math
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.support.kube import metadata
from tests.support.macpool import (
    AUDIT_SECONDS,
    GRACE_SECONDS,
    PROFILE,
    PROFILE_NAME,
    RESYNC_SECONDS,
    MacPool,
    admissions,
    committed_to,
    put_profile,
    reserved_vm,
)
from tests.support.vms import (
    VM_API,
    create_vm,
    create_vmi,
    create_with_retry,
    delete_vm,
    denial,
    get_vm,
    vm_macs,
    vmi_body,
    vmi_macs,
    webhook_operator,
)
from tests.support.waiting import eventually
from tests.support.webhook_calls import admission_review, vm_in
from vmo_operator.macpool import mac as macs
from vmo_operator.macpool.admission_config import CONFIGURATION_NAME
from vmo_operator.macpool.grant import GRANT_ANNOTATION
from vmo_operator.macpool.reservation import CLAIM_ANNOTATION
from vmo_operator.macpool.settings import ALLOW_DUPLICATE_ANNOTATION, NAMESPACE_OPT_OUT_LABEL

pytestmark = pytest.mark.integration


# ---- behaviour ------------------------------------------------------------------------------


def test_three_interfaces_get_three_distinct_valid_prefixed_macs(macpool: MacPool, namespace: str) -> None:
    vm = create_vm(macpool.api, namespace, "three", {"a": None, "b": None, "c": None})
    assigned = vm_macs(vm)
    parsed = {name: macs.check(text) for name, text in assigned.items()}
    assert all(isinstance(m, macs.Mac) for m in parsed.values()), assigned
    values = [m for m in parsed.values() if isinstance(m, macs.Mac)]
    assert len(set(values)) == 3
    for text, mac in zip(assigned.values(), values, strict=True):
        assert text == str(mac)  # lowercase, colon-separated
        assert mac.first_octet in macs.DEFAULT_PREFIXES
        assert mac.cluster_part == macpool.cluster  # derived from the kube-system namespace UID
    assert vm["metadata"]["annotations"][CLAIM_ANNOTATION]
    uid = vm["metadata"]["uid"]
    # The reservations are the truth, and the persisted VM commits them.
    for text in assigned.values():
        eventually(partial(committed_to, macpool, text, uid), timeout=30, what=f"{text} committed")


def test_update_keeps_macs_and_a_hotplugged_nic_gets_one(macpool: MacPool, namespace: str) -> None:
    custom = macpool.custom
    before = vm_macs(create_vm(macpool.api, namespace, "hot", {"a": None, "b": None}))
    relabelled = custom.patch_namespaced_custom_object(
        *VM_API, namespace, "virtualmachines", "hot", {"metadata": {"labels": {"touched": "yes"}}}
    )
    assert vm_macs(relabelled) == before

    vm = get_vm(macpool.api, namespace, "hot")
    template = vm["spec"]["template"]["spec"]
    template["domain"]["devices"]["interfaces"].append({"name": "hotplugged", "bridge": {}})
    template["networks"].append({"name": "hotplugged", "multus": {"networkName": "default/br"}})
    updated = custom.replace_namespaced_custom_object(*VM_API, namespace, "virtualmachines", "hot", vm)
    after = vm_macs(updated)
    assert {k: after[k] for k in before} == before
    assert isinstance(macs.check(after["hotplugged"]), macs.Mac)
    assert after["hotplugged"] not in before.values()
    eventually(
        lambda: committed_to(macpool, after["hotplugged"], updated["metadata"]["uid"]),
        timeout=30,
        what="hot-plugged MAC committed",
    )


def test_an_apply_that_drops_the_mac_fields_keeps_the_macs(macpool: MacPool, namespace: str) -> None:
    before = vm_macs(create_vm(macpool.api, namespace, "dropped", {"a": None}))
    vm = get_vm(macpool.api, namespace, "dropped")
    for iface in vm["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"]:
        iface.pop("macAddress")
    updated = macpool.custom.replace_namespaced_custom_object(
        *VM_API, namespace, "virtualmachines", "dropped", vm
    )
    assert vm_macs(updated) == before


def test_user_set_valid_mac_is_kept(macpool: MacPool, namespace: str) -> None:
    wanted = f"52:54:00:{uuid.uuid4().hex[:2]}:{uuid.uuid4().hex[:2]}:{uuid.uuid4().hex[:2]}"
    vm = create_vm(macpool.api, namespace, "mine", {"nic": wanted.upper().replace(":", "-"), "auto": None})
    assert vm_macs(vm)["nic"] == wanted
    eventually(
        lambda: committed_to(macpool, wanted, vm["metadata"]["uid"]), timeout=30, what="user MAC committed"
    )


@pytest.mark.parametrize(
    ("mac", "reason"),
    [
        ("01:00:5e:00:00:01", "multicast"),
        ("02:00:00:00:zz", "six two-digit hex octets"),
        ("ff:ff:ff:ff:ff:ff", "broadcast"),
    ],
)
def test_invalid_macs_are_denied_with_clear_messages(
    macpool: MacPool, namespace: str, mac: str, reason: str
) -> None:
    with pytest.raises(ApiException) as denied:
        create_vm(macpool.api, namespace, "invalid", {"ok": None, "bad-nic": mac})
    message = denial(denied.value)
    assert '"bad-nic"' in message
    assert reason in message
    assert mac in message


def test_duplicate_of_another_vms_mac_is_denied_and_allowed_under_warn(
    macpool: MacPool, namespace: str, api_client: Any
) -> None:
    # Committed first: until then the owner's MAC may still be a spare of the replica that handed it
    # out, and the other replica can say only that it is in use (not by whom, even in this namespace).
    _, taken = reserved_vm(macpool, macpool.api, namespace, "owner")
    other_ns = f"{namespace}-b"
    client.CoreV1Api(api_client).create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=other_ns))
    )
    try:
        with pytest.raises(ApiException) as same_ns:
            create_vm(macpool.api, namespace, "copycat", {"nic": taken})
        assert 'VirtualMachine "owner" in this namespace' in denial(same_ns.value)

        with pytest.raises(ApiException) as elsewhere:
            create_vm(macpool.api, other_ns, "copycat", {"nic": taken})
        assert "in use elsewhere in the cluster" in denial(elsewhere.value)
        assert "owner" not in denial(elsewhere.value)
        assert namespace not in denial(elsewhere.value)

        # An explicit opt-out on the VM admits it without a profile change.
        allowed = create_vm(
            macpool.api,
            other_ns,
            "imported",
            {"nic": taken},
            annotations={ALLOW_DUPLICATE_ANNOTATION: "true"},
        )
        assert vm_macs(allowed)["nic"] == taken

        put_profile(
            api_client, {"macPool": {"releaseGracePeriodSeconds": GRACE_SECONDS, "duplicatePolicy": "Warn"}}
        )

        def admitted_under_warn() -> dict[str, Any] | None:
            try:
                return create_vm(macpool.api, other_ns, "restored", {"nic": taken})
            except ApiException as exc:
                if exc.status == 409 and "elsewhere" in denial(exc):
                    return None  # the replicas have not seen the new policy yet
                raise

        restored = eventually(admitted_under_warn, timeout=30, what="duplicate admitted under Warn")
        assert vm_macs(restored)["nic"] == taken
        # The owner keeps its reservation; the duplicates are visible to the audit.
        assert macpool.stored(taken).holder.name == "owner"

        def collision_reported() -> bool:
            events = client.CoreV1Api(api_client).list_namespaced_event(other_ns).items
            return any(e.reason == "MACCollision" and e.involved_object.name == "restored" for e in events)

        eventually(collision_reported, timeout=30, what="MACCollision event on the duplicate")

        def collisions_in_status() -> bool:
            # The GC lease holder writes the status from its last audit: wait for one that saw it.
            profile = macpool.custom.get_cluster_custom_object(*PROFILE, PROFILE_NAME)
            return bool(profile["status"]["macPool"]["collisions"] >= 1)

        eventually(collisions_in_status, timeout=30, what="collisions counted in status.macPool")
    finally:
        put_profile(
            api_client, {"macPool": {"releaseGracePeriodSeconds": GRACE_SECONDS, "duplicatePolicy": "Deny"}}
        )
        client.CoreV1Api(api_client).delete_namespace(other_ns)


def test_a_copied_claim_and_grant_do_not_carry_another_vms_macs(macpool: MacPool, namespace: str) -> None:
    """Users can read the grant on their VM; copying it (and the claim) onto another VM gains nothing."""
    owner = create_vm(macpool.api, namespace, "granted", {"a": None, "b": None})
    annotations = owner["metadata"]["annotations"]
    granted = json.loads(annotations[GRANT_ANNOTATION])["m"]
    assert granted == vm_macs(owner)  # the mutating webhook granted exactly what it reserved
    copied = {key: annotations[key] for key in (CLAIM_ANNOTATION, GRANT_ANNOTATION)}
    # A thief copies from a VM that exists, by then committed to it: that is when the refusal can
    # name the VM (a spare not yet committed is "in use elsewhere", and refused all the same).
    for mac in granted.values():
        eventually(
            partial(committed_to, macpool, mac, owner["metadata"]["uid"]), timeout=30, what="committed"
        )

    with pytest.raises(ApiException) as refused:
        create_vm(macpool.api, namespace, "thief", vm_macs(owner), annotations=copied)
    assert refused.value.status == 409
    assert 'VirtualMachine "granted" in this namespace' in denial(refused.value)

    # With the copies but its own interfaces, a VM gets fresh MACs and a grant of its own.
    other = create_vm(macpool.api, namespace, "copier", {"c": None}, annotations=copied)
    assert vm_macs(other)["c"] not in vm_macs(owner).values()
    assert json.loads(other["metadata"]["annotations"][GRANT_ANNOTATION])["m"] == vm_macs(other)
    for mac in vm_macs(owner).values():
        assert macpool.stored(mac).holder.name == "granted"


def test_deleted_vms_macs_are_released_then_freed(macpool: MacPool, namespace: str) -> None:
    vm = create_vm(macpool.api, namespace, "doomed", {"a": None, "b": None})
    assigned = list(vm_macs(vm).values())
    for text in assigned:
        eventually(partial(committed_to, macpool, text, vm["metadata"]["uid"]), timeout=30, what="committed")
    delete_vm(macpool.api, namespace, "doomed")

    def all_released() -> bool:
        found = [macpool.reservation(t) for t in assigned]
        return all(r is None or r.state == "Released" for r in found)

    eventually(all_released, timeout=30, what="reservations released")
    eventually(
        lambda: all(macpool.reservation(t) is None for t in assigned),
        timeout=30,
        what="tombstones removed after the grace period",
    )


def test_dry_run_create_reserves_nothing(macpool: MacPool, namespace: str) -> None:
    preview = create_vm(
        macpool.api, namespace, "preview", {"a": None, "b": "02:12:34:ab:cd:ef"}, dry_run=True
    )
    shown = vm_macs(preview)
    assert isinstance(macs.check(shown["a"]), macs.Mac)
    assert macpool.reservation(shown["a"]) is None
    assert macpool.reservation(shown["b"]) is None
    with pytest.raises(ApiException) as missing:
        get_vm(macpool.api, namespace, "preview")
    assert missing.value.status == 404


def test_opted_out_namespace_is_left_alone_and_its_duplicates_are_audited(
    macpool: MacPool, api_client: Any
) -> None:
    core = client.CoreV1Api(api_client)
    name = f"optout-{uuid.uuid4().hex[:6]}"
    core.create_namespace(
        client.V1Namespace(
            metadata=client.V1ObjectMeta(name=name, labels={NAMESPACE_OPT_OUT_LABEL: "disabled"})
        )
    )
    try:
        untouched = create_vm(macpool.api, name, "bare", {"nic": None})
        assert vm_macs(untouched)["nic"] == ""
        mac = "02:aa:bb:cc:dd:01"
        first = create_vm(macpool.api, name, "twin-a", {"nic": mac})
        create_vm(macpool.api, name, "twin-b", {"nic": mac})

        def twin_events() -> set[str | None]:
            events = core.list_namespaced_event(name).items
            return {e.involved_object.name for e in events if e.reason == "MACCollision"}

        assert eventually(lambda: twin_events() >= {"twin-a", "twin-b"}, timeout=30, what="collision events")
        # The audit adopted the MAC for the oldest carrier, so nobody else can be given it.
        eventually(lambda: committed_to(macpool, mac, first["metadata"]["uid"]), timeout=30, what="adopted")
    finally:
        core.delete_namespace(name)


def test_bare_vmi_gets_macs_but_a_vms_own_vmi_is_left_to_its_template(
    macpool: MacPool, namespace: str
) -> None:
    bare = create_vmi(macpool.api, namespace, vmi_body("bare", {"nic": None}))
    mac = vmi_macs(bare)["nic"]
    assert isinstance(macs.check(mac), macs.Mac)
    eventually(
        lambda: committed_to(macpool, mac, bare["metadata"]["uid"]), timeout=30, what="bare VMI MAC committed"
    )

    owner = create_vm(macpool.api, namespace, "owner", {"nic": None})
    # What virt-controller would create: the VM's name, UID and MACs.
    started = create_vmi(
        macpool.api,
        namespace,
        vmi_body("owner", vm_macs(owner), owner=(owner["metadata"]["name"], owner["metadata"]["uid"])),
    )
    assert vmi_macs(started) == vm_macs(owner)
    # The VM holds the MAC; its own VMI is not a second holder or a collision.
    eventually(
        lambda: committed_to(macpool, vm_macs(owner)["nic"], owner["metadata"]["uid"]),
        timeout=30,
        what="VM holds its MAC",
    )


def test_webhook_configurations_are_written_once_not_on_every_tick(macpool: MacPool) -> None:
    """Both replicas converge on identical configurations, so neither rewrites them (which would
    churn the API server's webhook informers on every maintenance tick)."""
    api = client.AdmissionregistrationV1Api(macpool.api)
    mutating = api.read_mutating_webhook_configuration(CONFIGURATION_NAME)
    validating = api.read_validating_webhook_configuration(CONFIGURATION_NAME)
    assert metadata(mutating).generation == 1
    assert metadata(validating).generation == 1
    webhooks = (mutating.webhooks or []) + (validating.webhooks or [])
    assert [w.failure_policy for w in webhooks] == ["Fail"] * 4


# ---- concurrency and failure ----------------------------------------------------------------


def _assert_unique(vms: list[dict[str, Any]], per_vm: int) -> list[str]:
    assigned = [mac for vm in vms for mac in vm_macs(vm).values()]
    assert len(assigned) == len(vms) * per_vm
    assert all(isinstance(macs.check(m), macs.Mac) for m in assigned)
    assert len(set(assigned)) == len(assigned), "duplicate MACs handed out"
    return assigned


def test_200_concurrent_creates_against_two_replicas_get_unique_macs(
    macpool: MacPool, namespace: str
) -> None:
    assert all(r.alive() for r in macpool.replicas)
    with ThreadPoolExecutor(max_workers=24) as pool:
        vms = list(
            pool.map(
                lambda n: create_with_retry(macpool.api, namespace, f"vm-{n:03d}", {"a": None, "b": None}),
                range(200),
            )
        )
    _assert_unique(vms, 2)
    eventually(lambda: _all_committed(macpool, vms), timeout=60, what="every MAC committed to its VM")


def _all_committed(pool: MacPool, vms: list[dict[str, Any]]) -> bool:
    reservations = pool.reservations()
    for vm in vms:
        for mac in vm_macs(vm).values():
            found = reservations.get(macs.parse(mac).reservation_name)
            if found is None or found.state != "Committed" or found.holder.uid != vm["metadata"]["uid"]:
                return False
    return True


def test_racing_replicas_never_hand_out_the_same_mac(macpool: MacPool, namespace: str) -> None:
    """Many direct connections to the shared port spread over both replicas' allocators at once."""
    results: list[str] = []
    lock = threading.Lock()
    caller = macpool.as_api_server()

    def review(n: int) -> None:
        request = admission_review("CREATE", vm_in(namespace, f"race-{n}", {"a": None, "b": None}))
        status, body = caller.post("macpool-mutate-vm", request)
        answer = body["response"]
        assert status == 200
        assert answer["allowed"], answer
        ops = json.loads(base64.b64decode(answer["patch"]))
        found = [op["value"] for op in ops if op["path"].endswith("/macAddress")]
        assert len(found) == 2, ops
        # Reserved in the API server before the answer left the replica.
        for mac in found:
            assert macpool.reservation(mac) is not None, mac
        with lock:
            results.extend(found)

    served_before = [admissions(r, "mutate-vm") for r in macpool.replicas]
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(review, range(100)))
    assert len(results) == 200
    assert len(set(results)) == 200
    served = [
        admissions(r, "mutate-vm") - before for r, before in zip(macpool.replicas, served_before, strict=True)
    ]
    if not any(map(math.isnan, served)):
        assert all(n > 0 for n in served), f"one replica took all the traffic: {served}"
    # None of these objects was ever persisted: after the grace period the reservations go away.
    eventually(
        lambda: not any(macs.parse(m).reservation_name in macpool.reservations() for m in results),
        timeout=60,
        what="never-persisted reservations reclaimed",
    )


def test_killing_a_replica_mid_burst_duplicates_nothing_and_leaks_nothing(
    macpool: MacPool, namespace: str, tmp_path: Path
) -> None:
    victim = macpool.replicas[0]
    created: list[dict[str, Any]] = []
    lock = threading.Lock()

    def make(n: int) -> None:
        vm = create_with_retry(macpool.api, namespace, f"burst-{n:03d}", {"a": None, "b": None})
        with lock:
            created.append(vm)
            if len(created) == 30 and victim.alive():
                victim.kill()

    with ThreadPoolExecutor(max_workers=12) as pool:
        list(pool.map(make, range(100)))
    assert not victim.alive()
    _assert_unique(created, 2)

    # Bring a replacement up on the same port, as a Deployment would.
    replacement = webhook_operator(
        victim.kubeconfig,
        tmp_path / "replacement.log",
        port=macpool.port,
        resync_seconds=RESYNC_SECONDS,
        audit_seconds=AUDIT_SECONDS,
        client_ca=macpool.client_ca,
    ).start()
    macpool.extra.append(replacement)

    def settled() -> bool:
        """Every reservation of this namespace is held by a VM that carries it: nothing leaked."""
        vms = macpool.custom.list_namespaced_custom_object(*VM_API, namespace, "virtualmachines")["items"]
        carried = {macs.parse(m) for vm in vms for m in vm_macs(vm).values()}
        mine = [r for r in macpool.reservations().values() if r.holder.namespace == namespace and r.held]
        return {r.mac for r in mine} == carried and all(r.state == "Committed" for r in mine)

    eventually(settled, timeout=60, what="reservations equal to the MACs the VMs carry")
    assert _all_committed(macpool, created)
