"""Rules about VMOProfile objects that more than one part of the operator applies.

The profile reconcile and the MAC wiring both have to agree on which profile is in force, and the
status, the logs and the `vmo` command line all describe a spec that fails validation; each rule is
written once here, as a pure function over the objects the API server returns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import ValidationError

if TYPE_CHECKING:
    from vmo_operator.api.models import VMOProfileSpec

Profile = TypeVar("Profile", bound=Mapping[str, Any])


def active_profile(profiles: Sequence[Profile]) -> Profile | None:
    """The oldest profile is the one that is applied; the others only report that they are not.

    Ties (profiles created in the same second) go to the name that sorts first, so every replica
    and every caller picks the same one.
    """
    if not profiles:
        return None
    return min(
        profiles,
        key=lambda p: (str(p["metadata"].get("creationTimestamp", "")), str(p["metadata"]["name"])),
    )


def validation_problems(error: ValidationError, prefix: str = "") -> list[str]:
    """`spec.multus.networks[0].vlan: Input should be less than or equal to 4094`, one per problem.

    Field paths are written the way the API server writes them when its schema refuses a profile,
    so a problem reads the same whichever of the two caught it. `prefix` names where the validated
    value sits (e.g. "spec"); a problem with the value as a whole is reported at the prefix, or at
    "(root)" without one.
    """
    lines = []
    for item in error.errors():
        path = prefix
        for part in item["loc"]:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        lines.append(f"{path or '(root)'}: {item['msg']}")
    return lines


def spec_error(error: ValidationError) -> str:
    """Every problem of a spec that failed validation on one line, as a status condition carries it."""
    return "; ".join(validation_problems(error, prefix="spec"))


def overrides_in_effect(spec: VMOProfileSpec) -> list[str]:
    """The JSON-patch overrides of the enabled operands, as "kubevirt[0] add /spec/...", in order.

    An override of a disabled operand patches nothing, so it does not taint the configuration.
    """
    parts = (("kubevirt", spec.kubevirt), ("cdi", spec.cdi))
    return [
        f"{name}[{index}] {override.op} {override.path}"
        for name, part in parts
        if part.enabled
        for index, override in enumerate(part.overrides)
    ]
