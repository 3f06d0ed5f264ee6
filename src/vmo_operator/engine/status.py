"""Turn component health and reconcile facts into the VMOProfile status, as pure functions.

Aggregation follows the HCO chart but keeps every failing component in the message instead of
the last one written: Available needs every enabled component ready; Progressing means something
is still converging; Degraded means something is wrong that waiting alone may not fix. Conditions
and fields that only one component can judge (see `components.base.ReportsStatus`) arrive here as
values; this module knows no component by name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vmo_operator.api.models import VMOProfileSpec
from vmo_operator.components.base import Component, ComponentHealth, ReportsStatus
from vmo_operator.engine.conditions import ConditionSpec, set_conditions

AVAILABLE = "Available"
PROGRESSING = "Progressing"
DEGRADED = "Degraded"
RECONCILE_COMPLETE = "ReconcileComplete"
CONDITION_ORDER = (AVAILABLE, PROGRESSING, DEGRADED, RECONCILE_COMPLETE)


@dataclass(frozen=True)
class ReconcileFacts:
    """What the imperative shell learned while reconciling, beyond component health."""

    generation: int
    spec_error: str = ""  # the spec could not be parsed: nothing was applied
    apply_error: str = ""  # apply/prune failed part-way
    changed: int = 0  # objects written this round
    blocked: Mapping[str, str] = field(default_factory=dict)  # component -> what blocks its removal
    waiting: str = ""  # e.g. CRDs not Established yet
    inactive_because: str = ""  # another profile is the active one


def _component_condition(type_: str, health: ComponentHealth) -> ConditionSpec:
    if not health.enabled:
        return ConditionSpec(
            type_, "True", health.reason or "Disabled", health.message or "disabled in the profile"
        )
    if health.skipped:
        return ConditionSpec(type_, "True", health.reason or "Skipped", health.message)
    if health.ready:
        return ConditionSpec(type_, "True", health.reason or "Ready", health.message or "ready")
    return ConditionSpec(type_, "False", health.reason or "NotReady", health.message)


def summary_conditions(
    titled: Sequence[tuple[str, ComponentHealth]], facts: ReconcileFacts
) -> list[ConditionSpec]:
    """Available / Progressing / Degraded / ReconcileComplete from the components and the round."""
    if facts.inactive_because:
        why = facts.inactive_because
        return [
            ConditionSpec(AVAILABLE, "False", "NotActive", why),
            ConditionSpec(PROGRESSING, "False", "NotActive", why),
            ConditionSpec(DEGRADED, "True", "DuplicateProfile", why),
            ConditionSpec(RECONCILE_COMPLETE, "False", "NotActive", why),
        ]
    if facts.spec_error:
        message = f"spec is invalid, nothing was applied: {facts.spec_error}"
        return [
            ConditionSpec(AVAILABLE, "False", "InvalidSpec", message),
            ConditionSpec(PROGRESSING, "False", "InvalidSpec", message),
            ConditionSpec(DEGRADED, "True", "InvalidSpec", message),
            ConditionSpec(RECONCILE_COMPLETE, "False", "InvalidSpec", message),
        ]

    active = [(title, h) for title, h in titled if h.enabled and not h.skipped]
    not_ready = [(title, h) for title, h in active if not h.ready]
    degraded = [(title, h) for title, h in active if h.degraded]
    progressing = [(title, h) for title, h in active if h.progressing or (not h.ready and not h.degraded)]

    def describe(items: Sequence[tuple[str, ComponentHealth]]) -> str:
        return "; ".join(f"{title}: {h.message or h.reason or 'not ready'}" for title, h in items)

    conditions = []
    if not_ready:
        reason = f"{not_ready[0][0]}NotAvailable" if len(not_ready) == 1 else "ComponentsNotAvailable"
        conditions.append(ConditionSpec(AVAILABLE, "False", reason, describe(not_ready)))
    else:
        conditions.append(
            ConditionSpec(AVAILABLE, "True", "AllComponentsReady", "all enabled components are ready")
        )

    if facts.waiting:
        conditions.append(ConditionSpec(PROGRESSING, "True", "Waiting", facts.waiting))
    elif progressing:
        reason = f"{progressing[0][0]}Progressing" if len(progressing) == 1 else "ComponentsProgressing"
        conditions.append(ConditionSpec(PROGRESSING, "True", reason, describe(progressing)))
    elif facts.changed:
        conditions.append(ConditionSpec(PROGRESSING, "True", "Applying", f"{facts.changed} objects written"))
    else:
        conditions.append(ConditionSpec(PROGRESSING, "False", "Stable", "nothing left to converge"))

    problems = []
    if facts.apply_error:
        problems.append(f"apply failed: {facts.apply_error}")
    problems += [f"{title}: {h.message or h.reason}" for title, h in degraded]
    if problems:
        reason = (
            "ApplyFailed"
            if facts.apply_error
            else (f"{degraded[0][0]}Degraded" if len(degraded) == 1 else "ComponentsDegraded")
        )
        conditions.append(ConditionSpec(DEGRADED, "True", reason, "; ".join(problems)))
    else:
        conditions.append(ConditionSpec(DEGRADED, "False", "AsExpected", "no component reports a problem"))

    if facts.apply_error:
        conditions.append(ConditionSpec(RECONCILE_COMPLETE, "False", "ReconcileFailed", facts.apply_error))
    elif facts.blocked:
        blocked = "; ".join(
            f"removing {name} is blocked: {why}" for name, why in sorted(facts.blocked.items())
        )
        conditions.append(ConditionSpec(RECONCILE_COMPLETE, "False", "RemovalBlocked", blocked))
    elif facts.waiting:
        conditions.append(ConditionSpec(RECONCILE_COMPLETE, "False", "Waiting", facts.waiting))
    else:
        conditions.append(
            ConditionSpec(RECONCILE_COMPLETE, "True", "ReconcileCompleted", "desired state applied")
        )
    return conditions


def component_contributions(
    components: Sequence[Component], spec: VMOProfileSpec, healths: Sequence[ComponentHealth]
) -> tuple[dict[str, Any], list[ConditionSpec]]:
    """Status fields and conditions the components add (`ReportsStatus`), in component order."""
    fields: dict[str, Any] = {}
    conditions: list[ConditionSpec] = []
    for component, health in zip(components, healths, strict=True):
        if isinstance(component, ReportsStatus):
            fields.update(component.status_fields(spec, health))
            conditions += component.extra_conditions(spec, health)
    return fields, conditions


def build_status(
    previous: Mapping[str, Any],
    titled: Sequence[tuple[str, ComponentHealth]],
    facts: ReconcileFacts,
    *,
    now: str,
    extra: Mapping[str, Any] | None = None,
    extra_conditions: Sequence[ConditionSpec] = (),
) -> dict[str, Any]:
    """The status we want, carrying over transition times from `previous` where nothing flipped.

    `extra` (top-level fields) and `extra_conditions` are what the components report beyond their
    `<Title>Ready` condition; like those, the conditions are set only for an active, valid profile.
    """
    updates = summary_conditions(titled, facts)
    if not facts.inactive_because and not facts.spec_error:
        updates += [_component_condition(f"{title}Ready", health) for title, health in titled]
        updates += extra_conditions
    conditions = set_conditions(
        previous.get("conditions") or [], updates, generation=facts.generation, now=now, order=CONDITION_ORDER
    )
    status: dict[str, Any] = {"conditions": conditions}
    if not facts.spec_error:
        status["observedGeneration"] = facts.generation
    if titled and not facts.inactive_because and not facts.spec_error:
        status["components"] = {
            health.name: {
                # Every field the CRD defaults is written, so the stored status equals what we
                # computed and an idle resync sees nothing to write.
                "enabled": health.enabled,
                "ready": health.ready,
                "reason": health.reason,
                "skipped": health.skipped,
                "version": health.version,
                "message": health.message,
            }
            for _, health in titled
        }
    status.update(extra or {})
    return status


def status_changed(previous: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    """Only the keys we write are compared, so fields other writers own never force a patch."""
    return any(previous.get(key) != value for key, value in desired.items())
