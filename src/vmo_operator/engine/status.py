"""Turn component health and reconcile facts into the VMOProfile status, as pure functions.

Aggregation follows the HCO chart but keeps every failing component in the message instead of
the last one written: Available needs every enabled component ready; Progressing means something
is still converging; Degraded means something is wrong that waiting alone may not fix. Conditions
and fields that only one component can judge (see `components.base.ReportsStatus`) arrive here as
values; this module knows no component by name.

The status is computed whole every round: only what this round found is in it (previous
conditions lend nothing but their transition times), and `status_patch` removes whatever an
earlier round wrote that no longer holds, so no stale field survives a merge patch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vmo_operator.api import profiles
from vmo_operator.api.models import VMOProfileSpec
from vmo_operator.components.base import Component, ComponentHealth, ConditionStatus, ReportsStatus
from vmo_operator.engine.conditions import ConditionSpec, set_conditions

AVAILABLE = "Available"
PROGRESSING = "Progressing"
DEGRADED = "Degraded"
RECONCILE_COMPLETE = "ReconcileComplete"
CONDITION_ORDER = (AVAILABLE, PROGRESSING, DEGRADED, RECONCILE_COMPLETE)
SUMMARY = frozenset(CONDITION_ORDER)
# Top-level status fields another writer owns: the MAC pool's maintenance loop writes macPool.
OTHER_WRITERS = frozenset({"macPool"})


@dataclass(frozen=True)
class ReconcileFacts:
    """What the imperative shell learned while reconciling, beyond component health."""

    generation: int
    spec_error: str = ""  # the spec could not be parsed: nothing was applied
    apply_error: str = ""  # the cluster could not be read: nothing was applied or assessed
    changed: int = 0  # objects written this round
    blocked: Mapping[str, str] = field(default_factory=dict)  # what is kept -> why its removal waits
    waiting: Sequence[str] = ()  # objects that wait for a fact (a namespace, a CRD Established)
    failed: Sequence[str] = ()  # objects the API server refused, with its reason
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


def _same_for_all(reason: str, message: str, degraded: ConditionStatus = "True") -> list[ConditionSpec]:
    return [
        ConditionSpec(AVAILABLE, "False", reason, message),
        ConditionSpec(PROGRESSING, "False", reason, message),
        ConditionSpec(DEGRADED, degraded, reason, message),
        ConditionSpec(RECONCILE_COMPLETE, "False", reason, message),
    ]


def summary_conditions(
    titled: Sequence[tuple[str, ComponentHealth]], facts: ReconcileFacts
) -> list[ConditionSpec]:
    """Available / Progressing / Degraded / ReconcileComplete from the components and the round."""
    if facts.inactive_because:
        why = facts.inactive_because
        conditions = _same_for_all("NotActive", why)
        conditions[2] = ConditionSpec(DEGRADED, "True", "DuplicateProfile", why)
        return conditions
    if facts.spec_error:
        return _same_for_all("InvalidSpec", f"spec is invalid, nothing was applied: {facts.spec_error}")

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
        conditions.append(ConditionSpec(PROGRESSING, "True", "Waiting", "; ".join(facts.waiting)))
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
    conditions.append(_reconcile_complete(facts))
    return conditions


def _reconcile_complete(facts: ReconcileFacts) -> ConditionSpec:
    if facts.apply_error:
        return ConditionSpec(RECONCILE_COMPLETE, "False", "ReconcileFailed", facts.apply_error)
    if facts.failed:
        return ConditionSpec(
            RECONCILE_COMPLETE,
            "False",
            "ApplyFailed",
            "everything else was applied; " + "; ".join(facts.failed),
        )
    if facts.blocked:
        blocked = "; ".join(
            f"removing {name} is blocked: {why}" for name, why in sorted(facts.blocked.items())
        )
        return ConditionSpec(RECONCILE_COMPLETE, "False", "RemovalBlocked", blocked)
    if facts.waiting:
        return ConditionSpec(RECONCILE_COMPLETE, "False", "Waiting", "; ".join(facts.waiting))
    return ConditionSpec(RECONCILE_COMPLETE, "True", "ReconcileCompleted", "desired state applied")


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


TAINTED_CONFIGURATION = "TaintedConfiguration"
_COUNTS = ("Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine", "Ten")


def tainted_configuration(spec: VMOProfileSpec) -> list[ConditionSpec]:
    """TaintedConfiguration=True while the profile carries overrides (as HCO flags its jsonpatch
    annotations), naming how many in the reason and each path in the message; absent otherwise, so
    removing the last override clears it. The operator cannot vouch for what a patch does."""
    listed = profiles.overrides_in_effect(spec)
    if not listed:
        return []
    count = len(listed)
    # A reason is CamelCase; small counts read as words, larger ones as digits.
    reason = f"{_COUNTS[count] if count < len(_COUNTS) else f'Count{count}'}Override{'s' * (count != 1)}"
    message = f"{count} unsupported override{'s' * (count != 1)} patch the rendered CRs: " + "; ".join(listed)
    return [ConditionSpec(TAINTED_CONFIGURATION, "True", reason, message)]


def _conditions(
    previous: Mapping[str, Any], updates: Sequence[ConditionSpec], generation: int, now: str
) -> list[dict[str, Any]]:
    """Exactly `updates`, keeping the transition time of each previous condition that did not flip."""
    wanted = {update.type for update in updates}
    kept = [c for c in previous.get("conditions") or [] if c.get("type") in wanted]
    return set_conditions(kept, updates, generation=generation, now=now, order=CONDITION_ORDER)


def phase_of(conditions: Sequence[Mapping[str, Any]], facts: ReconcileFacts) -> str:
    """One word for `kubectl get`: Deploying, Deployed, Degraded, RemovalBlocked, Inactive, InvalidSpec."""
    if facts.inactive_because:
        return "Inactive"
    if facts.spec_error:
        return "InvalidSpec"
    if facts.blocked:
        return "RemovalBlocked"
    state = {str(c["type"]): c["status"] for c in conditions}
    if state.get(DEGRADED) == "True":
        return "Degraded"
    return "Deployed" if state.get(AVAILABLE) == "True" else "Deploying"


def build_status(
    previous: Mapping[str, Any],
    titled: Sequence[tuple[str, ComponentHealth]],
    facts: ReconcileFacts,
    *,
    now: str,
    extra: Mapping[str, Any] | None = None,
    extra_conditions: Sequence[ConditionSpec] = (),
) -> dict[str, Any]:
    """The whole status this round found, with transition times carried over from `previous`.

    `extra` (top-level fields) and `extra_conditions` are what the components report beyond their
    `<Title>Ready` condition; like those, they are set only for an active, valid profile.
    """
    updates = summary_conditions(titled, facts)
    applies = not facts.inactive_because and not facts.spec_error
    if applies:
        updates += [_component_condition(f"{title}Ready", health) for title, health in titled]
        updates += extra_conditions
    conditions = _conditions(previous, updates, facts.generation, now)
    status: dict[str, Any] = {"conditions": conditions, "phase": phase_of(conditions, facts)}
    if not facts.spec_error:
        status["observedGeneration"] = facts.generation
    elif previous.get("observedGeneration") is not None:
        status["observedGeneration"] = previous["observedGeneration"]  # the last one reconciled
    if titled and applies:
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
    if applies:
        status.update(extra or {})
    return status


def interim_status(previous: Mapping[str, Any], generation: int, now: str) -> dict[str, Any] | None:
    """What to show at once for a generation not reconciled yet; None when it already was.

    A new profile reads Progressing=True and Unknown for the rest instead of nothing; an edited
    one keeps what it had (still true of the running platform) with Progressing=True.
    """
    if any(c.get("observedGeneration") == generation for c in previous.get("conditions") or []):
        return None  # this generation was judged already (an invalid spec keeps observedGeneration)
    message = f"reconciling generation {generation}"
    if not previous.get("conditions"):
        updates = [
            ConditionSpec(AVAILABLE, "Unknown", "Reconciling", "not assessed yet"),
            ConditionSpec(PROGRESSING, "True", "Reconciling", message),
            ConditionSpec(DEGRADED, "Unknown", "Reconciling", "not assessed yet"),
            ConditionSpec(RECONCILE_COMPLETE, "Unknown", "Reconciling", "not assessed yet"),
        ]
        return {"conditions": _conditions({}, updates, generation, now), "phase": "Deploying"}
    update = ConditionSpec(PROGRESSING, "True", "Reconciling", message)
    current = previous.get("conditions") or []
    conditions = set_conditions(current, [update], generation=generation, now=now, order=CONDITION_ORDER)
    return {**{k: v for k, v in previous.items() if k not in OTHER_WRITERS}, "conditions": conditions}


def deletion_status(
    previous: Mapping[str, Any], generation: int, now: str, *, blocked: str = "", remaining: int = 0
) -> dict[str, Any]:
    """The status while the profile is being deleted: removing, or waiting for workloads to go."""
    if blocked:
        message = f"deletion waits: {blocked}"
        updates = _same_for_all("RemovalBlocked", message)
        updates[1] = ConditionSpec(PROGRESSING, "True", "RemovalBlocked", message)
        phase = "RemovalBlocked"
    else:
        message = f"removing every component; {remaining} owned objects left" if remaining else "removing"
        updates = _same_for_all("Deleting", message, degraded="False")
        updates[1] = ConditionSpec(PROGRESSING, "True", "Deleting", message)
        phase = "Deleting"
    kept = {k: v for k, v in previous.items() if k not in OTHER_WRITERS and k != "conditions"}
    return {**kept, "conditions": _conditions(previous, updates, generation, now), "phase": phase}


def status_patch(previous: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """Top-level status fields to write so the stored status becomes `desired`; {} when it is.

    A field `previous` has and `desired` lacks is written as None (removed), except those another
    writer owns (`OTHER_WRITERS`). `KubeClient.patch_status` replaces each field wholly.
    """
    fields = {key: value for key, value in desired.items() if previous.get(key) != value}
    for key in previous:
        if key not in desired and key not in OTHER_WRITERS:
            fields[key] = None
    return fields


def status_changed(previous: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    return bool(status_patch(previous, desired))
