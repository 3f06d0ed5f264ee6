"""`allow-duplicate` counts only for a requester the authorizer lets use duplicate MACs."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.macpool_fakes import MemoryReservationStore
from tests.unit.macpool_objects import VM, context, holder_of, vm
from vmo_operator.macpool import duplicates
from vmo_operator.macpool import mac as macs
from vmo_operator.macpool.duplicates import AnswerCache, Requester
from vmo_operator.macpool.settings import ALLOW_DUPLICATE_ANNOTATION
from vmo_operator.macpool.webhook import AdmissionRequest, Allowed, Denied, mutate, validate

TAKEN = "02:aa:00:00:00:01"
ALICE = Requester("alice@tenants.test", "uid-alice", ("system:authenticated",))
MALLORY = Requester("mallory@tenants.test", "uid-mallory", ("system:authenticated",))


class Authorizer:
    """Records every question and answers from a fixed set of (user, namespace) grants."""

    def __init__(self, *granted: tuple[str, str]) -> None:
        self.granted = set(granted)
        self.asked: list[tuple[Requester, str]] = []

    def __call__(self, requester: Requester, namespace: str) -> bool:
        self.asked.append((requester, namespace))
        return (requester.username, namespace) in self.granted


def annotated(name: str = "dup", ns: str = "tenant-b") -> dict[str, Any]:
    return vm(name, ns=ns, macs_by_iface={"nic": TAKEN}, annotations={ALLOW_DUPLICATE_ANNOTATION: "true"})


def request(obj: dict[str, Any], requester: Requester = MALLORY) -> AdmissionRequest:
    return AdmissionRequest("CREATE", VM, obj, requester=requester)


@pytest.fixture
def store() -> MemoryReservationStore:
    found = MemoryReservationStore()
    holder_of(found, "victim", "tenant-a", TAKEN)
    return found


# ---- admission ------------------------------------------------------------------------------


def test_the_annotation_alone_does_not_admit_a_taken_mac_and_says_what_to_ask_for(
    store: MemoryReservationStore,
) -> None:
    authorizer = Authorizer()
    decision = mutate(request(annotated()), context(store, may_use_duplicates=authorizer))
    assert isinstance(decision, Denied)
    assert decision.code == 409
    for named in (ALLOW_DUPLICATE_ANNOTATION, duplicates.VERB, duplicates.RESOURCE, duplicates.GROUP):
        assert named in decision.message
    assert duplicates.CLUSTER_ROLE in decision.message
    assert "victim" not in decision.message
    assert "tenant-a" not in decision.message
    assert authorizer.asked == [(MALLORY, "tenant-b")]
    assert store.stored(macs.parse(TAKEN)).holder.name == "victim"


def test_a_permitted_requester_gets_the_duplicate_admitted_with_a_warning_and_no_reservation(
    store: MemoryReservationStore,
) -> None:
    authorizer = Authorizer(("alice@tenants.test", "tenant-b"))
    ctx = context(store, may_use_duplicates=authorizer)
    decision = mutate(request(annotated(), ALICE), ctx)
    assert isinstance(decision, Allowed)
    assert any("duplicates are allowed" in warning for warning in decision.warnings)
    assert store.stored(macs.parse(TAKEN)).holder.name == "victim"
    assert isinstance(validate(request(annotated(), ALICE), ctx), Allowed)


def test_permission_in_another_namespace_does_not_count(store: MemoryReservationStore) -> None:
    authorizer = Authorizer(("mallory@tenants.test", "tenant-a"))
    decision = mutate(request(annotated(ns="tenant-b")), context(store, may_use_duplicates=authorizer))
    assert isinstance(decision, Denied)
    assert authorizer.asked == [(MALLORY, "tenant-b")]


def test_the_validating_webhook_applies_the_same_rule(store: MemoryReservationStore) -> None:
    decision = validate(request(annotated()), context(store, may_use_duplicates=Authorizer()))
    assert isinstance(decision, Denied)
    assert duplicates.VERB in decision.message


def test_the_authorizer_is_not_asked_when_no_mac_is_taken_or_the_policy_is_warn(
    store: MemoryReservationStore,
) -> None:
    authorizer = Authorizer()
    free = vm(
        "free", ns="tenant-b", macs_by_iface={"nic": None}, annotations={ALLOW_DUPLICATE_ANNOTATION: "true"}
    )
    assert isinstance(mutate(request(free), context(store, may_use_duplicates=authorizer)), Allowed)
    warn = context(store, may_use_duplicates=authorizer, duplicate_policy="Warn")
    assert isinstance(
        mutate(request(vm("plain", ns="tenant-b", macs_by_iface={"nic": TAKEN})), warn), Allowed
    )
    assert authorizer.asked == []


def test_without_the_annotation_a_permitted_requester_is_still_denied(store: MemoryReservationStore) -> None:
    authorizer = Authorizer(("alice@tenants.test", "tenant-b"))
    plain = vm("plain", ns="tenant-b", macs_by_iface={"nic": TAKEN})
    decision = mutate(request(plain, ALICE), context(store, may_use_duplicates=authorizer))
    assert isinstance(decision, Denied)
    assert duplicates.VERB not in decision.message
    assert authorizer.asked == []


def test_an_authorizer_failure_undoes_the_requests_reservations_and_propagates(
    store: MemoryReservationStore,
) -> None:
    def unreachable(_requester: Requester, _namespace: str) -> bool:
        raise ConnectionError("API server unreachable")

    obj = annotated()
    obj["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"].append({"name": "own"})
    with pytest.raises(ConnectionError):
        mutate(request(obj), context(store, may_use_duplicates=unreachable))
    assert [str(r.mac) for r in store.list()] == [TAKEN]


# ---- the review and its cache ---------------------------------------------------------------


def test_the_requester_is_read_whole_from_user_info() -> None:
    requester = Requester.of(
        {"username": "bob", "uid": "u1", "groups": ["g2", "g1"], "extra": {"scopes": ["a", "b"], "z": []}}
    )
    assert requester == Requester("bob", "u1", ("g2", "g1"), (("scopes", ("a", "b")), ("z", ())))
    assert Requester.of(None) == Requester("")


def test_the_access_review_asks_for_the_dedicated_verb_as_the_requester() -> None:
    requester = Requester("bob", "u1", ("team",), (("scopes", ("a",)),))
    review = duplicates.access_review(requester, "tenant-b")
    assert review["kind"] == "SubjectAccessReview"
    assert review["spec"] == {
        "user": "bob",
        "uid": "u1",
        "groups": ["team"],
        "extra": {"scopes": ["a"]},
        "resourceAttributes": {
            "namespace": "tenant-b",
            "verb": "use-duplicate-macs",
            "group": "macpool.vmo.dev",
            "resource": "macreservations",
        },
    }


@pytest.mark.parametrize(
    ("answer", "allowed"),
    [
        ({"status": {"allowed": True}}, True),
        ({"status": {"allowed": False}}, False),
        ({"status": {"allowed": True, "denied": True}}, False),
        ({"status": {}}, False),
        (None, False),
    ],
)
def test_only_an_explicit_allow_counts(answer: dict[str, Any] | None, allowed: bool) -> None:
    assert duplicates.review_allows(answer) is allowed


def test_answers_are_cached_per_requester_and_namespace_never_across_users() -> None:
    now = [0.0]
    authorizer = Authorizer(("alice@tenants.test", "tenant-b"))
    ask = duplicates.cached(authorizer, AnswerCache(lambda: now[0], seconds=5))
    assert ask(ALICE, "tenant-b") is True
    assert ask(ALICE, "tenant-b") is True
    assert ask(MALLORY, "tenant-b") is False  # another user: asked, never served Alice's answer
    same_name_other_groups = Requester(ALICE.username, ALICE.uid, ("system:masters",))
    ask(same_name_other_groups, "tenant-b")
    assert ask(ALICE, "tenant-c") is False
    assert authorizer.asked == [
        (ALICE, "tenant-b"),
        (MALLORY, "tenant-b"),
        (same_name_other_groups, "tenant-b"),
        (ALICE, "tenant-c"),
    ]
    now[0] = 5.0  # expired: a revoked grant stops counting within the cache time
    authorizer.granted.clear()
    assert ask(ALICE, "tenant-b") is False
