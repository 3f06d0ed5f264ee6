"""MAC addresses as values, and the rules of the cluster's MAC space. Pure: no I/O, no clock.

Why a dedicated type: users write MACs with ':' or '-' and in either case, and KubeMacPool had to
learn the hard way that comparing strings lets `02:AA:..` and `02-aa-..` coexist as "different"
MACs (KMP#397). Every MAC that enters the allocator goes through `check()` and is compared as a
48-bit integer; it leaves only in the canonical lowercase colon form.

The layout of an allocated MAC:

    octet 1     one of the profile's prefixes: 02, 06, 0A or 0E. These are exactly the first
                octets below 0x10 that are locally administered (bit 0x02 set) and unicast
                (bit 0x01 clear), so they never clash with a vendor OUI.
    octets 2-3  a stable per-cluster value, so two clusters sharing a VLAN draw from disjoint
                ranges (derived from the kube-system namespace UID unless overridden).
    octets 4-6  the host part, unique within the cluster.

Two host parts are never handed out: all-zero and all-ones. KubeVirt uses `02:00:00:00:00:00` as
a fixed bridge MAC, which is the all-zero host part of cluster block 00:00, and keeping both ends
of every block free also keeps patterns that people hand-type ("...:00:00:00", "...:ff:ff:ff")
out of the automatic pool.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from vmo_operator.api.models import MAC_PREFIXES

MAX_VALUE = (1 << 48) - 1
HOST_BITS = 24
HOST_SPACE = 1 << HOST_BITS
HOST_MASK = HOST_SPACE - 1

MULTICAST_BIT = 0x01
LOCAL_BIT = 0x02

# The profile's default prefixes (api.models, the one source of the MAC pool defaults) as octets.
DEFAULT_PREFIXES: tuple[int, ...] = tuple(int(prefix, 16) for prefix in MAC_PREFIXES)

# Host parts (octets 4-6) that are never allocated, in any prefix and cluster block.
RESERVED_HOSTS: frozenset[int] = frozenset({0x000000, HOST_MASK})

# Whole MACs that are never allocated; listed even when a host rule already covers them, so the
# reason stays visible where people look for it.
KUBEVIRT_BRIDGE_MAC_VALUE = 0x02_00_00_00_00_00
RESERVED_MAC_VALUES: frozenset[int] = frozenset({KUBEVIRT_BRIDGE_MAC_VALUE})

FORMAT_REASON = "is not six two-digit hex octets separated by ':' or '-'"

_MAC_RE = re.compile(r"^[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(?:\1[0-9A-Fa-f]{2}){4}$")
_CLUSTER_LITERAL_RE = re.compile(r"^([0-9A-Fa-f]{2})[:-]?([0-9A-Fa-f]{2})$")
_RESERVATION_NAME_RE = re.compile(r"^mac-([0-9a-f]{12})$")


@dataclass(frozen=True, order=True, slots=True)
class Mac:
    """A 48-bit MAC; `str()` gives the canonical form `02:0a:1b:2c:3d:4e`."""

    value: int

    def __post_init__(self) -> None:
        if not 0 <= self.value <= MAX_VALUE:
            raise ValueError(f"MAC value out of range: {self.value}")

    def __str__(self) -> str:
        return ":".join(f"{octet:02x}" for octet in self.octets)

    @classmethod
    def of(cls, octets: Iterable[int]) -> Mac:
        parts = list(octets)
        if len(parts) != 6 or any(not 0 <= part <= 0xFF for part in parts):
            raise ValueError(f"need six octets 0..255, got {parts}")
        return cls(int.from_bytes(bytes(parts), "big"))

    @property
    def octets(self) -> tuple[int, int, int, int, int, int]:
        raw = self.value.to_bytes(6, "big")
        return (raw[0], raw[1], raw[2], raw[3], raw[4], raw[5])

    @property
    def first_octet(self) -> int:
        return self.value >> 40

    @property
    def cluster_part(self) -> tuple[int, int]:
        return ((self.value >> 32) & 0xFF, (self.value >> 24) & 0xFF)

    @property
    def host_part(self) -> int:
        return self.value & HOST_MASK

    @property
    def is_multicast(self) -> bool:
        return bool(self.first_octet & MULTICAST_BIT)

    @property
    def is_locally_administered(self) -> bool:
        return bool(self.first_octet & LOCAL_BIT)

    @property
    def reservation_name(self) -> str:
        """The name of this MAC's reservation object: one object per MAC, so the API server's
        create-if-absent is the lock."""
        return f"mac-{self.value:012x}"


@dataclass(frozen=True)
class Invalid:
    """Why a piece of text is not a MAC a VM may use; `reason` completes "MAC <text> ..."."""

    text: str
    reason: str


def check(text: str) -> Mac | Invalid:
    """Parse and judge a user-supplied MAC.

    Accepts ':' or '-' (one kind per address) and any case. Rejects multicast (the group bit is set,
    so a NIC would not own it), all-zero (means "no address") and broadcast.
    """
    if not _MAC_RE.fullmatch(text):  # not match(): "$" also matches before a trailing newline
        return Invalid(text, FORMAT_REASON)
    mac = Mac(int(re.sub(r"[:-]", "", text), 16))
    if mac.value == 0:
        return Invalid(text, "is all-zero, which means 'no address'")
    if mac.value == MAX_VALUE:
        return Invalid(text, "is the broadcast address")
    if mac.is_multicast:
        return Invalid(text, "is a multicast address (the lowest bit of the first octet is set)")
    return mac


def parse(text: str) -> Mac:
    """`check()` for trusted input (our own records): raises ValueError instead of returning Invalid."""
    result = check(text)
    if isinstance(result, Invalid):
        raise ValueError(f"MAC {text!r} {result.reason}")
    return result


def from_reservation_name(name: str) -> Mac | None:
    match = _RESERVATION_NAME_RE.fullmatch(name)
    return Mac(int(match.group(1), 16)) if match else None


# ---- prefixes -------------------------------------------------------------------------------


def prefix_problem(value: int) -> str | None:
    """Why an octet cannot be an allocation prefix, or None when it can (02, 06, 0A, 0E)."""
    if not 0 <= value <= 0xFF:
        return "is not an octet"
    if value & MULTICAST_BIT:
        return "is multicast (lowest bit set)"
    if not value & LOCAL_BIT:
        return "is not locally administered (second-lowest bit clear), so it could clash with a vendor OUI"
    if value >= 0x10:
        return "is outside the allowed prefixes 02, 06, 0A, 0E"
    return None


def parse_prefix(text: str) -> int:
    """'0A', '0a', '0x0a' or '10'-as-hex all read as hex; raises ValueError with the reason."""
    cleaned = text.strip().lower().removeprefix("0x")
    if not re.fullmatch(r"[0-9a-f]{1,2}", cleaned):
        raise ValueError(f"prefix {text!r} is not a hex octet")
    value = int(cleaned, 16)
    problem = prefix_problem(value)
    if problem:
        raise ValueError(f"prefix {text!r} {problem}")
    return value


def format_prefix(value: int) -> str:
    return f"{value:02X}"


# ---- cluster identity -----------------------------------------------------------------------


def cluster_octets(identity: str) -> tuple[int, int]:
    """Octets 2-3 for a cluster.

    A literal "xx:xx" (or "xxxx", "xx-xx") is taken as is, so an administrator can hand disjoint
    blocks to clusters that share a VLAN. Anything else (normally the kube-system namespace UID)
    is hashed: stable for the cluster's lifetime, and spread evenly over the 65,536 blocks.
    """
    literal = _CLUSTER_LITERAL_RE.match(identity.strip())
    if literal:
        return (int(literal.group(1), 16), int(literal.group(2), 16))
    if not identity:
        raise ValueError("cluster identity is empty")
    digest = hashlib.sha256(identity.encode("utf-8")).digest()
    return (digest[0], digest[1])


# ---- the pool -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PoolLayout:
    """Which MACs this cluster hands out: every prefix x the cluster block x non-reserved hosts."""

    prefixes: tuple[int, ...]
    cluster: tuple[int, int]

    def __post_init__(self) -> None:
        if not self.prefixes:
            raise ValueError("at least one prefix is needed")
        if len(set(self.prefixes)) != len(self.prefixes):
            raise ValueError(f"duplicate prefixes: {[format_prefix(p) for p in self.prefixes]}")
        for prefix in self.prefixes:
            problem = prefix_problem(prefix)
            if problem:
                raise ValueError(f"prefix {prefix:#04x} {problem}")
        if not all(0 <= octet <= 0xFF for octet in self.cluster):
            raise ValueError(f"cluster octets out of range: {self.cluster}")

    def mac_at(self, prefix: int, host: int) -> Mac:
        return Mac((prefix << 40) | (self.cluster[0] << 32) | (self.cluster[1] << 24) | (host & HOST_MASK))

    def prefix_of(self, mac: Mac) -> int | None:
        """The prefix whose block holds `mac`, or None when `mac` is outside this cluster's pool."""
        if mac.cluster_part != self.cluster or mac.first_octet not in self.prefixes:
            return None
        return mac.first_octet

    def is_reserved(self, mac: Mac) -> bool:
        return mac.host_part in RESERVED_HOSTS or mac.value in RESERVED_MAC_VALUES

    def contains(self, mac: Mac) -> bool:
        """True when `mac` is one this cluster may hand out."""
        return self.prefix_of(mac) is not None and not self.is_reserved(mac)

    def size_per_prefix(self, prefix: int) -> int:
        reserved = {self.mac_at(prefix, host).value for host in RESERVED_HOSTS}
        reserved |= {value for value in RESERVED_MAC_VALUES if self.prefix_of(Mac(value)) == prefix}
        return HOST_SPACE - len(reserved)

    @property
    def size(self) -> int:
        return sum(self.size_per_prefix(prefix) for prefix in self.prefixes)


def candidates(
    layout: PoolLayout, rng: random.Random, skip: Callable[[Mac], bool] = lambda _mac: False
) -> Iterator[Mac]:
    """Every allocatable MAC exactly once, in an order that is random per call.

    Each call starts at a random host and steps by a random odd stride: an odd stride is coprime
    with 2^24, so the walk visits every host once before it repeats. Unlike KubeMacPool's
    sequential walk from a random start, allocations do not pile up into runs, so a later walk
    that lands in a busy area does not have to cross a long run of taken MACs, and two replicas
    that pick near each other still diverge after one step. Prefixes are interleaved in a random
    order, so allocations spread evenly across them.

    `skip` lets callers pass over MACs they already know are taken (a cache); the API server
    still decides.
    """
    order = list(layout.prefixes)
    rng.shuffle(order)
    for host in host_walk(rng):
        if host in RESERVED_HOSTS:
            continue
        for prefix in order:
            mac = layout.mac_at(prefix, host)
            if mac.value in RESERVED_MAC_VALUES or skip(mac):
                continue
            yield mac


def host_walk(rng: random.Random, bits: int = HOST_BITS) -> Iterator[int]:
    """Every integer in [0, 2^bits) once, from a random start with a random odd stride."""
    space = 1 << bits
    start = rng.randrange(space)
    stride = rng.randrange(space) | 1
    for step in range(space):
        yield (start + step * stride) & (space - 1)
