"""MAC parsing, formatting and the pool's prefix rules, including Hypothesis properties."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vmo_operator.macpool import mac as macs
from vmo_operator.macpool.mac import Invalid, Mac, PoolLayout

octet = st.integers(min_value=0, max_value=0xFF)
six_octets = st.lists(octet, min_size=6, max_size=6)
separator = st.sampled_from([":", "-"])


def render(octets: list[int], sep: str, upper: list[bool]) -> str:
    parts = [f"{o:02x}" for o in octets]
    return sep.join(p.upper() if up else p for p, up in zip(parts, upper, strict=True))


# ---- parsing and formatting -----------------------------------------------------------------


@given(six_octets, separator, st.lists(st.booleans(), min_size=6, max_size=6))
def test_any_case_and_separator_parse_to_the_same_value_and_canonical_text(
    octets: list[int], sep: str, upper: list[bool]
) -> None:
    text = render(octets, sep, upper)
    result = macs.check(text)
    value = int.from_bytes(bytes(octets), "big")
    if isinstance(result, Invalid):
        # Only the three semantic rejections are allowed for well-formed text.
        assert value == 0 or value == macs.MAX_VALUE or octets[0] & 1
        return
    assert result.value == value
    assert str(result) == ":".join(f"{o:02x}" for o in octets)


@given(st.integers(min_value=0, max_value=macs.MAX_VALUE))
def test_canonical_text_round_trips_for_every_unicast_mac(value: int) -> None:
    mac = Mac(value)
    text = str(mac)
    assert text == text.lower()
    assert len(text) == 17
    assert text.count(":") == 5
    parsed = macs.check(text)
    if mac.is_multicast or value == 0:
        assert isinstance(parsed, Invalid)
    else:
        assert parsed == mac


@given(st.integers(min_value=0, max_value=macs.MAX_VALUE))
def test_reservation_name_round_trips(value: int) -> None:
    mac = Mac(value)
    assert mac.reservation_name.startswith("mac-")
    assert macs.from_reservation_name(mac.reservation_name) == mac


@given(st.text(max_size=30))
def test_arbitrary_text_is_either_a_valid_unicast_mac_or_has_a_reason(text: str) -> None:
    result = macs.check(text)
    if isinstance(result, Invalid):
        assert result.reason
        assert result.text == text
    else:
        assert not result.is_multicast
        assert result.value not in (0, macs.MAX_VALUE)
        assert str(macs.check(str(result))) == str(result)


@pytest.mark.parametrize(
    ("text", "reason_part"),
    [
        ("02:00:00:00:00", "six two-digit hex octets"),
        ("02:00:00:00:00:00:00", "six two-digit hex octets"),
        ("02:00-00:00:00:01", "six two-digit hex octets"),  # mixed separators
        ("020000000001", "six two-digit hex octets"),
        ("2:0:0:0:0:1", "six two-digit hex octets"),
        ("gg:00:00:00:00:01", "six two-digit hex octets"),
        (" 02:00:00:00:00:01", "six two-digit hex octets"),
        ("02:00:00:00:00:01\n", "six two-digit hex octets"),  # "$" alone would let a newline through
        ("", "six two-digit hex octets"),
        ("01:00:5e:00:00:01", "multicast"),
        ("03:aa:bb:cc:dd:ee", "multicast"),
        ("ff:ff:ff:ff:ff:ff", "broadcast"),
        ("FF-FF-FF-FF-FF-FF", "broadcast"),
        ("00:00:00:00:00:00", "all-zero"),
    ],
)
def test_invalid_macs_are_rejected_with_a_reason(text: str, reason_part: str) -> None:
    result = macs.check(text)
    assert isinstance(result, Invalid)
    assert reason_part in result.reason


def test_dash_uppercase_mac_normalises_to_lowercase_colon_form() -> None:
    assert str(macs.parse("0A-1B-2C-3D-4E-5F")) == "0a:1b:2c:3d:4e:5f"


def test_parse_raises_for_untrusted_garbage() -> None:
    with pytest.raises(ValueError, match="multicast"):
        macs.parse("01:00:00:00:00:01")


def test_reservation_name_rejects_other_names() -> None:
    assert macs.from_reservation_name("mac-XYZ") is None
    assert macs.from_reservation_name("mac-020a1b2c3d4e5") is None
    assert macs.from_reservation_name("mac-020a1b2c3d4e") == macs.parse("02:0a:1b:2c:3d:4e")


# ---- prefixes -------------------------------------------------------------------------------


@given(octet)
def test_allowed_prefixes_are_exactly_the_locally_administered_unicast_octets_below_0x10(value: int) -> None:
    allowed = macs.prefix_problem(value) is None
    assert allowed == (value in {0x02, 0x06, 0x0A, 0x0E})
    assert allowed == (value < 0x10 and value & 0b11 == 0b10)


@pytest.mark.parametrize(("text", "value"), [("02", 2), ("0A", 10), ("0a", 10), ("0x0e", 14), ("6", 6)])
def test_parse_prefix_reads_hex(text: str, value: int) -> None:
    assert macs.parse_prefix(text) == value


@pytest.mark.parametrize(
    ("text", "reason"),
    [("12", "outside"), ("03", "multicast"), ("04", "locally"), ("zz", "hex"), ("100", "hex")],
)
def test_parse_prefix_rejects_with_reason(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        macs.parse_prefix(text)


def test_default_prefixes_are_all_valid() -> None:
    assert [macs.format_prefix(p) for p in macs.DEFAULT_PREFIXES] == ["02", "06", "0A", "0E"]
    assert all(macs.prefix_problem(p) is None for p in macs.DEFAULT_PREFIXES)


# ---- cluster identity -----------------------------------------------------------------------


@given(st.text(min_size=1, max_size=64))
def test_cluster_octets_are_stable_octets(identity: str) -> None:
    first = macs.cluster_octets(identity)
    assert first == macs.cluster_octets(identity)
    assert all(0 <= o <= 0xFF for o in first)


@pytest.mark.parametrize("literal", ["ab:cd", "AB-CD", "abcd", " ab:cd "])
def test_literal_cluster_override_is_taken_as_is(literal: str) -> None:
    assert macs.cluster_octets(literal) == (0xAB, 0xCD)


def test_distinct_namespace_uids_usually_give_distinct_blocks() -> None:
    uids = [f"6f1c2a7e-0000-4000-8000-{n:012x}" for n in range(200)]
    blocks = {macs.cluster_octets(uid) for uid in uids}
    # 200 draws from 65,536 blocks: a handful of birthday collisions at most.
    assert len(blocks) >= 195


def test_empty_identity_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        macs.cluster_octets("")


# ---- pool layout and candidates -------------------------------------------------------------

prefix_sets = st.lists(st.sampled_from(macs.DEFAULT_PREFIXES), min_size=1, max_size=4, unique=True)
clusters = st.tuples(octet, octet)


@given(prefix_sets, clusters, st.integers(min_value=0, max_value=2**32))
def test_candidates_are_valid_prefixed_in_block_and_never_reserved(
    prefixes: list[int], cluster: tuple[int, int], seed: int
) -> None:
    layout = PoolLayout(tuple(prefixes), cluster)
    for mac in itertools.islice(macs.candidates(layout, random.Random(seed)), 50):
        assert layout.contains(mac)
        assert mac.first_octet in prefixes
        assert mac.cluster_part == cluster
        assert mac.host_part not in macs.RESERVED_HOSTS
        assert mac.value != macs.KUBEVIRT_BRIDGE_MAC_VALUE
        assert macs.check(str(mac)) == mac


@given(prefix_sets, clusters, st.integers(min_value=0, max_value=2**32))
def test_candidates_do_not_repeat(prefixes: list[int], cluster: tuple[int, int], seed: int) -> None:
    layout = PoolLayout(tuple(prefixes), cluster)
    taken = list(itertools.islice(macs.candidates(layout, random.Random(seed)), 500))
    assert len(set(taken)) == len(taken)


def test_candidates_honour_skip() -> None:
    layout = PoolLayout((0x02,), (0xAB, 0xCD))
    rng_a, rng_b = random.Random(7), random.Random(7)
    first_five = list(itertools.islice(macs.candidates(layout, rng_a), 5))
    skipped = set(first_five[:3])
    after_skip = list(itertools.islice(macs.candidates(layout, rng_b, skip=skipped.__contains__), 2))
    assert after_skip == first_five[3:5]


def test_candidates_spread_over_all_prefixes() -> None:
    layout = PoolLayout(macs.DEFAULT_PREFIXES, (1, 2))
    firsts = {next(macs.candidates(layout, random.Random(seed))).first_octet for seed in range(200)}
    assert firsts == set(macs.DEFAULT_PREFIXES)


def test_kubevirt_bridge_mac_is_never_in_the_pool() -> None:
    layout = PoolLayout((0x02,), (0, 0))
    bridge = Mac(macs.KUBEVIRT_BRIDGE_MAC_VALUE)
    assert str(bridge) == "02:00:00:00:00:00"
    assert not layout.contains(bridge)
    assert layout.is_reserved(bridge)


def test_pool_size_excludes_reserved_hosts() -> None:
    layout = PoolLayout((0x02, 0x0A), (0x12, 0x34))
    assert layout.size_per_prefix(0x02) == 2**24 - 2
    assert layout.size == 2 * (2**24 - 2)
    assert not layout.contains(layout.mac_at(0x02, 0))
    assert not layout.contains(layout.mac_at(0x02, 0xFFFFFF))
    assert layout.contains(layout.mac_at(0x02, 1))
    assert layout.prefix_of(layout.mac_at(0x0A, 5)) == 0x0A
    assert layout.prefix_of(macs.parse("06:12:34:00:00:05")) is None  # prefix not in layout
    assert layout.prefix_of(macs.parse("02:12:35:00:00:05")) is None  # other cluster's block


@given(st.integers(min_value=1, max_value=12), st.integers(min_value=0, max_value=2**32))
def test_host_walk_visits_every_host_exactly_once(bits: int, seed: int) -> None:
    walked = list(macs.host_walk(random.Random(seed), bits))
    assert sorted(walked) == list(range(2**bits))


@pytest.mark.parametrize(
    ("prefixes", "cluster", "match"),
    [
        ((), (0, 0), "at least one"),
        ((0x02, 0x02), (0, 0), "duplicate"),
        ((0x12,), (0, 0), "outside"),
        ((0x02,), (256, 0), "range"),
    ],
)
def test_layout_rejects_bad_configuration(
    prefixes: tuple[int, ...], cluster: tuple[int, int], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        PoolLayout(prefixes, cluster)
