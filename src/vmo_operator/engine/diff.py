"""Deciding, without writing, whether a live object already is what we would apply.

Server-side apply is idempotent, but every PATCH is still a write request and a watch event, so
an idle resync must not send any. An object needs applying when it is missing, when it was last
applied from a different rendering (the hash annotation differs), or when someone changed a field
we own (the rendered object is no longer contained in the live one, see `kube.objects.contains`).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from vmo_operator.kube.objects import Manifest, contains

HASH_ANNOTATION = "vmo.dev/desired-hash"


def desired_hash(obj: Mapping[str, Any]) -> str:
    canonical = json.dumps(_without_hash(obj), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def stamp(obj: Manifest) -> Manifest:
    """A copy of `obj` that carries the hash of its own rendering."""
    stamped = copy.deepcopy(obj)
    annotations = stamped.setdefault("metadata", {}).setdefault("annotations", {})
    annotations[HASH_ANNOTATION] = desired_hash(obj)
    return stamped


def _without_hash(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    annotations = obj.get("metadata", {}).get("annotations") or {}
    if HASH_ANNOTATION not in annotations:
        return obj
    trimmed = copy.deepcopy(dict(obj))
    del trimmed["metadata"]["annotations"][HASH_ANNOTATION]
    if not trimmed["metadata"]["annotations"]:
        del trimmed["metadata"]["annotations"]
    return trimmed


def needs_apply(stamped: Manifest, live: Manifest | None) -> bool:
    if live is None:
        return True
    live_hash = (live.get("metadata", {}).get("annotations") or {}).get(HASH_ANNOTATION)
    if live_hash != stamped["metadata"]["annotations"][HASH_ANNOTATION]:
        return True
    return not contains(stamped, live)


def drifted(stamped: Manifest, live: Manifest | None) -> bool:
    """The live object was rendered from the same input but has been changed by someone else."""
    if live is None:
        return False
    live_hash = (live.get("metadata", {}).get("annotations") or {}).get(HASH_ANNOTATION)
    return live_hash == stamped["metadata"]["annotations"][HASH_ANNOTATION] and not contains(stamped, live)
