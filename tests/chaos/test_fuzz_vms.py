"""Hypothesis-generated VirtualMachine interface lists and MAC strings through the MAC webhook.

Each generated VM is really created through the API server. A small independent oracle says
whether it must be admitted (unique names; every MAC set by hand is six hex octets with one kind
of separator, unicast, not all-zero, not KubeVirt's own bridge MAC, not repeated in the VM and not
held by an earlier VM) and:

- an admitted VM has a valid MAC on every interface, the user's ones kept (in canonical form),
  the allocated ones from the pool's prefixes and this cluster's block, and no MAC in the cluster
  twice;
- a refused VM gets a 4xx whose message names an interface, and does not exist afterwards.

VMO_FUZZ_VMS sets the number of VMs (200 in `make test`); the examples follow VMO_CHAOS_SEED.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.chaos import strategies
from tests.chaos.budget import BUDGET, Budget
from tests.chaos.harness import (
    ChaosCluster,
    Workloads,
    ensure_namespace,
    install_base,
    mac_problems,
    settle,
    uncommitted_macs,
)
from tests.support.kube import cluster_uid, manifest, status_body
from tests.support.vms import VM_API, vm_macs
from vmo_operator.macpool import mac as macs

pytestmark = pytest.mark.integration

NAMESPACE = "fuzz-vms"
MAC_TEXT = re.compile(r"[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(?:\1[0-9A-Fa-f]{2}){4}")
KUBEVIRT_BRIDGE_MAC = 0x02_00_00_00_00_00


def user_mac(value: Any) -> int | str | None:
    """The oracle's reading of one macAddress: None (absent: allocate), its value, or "bad"."""
    if not value:
        return None  # absent, empty, 0, false, [] and {} all mean "give me one"
    text = str(value)
    if not MAC_TEXT.fullmatch(text):
        return "bad"
    number = int(re.sub(r"[:-]", "", text), 16)
    if number == 0 or number >> 40 & 1 or number == KUBEVIRT_BRIDGE_MAC:
        return "bad"  # all-zero, multicast (broadcast included), reserved
    return number


def must_admit(interfaces: list[dict[str, Any]], held: set[int]) -> bool:
    names = [i["name"] for i in interfaces]
    if len(set(names)) != len(names):
        return False
    wanted = [user_mac(i.get("macAddress")) for i in interfaces]
    if "bad" in wanted:
        return False
    chosen = [w for w in wanted if isinstance(w, int)]
    return len(set(chosen)) == len(chosen) and not set(chosen) & held


@st.composite
def interface_lists(draw: st.DrawFn, held: list[str]) -> list[dict[str, Any]]:
    interfaces = []
    for _ in range(draw(st.integers(0, 5))):
        iface: dict[str, Any] = {"name": draw(strategies.INTERFACE_NAME), "bridge": {}}
        how = draw(st.sampled_from(["allocate"] * 3 + ["valid"] * 3 + ["broken", "held", "falsy"]))
        if how == "valid":
            iface["macAddress"] = draw(strategies.VALID_MAC)
        elif how == "broken":
            iface["macAddress"] = draw(strategies.BROKEN_MAC)
        elif how == "held":
            # An index, not sampled_from(held): `held` grows between examples, and a strategy that
            # changes shape cannot be replayed or shrunk.
            index = draw(st.integers(0, 2**16))
            if held:
                iface["macAddress"] = held[index % len(held)]
        elif how == "falsy":
            iface["macAddress"] = draw(st.sampled_from(["", 0, False, None, [], {}]))
        interfaces.append(iface)
    return interfaces


def create(api: Any, name: str, interfaces: list[dict[str, Any]]) -> dict[str, Any]:
    body = {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachine",
        "metadata": {"name": name},
        "spec": {
            "runStrategy": "Halted",
            "template": {"spec": {"domain": {"devices": {"interfaces": interfaces}}}},
        },
    }
    result = manifest(
        client.CustomObjectsApi(api).create_namespaced_custom_object(
            *VM_API, NAMESPACE, "virtualmachines", body
        )
    )
    return result


@pytest.mark.timeout(180 + 2 * BUDGET.vms)
def test_generated_interfaces_get_valid_unique_macs_or_a_reason(
    based: ChaosCluster, workloads: Workloads, budget: Budget, say: Callable[[str], None]
) -> None:
    chaos = based
    install_base(chaos, workloads)
    ensure_namespace(chaos.api, NAMESPACE)
    cluster_block = macs.cluster_octets(cluster_uid(chaos.api))
    held: list[str] = []  # canonical MACs of admitted VMs
    outcomes: Counter[str] = Counter()
    serial = [0]

    @hypothesis_seed(budget.seed)
    @settings(max_examples=budget.vms, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        interfaces = data.draw(interface_lists(held))
        serial[0] += 1
        name = f"fuzz-{serial[0]:05d}"
        expected = must_admit(interfaces, {macs.parse(m).value for m in held})
        try:
            vm = create(chaos.api, name, interfaces)
        except ApiException as exc:
            status, message = exc.status, status_body(exc).get("message", "")
        else:
            assert expected, f"admitted although the oracle refuses it: {interfaces!r}"
            got = vm_macs(vm)
            assert len(got) == len(interfaces)
            for iface in interfaces:
                parsed = macs.check(got[iface["name"]])
                assert isinstance(parsed, macs.Mac), f"{iface!r} got {got[iface['name']]!r}"
                assert got[iface["name"]] == str(parsed), "MACs are stored lowercase and colon-separated"
                asked = user_mac(iface.get("macAddress"))
                if isinstance(asked, int):
                    assert parsed.value == asked, f"the user's MAC was not kept: {iface!r} -> {parsed}"
                else:
                    assert parsed.first_octet in macs.DEFAULT_PREFIXES
                    assert parsed.cluster_part == cluster_block
                assert str(parsed) not in held, f"{parsed} handed out twice"
                held.append(str(parsed))
            outcomes["admitted"] += 1
            return
        assert not expected, f"refused although the oracle admits it ({status}): {message} for {interfaces!r}"
        assert 400 <= status < 500, f"{status}: {message}"
        assert "interface" in message, f"the reason names no interface: {message!r}"
        with pytest.raises(ApiException) as missing:
            client.CustomObjectsApi(chaos.api).get_namespaced_custom_object(
                *VM_API, NAMESPACE, "virtualmachines", name
            )
        assert missing.value.status == 404
        outcomes[f"refused {status}"] += 1

    check()
    say(f"{sum(outcomes.values())} generated VMs: {dict(outcomes)}; {len(held)} MACs handed out or kept")
    assert sum(outcomes.values()) >= budget.vms
    assert outcomes["admitted"] > 0
    assert len(outcomes) > 1, "the strategy should produce refused VMs too"
    assert mac_problems(chaos.api) == []
    settle(lambda: uncommitted_macs(chaos.api), timeout=60, what="every admitted MAC committed to its VM")
