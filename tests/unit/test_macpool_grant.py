"""Admission grants: what they bind, and that nothing but the key holder can make one."""

from __future__ import annotations

import json
from typing import Any

import pytest

from vmo_operator.macpool import grant
from vmo_operator.macpool import mac as macs

KEY = grant.derive_key(b"-----BEGIN PRIVATE KEY-----\nshared\n-----END PRIVATE KEY-----\n")
OTHER_KEY = grant.derive_key(b"another CA key")
PAIRS = {"a": macs.parse("02:12:34:00:00:01"), "b": macs.parse("02:12:34:00:00:02")}
IDENTITY: dict[str, Any] = {"namespace": "ns1", "kind": "VirtualMachine", "uid": "", "claim": "c1"}
NOW = 1_800_000_000


def issued(**overrides: Any) -> str:
    fields = {**IDENTITY, "pairs": PAIRS, "now": NOW} | overrides
    return grant.issue(KEY, **fields)


def test_a_grant_verifies_for_exactly_what_it_was_issued_for() -> None:
    assert grant.verify([KEY], issued(), **IDENTITY, now=NOW + 1) == PAIRS


def test_the_key_is_derived_not_the_secret_itself() -> None:
    assert grant.derive_key(b"x") != b"x"
    assert grant.derive_key(b"x") == grant.derive_key(b"x")
    assert grant.derive_key(b"x") != grant.derive_key(b"y")


@pytest.mark.parametrize(
    ("field", "value"),
    [("namespace", "ns2"), ("kind", "VirtualMachineInstance"), ("uid", "uid-x"), ("claim", "c2")],
)
def test_a_grant_is_bound_to_the_holder(field: str, value: str) -> None:
    assert grant.verify([KEY], issued(), **(IDENTITY | {field: value}), now=NOW) == {}


def test_an_unknown_key_or_no_key_grants_nothing_and_rotation_keys_verify() -> None:
    assert grant.verify([OTHER_KEY], issued(), **IDENTITY, now=NOW) == {}
    assert grant.verify([], issued(), **IDENTITY, now=NOW) == {}
    assert grant.verify([OTHER_KEY, KEY], issued(), **IDENTITY, now=NOW) == PAIRS


def test_an_empty_claim_is_never_granted() -> None:
    value = issued(claim="")
    assert grant.verify([KEY], value, **(IDENTITY | {"claim": ""}), now=NOW) == {}


def test_a_grant_expires_and_tolerates_a_little_clock_skew() -> None:
    value = issued()
    assert grant.verify([KEY], value, **IDENTITY, now=NOW + grant.TTL_SECONDS) == PAIRS
    assert grant.verify([KEY], value, **IDENTITY, now=NOW + grant.TTL_SECONDS + 1) == {}
    assert grant.verify([KEY], value, **IDENTITY, now=NOW - grant.CLOCK_SKEW_SECONDS) == PAIRS
    assert grant.verify([KEY], value, **IDENTITY, now=NOW - grant.CLOCK_SKEW_SECONDS - 1) == {}


def tampered(value: str, change: dict[str, Any]) -> str:
    return json.dumps(json.loads(value) | change)


@pytest.mark.parametrize(
    "change",
    [
        {"m": {"a": "02:12:34:00:00:01", "b": "02:12:34:00:00:03"}},  # a MAC swapped
        {"m": {"a": "02:12:34:00:00:01"}},  # a pair dropped: still not a subset grant
        {"m": {"a": "02:12:34:00:00:01", "b": "02:12:34:00:00:02", "c": "02:12:34:00:00:09"}},
        {"m": {"b": "02:12:34:00:00:01", "a": "02:12:34:00:00:02"}},  # interfaces swapped
        {"t": NOW + 60},  # issued later than signed
        {"s": "A" * 43},
        {"v": 2},
    ],
)
def test_tampering_with_any_field_invalidates_the_grant(change: dict[str, Any]) -> None:
    assert grant.verify([KEY], tampered(issued(), change), **IDENTITY, now=NOW + 1) == {}


@pytest.mark.parametrize(
    "value",
    [None, "", "{", "[]", "null", '{"v":1}', '{"v":1,"t":"1","m":{},"s":""}', '{"v":1,"t":1,"m":[],"s":""}'],
)
def test_malformed_values_are_not_grants(value: object) -> None:
    assert grant.parse(value) is None
    assert grant.verify([KEY], value, **IDENTITY, now=NOW) == {}


def test_unnormalised_macs_in_a_grant_are_rejected() -> None:
    value = tampered(issued(), {"m": {"a": "02-12-34-00-00-01"}})
    assert grant.parse(value) is None


def test_still_valid_only_for_the_same_pairs_and_a_fresh_signature() -> None:
    value = issued()
    assert grant.still_valid([KEY], value, **IDENTITY, pairs=PAIRS, now=NOW + 1)
    assert not grant.still_valid([KEY], value, **IDENTITY, pairs={"a": PAIRS["a"]}, now=NOW + 1)
    assert not grant.still_valid([KEY], value, **IDENTITY, pairs=PAIRS, now=NOW + grant.TTL_SECONDS)
    # Signed by a key that no longer signs (it only verifies): re-issue with the signing key.
    assert not grant.still_valid([OTHER_KEY, KEY], value, **IDENTITY, pairs=PAIRS, now=NOW + 1)
