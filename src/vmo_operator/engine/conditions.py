"""Kubernetes-shaped conditions as pure values: set, read and summarise.

`lastTransitionTime` changes only when a condition's status flips, and the list keeps a stable
order, so writing the same conditions twice produces an identical status (and no write at all).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Status = Literal["True", "False", "Unknown"]
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


@dataclass(frozen=True)
class ConditionSpec:
    """A condition we intend to set, before times and generations are stamped on it."""

    type: str
    status: Status
    reason: str
    message: str = ""


def find(conditions: Sequence[Mapping[str, Any]], type_: str) -> Mapping[str, Any] | None:
    return next((c for c in conditions if c.get("type") == type_), None)


def is_true(conditions: Sequence[Mapping[str, Any]], type_: str) -> bool:
    found = find(conditions, type_)
    return found is not None and found.get("status") == "True"


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


def remove(conditions: Sequence[Mapping[str, Any]], type_: str) -> list[Condition]:
    return [dict(c) for c in conditions if c.get("type") != type_]
