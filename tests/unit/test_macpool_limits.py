"""What one request may cost: KubeVirt's interface limit and the name check, both before any write."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.macpool_fakes import MemoryReservationStore
from tests.unit.macpool_objects import context, vm
from vmo_operator.macpool.limits import MAX_INTERFACES, name_problem, precheck
from vmo_operator.macpool.webhook import AdmissionRequest, Allowed, Denied, mutate, validate

VM = "VirtualMachine"


def nics(count: int) -> dict[str, str | None]:
    return {f"nic{n}": None for n in range(count)}


def test_kubevirts_limit_is_256_interfaces() -> None:
    assert MAX_INTERFACES == 256
    assert precheck("CREATE", 256, 0, vm()) is None
    problem = precheck("CREATE", 257, 0, vm())
    assert problem is not None
    assert "257 interfaces" in problem
    assert "at most 256" in problem


def test_an_update_may_keep_but_not_grow_an_oversized_interface_list() -> None:
    """A VM from before the limit (created while the webhook was absent) can still shed finalizers."""
    assert precheck("UPDATE", 300, 300, vm()) is None
    assert precheck("UPDATE", 299, 300, vm()) is None
    assert precheck("UPDATE", 257, 256, vm()) is not None


@pytest.mark.parametrize(
    "name",
    ["Upper", "under_score", "-leading", "trailing-", "a" * 254, "dot..dot", "sp ace"],
)
def test_names_the_api_server_refuses_are_refused(name: str) -> None:
    assert name_problem(name) is not None
    problem = precheck("CREATE", 1, 0, vm(name=name))
    assert problem is not None
    assert problem.startswith("metadata.name")


@pytest.mark.parametrize("name", ["vm", "vm-1", "a.b-c.d", "0", "a" * 253])
def test_valid_names_pass(name: str) -> None:
    assert name_problem(name) is None
    assert precheck("CREATE", 1, 0, vm(name=name)) is None


def test_generate_name_is_checked_as_the_api_server_completes_it() -> None:
    body = vm(name="")
    body["metadata"]["generateName"] = "web-"
    assert precheck("CREATE", 1, 0, body) is None
    body["metadata"]["generateName"] = "Web_"
    assert precheck("CREATE", 1, 0, body) is not None
    body["metadata"]["generateName"] = "w" * 300  # the API server keeps 58 characters of it
    assert precheck("CREATE", 1, 0, body) is None


def test_a_create_without_name_or_generate_name_is_refused() -> None:
    body = vm(name="")
    del body["metadata"]["generateName"]
    assert precheck("CREATE", 1, 0, body) == "metadata.name or metadata.generateName is required"


def test_names_are_not_checked_on_update() -> None:
    assert precheck("UPDATE", 1, 1, vm(name="Legacy_Name")) is None


# ---- through admission: refused before anything is reserved -------------------------------------


def request(obj: dict[str, Any], op: str = "CREATE") -> AdmissionRequest:
    return AdmissionRequest(op, VM, obj, obj if op == "UPDATE" else None)


@pytest.mark.parametrize("decide", [mutate, validate], ids=["mutate", "validate"])
def test_too_many_interfaces_are_refused_without_a_single_api_call(decide: Any) -> None:
    store = MemoryReservationStore()
    decision = decide(request(vm(macs_by_iface=nics(MAX_INTERFACES + 1))), context(store))
    assert isinstance(decision, Denied)
    assert decision.code == 422
    assert f"{MAX_INTERFACES + 1} interfaces" in decision.message
    assert sum(store.calls.values()) == 0


def test_an_invalid_name_is_refused_without_a_single_api_call() -> None:
    store = MemoryReservationStore()
    obj = vm(name="Not_A_Valid_Name", macs_by_iface=nics(3) | {"own": "02:aa:00:00:00:01"})
    decision = mutate(request(obj), context(store))
    assert isinstance(decision, Denied)
    assert 'metadata.name "Not_A_Valid_Name" is invalid' in decision.message
    assert sum(store.calls.values()) == 0


def test_the_limit_itself_is_allowed_and_reserved() -> None:
    store = MemoryReservationStore()
    decision = mutate(request(vm(macs_by_iface=nics(MAX_INTERFACES))), context(store))
    assert isinstance(decision, Allowed)
    assert len(store.list()) == MAX_INTERFACES
