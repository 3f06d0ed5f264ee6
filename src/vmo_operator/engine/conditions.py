"""Kubernetes-shaped conditions as pure values: set them, keeping transition times.

`lastTransitionTime` changes only when a condition's status flips, and the list keeps a stable
order, so writing the same conditions twice produces an identical status (and no write at all).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# Components report extra conditions too, so the value is defined with their contract; the
# operator builds these for the conditions it sets itself and imports the name from here.
from vmo_operator.components.base import ConditionSpec as ConditionSpec

Condition = dict[str, Any]

# The CRD caps a condition message at 32768; API errors can echo a hostile spec value far beyond
# that, and a status write the server refuses would leave no condition at all. Kept well below.
MAX_MESSAGE_BYTES = 8192
_TRUNCATED = " ... (truncated)"


def bounded(message: str, limit: int = MAX_MESSAGE_BYTES) -> str:
    """`message`, cut (deterministically, on a character boundary) to at most `limit` UTF-8 bytes."""
    encoded = message.encode("utf-8")
    if len(encoded) <= limit:
        return message
    keep = encoded[: limit - len(_TRUNCATED)].decode("utf-8", errors="ignore")
    return keep + _TRUNCATED


def set_conditions(
    existing: Sequence[Mapping[str, Any]],
    updates: Iterable[ConditionSpec],
    *,
    generation: int,
    now: str,
    order: Sequence[str] = (),
) -> list[Condition]:
    """Merge `updates` into `existing`; types listed in `order` come first, the rest by name."""
    merged: dict[str, Condition] = {str(c["type"]): dict(c) for c in existing}
    for update in updates:
        previous = merged.get(update.type)
        transitioned = previous is None or previous.get("status") != update.status
        merged[update.type] = {
            "type": update.type,
            "status": update.status,
            "reason": update.reason,
            "message": bounded(update.message),
            "lastTransitionTime": now
            if transitioned or previous is None
            else previous.get("lastTransitionTime", now),
            "observedGeneration": generation,
        }
    rank = {name: index for index, name in enumerate(order)}
    return sorted(merged.values(), key=lambda c: (rank.get(c["type"], len(rank)), c["type"]))
