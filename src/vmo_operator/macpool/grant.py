"""Admission grants: the mutating webhook's signed word that it reserved an object's MACs.

The validating webhook re-checks the object after every mutating webhook ran. In the common case
nothing changed since our mutating webhook reserved (or confirmed) the MACs a moment earlier, so
re-reading one reservation per MAC is pure latency. The mutating webhook therefore stamps a grant
annotation: an HMAC over what it confirmed, keyed by a secret every replica holds (derived from
the webhook CA's private key in the shared certificate Secret). Validation skips the reservation
check for exactly the interface/MAC pairs a valid, fresh grant covers and falls back to the full
check for everything else: a MAC another webhook added or changed, a grant signed with a key this
replica does not know (CA rotation), an expired or malformed grant.

What a grant is bound to, and why that is enough:

- namespace, kind and claim token: the holder the reservations were made for. Users can read a
  grant on their own objects and copy it, with its claim token, onto another object. That gains
  nothing: the mutating webhook runs the reservation check on every MAC the user set (a MAC held
  by another object is refused, whatever annotations come with it) and then replaces the grant
  annotation with one covering only what it confirmed in this request.
- the UID for an UPDATE (both webhooks see it), so a grant never moves between existing objects;
  a CREATE has no UID when the mutating webhook runs, so none is bound there.
- the issue time: a grant is accepted for `TTL` only. Admission takes seconds, so a grant stored
  on an object (or copied from one) is already stale for any later request; that bounds the
  damage if an object ever reached the validating webhook without passing the mutating one.

Pure and framework-free: keys are bytes, time is a number of seconds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from vmo_operator.macpool import mac as macs

GRANT_ANNOTATION = "macpool.vmo.dev/grant"
VERSION = 1
TTL_SECONDS = 120  # a whole admission (mutate, other webhooks, validate) is far shorter
CLOCK_SKEW_SECONDS = 30  # a grant from a replica whose clock runs ahead
KEY_LABEL = b"vmo-macpool-admission-grant/v1\x00"


def derive_key(secret: bytes) -> bytes:
    """A grant key from shared secret material (a CA private key PEM): never the secret itself."""
    return hmac.new(KEY_LABEL, secret, hashlib.sha256).digest()


@dataclass(frozen=True)
class Grant:
    issued: int  # seconds since the epoch
    pairs: Mapping[str, macs.Mac]  # interface name -> MAC
    signature: str


def _message(
    *, namespace: str, kind: str, uid: str, claim: str, issued: int, pairs: Mapping[str, macs.Mac]
) -> bytes:
    fields = [VERSION, namespace, kind, uid, claim, issued, sorted((n, str(m)) for n, m in pairs.items())]
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def _sign(key: bytes, message: bytes) -> str:
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def issue(
    key: bytes,
    *,
    namespace: str,
    kind: str,
    uid: str,
    claim: str,
    pairs: Mapping[str, macs.Mac],
    now: int,
) -> str:
    """The annotation value granting `pairs` to the holder identified by the other fields."""
    message = _message(namespace=namespace, kind=kind, uid=uid, claim=claim, issued=now, pairs=pairs)
    body = {
        "v": VERSION,
        "t": now,
        "m": {name: str(mac) for name, mac in sorted(pairs.items())},
        "s": _sign(key, message),
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=True)


def parse(value: object) -> Grant | None:
    """The grant an annotation value holds, or None when it is not one (unsigned, not checked)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        body = json.loads(value)
    except ValueError:
        return None
    if not isinstance(body, dict) or body.get("v") != VERSION:
        return None
    issued, raw_pairs, signature = body.get("t"), body.get("m"), body.get("s")
    if type(issued) is not int or not isinstance(raw_pairs, dict) or not isinstance(signature, str):
        return None
    pairs: dict[str, macs.Mac] = {}
    for name, text in raw_pairs.items():
        checked = macs.check(text) if isinstance(text, str) else None
        if not isinstance(checked, macs.Mac) or str(checked) != text:
            return None
        pairs[name] = checked
    return Grant(issued, pairs, signature)


def verify(
    keys: Sequence[bytes],
    value: object,
    *,
    namespace: str,
    kind: str,
    uid: str,
    claim: str,
    now: int,
) -> Mapping[str, macs.Mac]:
    """The interface/MAC pairs a valid, fresh grant covers; empty when there is no such grant."""
    grant = parse(value)
    if grant is None or not claim or not keys:
        return {}
    if not (-CLOCK_SKEW_SECONDS <= now - grant.issued <= TTL_SECONDS):
        return {}
    message = _message(
        namespace=namespace, kind=kind, uid=uid, claim=claim, issued=grant.issued, pairs=grant.pairs
    )
    for key in keys:
        if hmac.compare_digest(_sign(key, message), grant.signature):
            return grant.pairs
    return {}


def still_valid(
    keys: Sequence[bytes],
    value: object,
    *,
    namespace: str,
    kind: str,
    uid: str,
    claim: str,
    pairs: Mapping[str, macs.Mac],
    now: int,
) -> bool:
    """Whether `value` already grants exactly `pairs` with the signing key, for at least half its TTL.

    Lets a webhook reinvocation or a dry-run repeat leave the annotation alone instead of
    re-stamping a new issue time.
    """
    grant = parse(value)
    if grant is None or dict(grant.pairs) != dict(pairs) or now - grant.issued > TTL_SECONDS // 2:
        return False
    return bool(verify(keys[:1], value, namespace=namespace, kind=kind, uid=uid, claim=claim, now=now))
