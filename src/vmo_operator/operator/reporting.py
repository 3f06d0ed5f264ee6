"""What one reconcile tells an admin beyond the status: Events on the profile, metrics, one log line.

Events follow the status: a condition that turns to a state worth knowing (a failure, a blocked
removal, dropped feature gates) is recorded once when its reason or message changes, not on every
retry; `kube.events` then counts real repeats into a series. Objects restored after someone else
changed them, and what each round wrote, are events of their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from vmo_operator.api import versions
from vmo_operator.engine import reconcile as engine
from vmo_operator.engine.apply import ApplyResult
from vmo_operator.kube.events import EventType, Recorder
from vmo_operator.operator.metrics import ProfileMetrics

log = structlog.get_logger("vmo.profile")


@dataclass(frozen=True)
class Noteworthy:
    """A condition state that deserves an Event: `status`, recorded with `type_` (per reason)."""

    status: str
    type_: EventType = "Warning"
    normal_reasons: frozenset[str] = frozenset()

    def event_type(self, reason: str) -> EventType:
        return "Normal" if reason in self.normal_reasons else self.type_


NOTEWORTHY: Mapping[str, Noteworthy] = {
    "ReconcileComplete": Noteworthy("False", normal_reasons=frozenset({"Waiting"})),
    "Degraded": Noteworthy("True"),
    "FeatureGatesRecognized": Noteworthy("False"),
    "FeatureGatesChanged": Noteworthy("True", normal_reasons=frozenset({"GatesTranslated"})),
    # A setting left out of the KubeVirt CR, or one that needs a gate, is easy to miss in status.
    "KubeVirtConfigurationSupported": Noteworthy("False"),
    # VMs cannot start without KVM unless KubeVirt emulates; with emulation on it is a plain fact.
    "KVMAvailable": Noteworthy("False", normal_reasons=frozenset({"NoKVMDeviceEmulating"})),
    # Overrides are unsupported: say so when they appear or change, not only in the status.
    "TaintedConfiguration": Noteworthy("True"),
}


def _conditions(status: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {str(c.get("type")): c for c in status.get("conditions") or []}


def condition_events(
    previous: Mapping[str, Any], current: Mapping[str, Any]
) -> list[tuple[EventType, str, str]]:
    """(type, reason, note) for each noteworthy condition that entered its state or changed in it."""
    before, after = _conditions(previous), _conditions(current)
    found = []
    for type_, rule in NOTEWORTHY.items():
        now = after.get(type_)
        if now is None or now.get("status") != rule.status:
            continue
        was = before.get(type_) or {}
        if (was.get("status"), was.get("reason"), was.get("message")) == (
            now.get("status"),
            now.get("reason"),
            now.get("message"),
        ):
            continue
        reason = str(now.get("reason", type_))
        found.append((rule.event_type(reason), reason, str(now.get("message", ""))))
    return found


def downgrade_note(profile: Mapping[str, Any]) -> str:
    """A warning when the profile asks for an older KubeVirt than the one running; "" otherwise."""
    running = str((profile.get("status") or {}).get("kubevirtVersion") or "")
    wanted = str(((profile.get("spec") or {}).get("kubevirt") or {}).get("version") or "")
    if not running or not wanted or not versions.KUBEVIRT.contains(wanted):
        return ""
    try:
        older = versions.parse(wanted) < versions.parse(running)
    except ValueError:
        return ""
    if not older:
        return ""
    return (
        f"KubeVirt {running} is running and the profile asks for {wanted}: KubeVirt does not support "
        "downgrades, and running VMs may fail to migrate or restart; the downgrade was accepted with "
        "spec.kubevirt.acceptDowngradeFrom"
    )


def _is_drift(result: ApplyResult, was_available: bool) -> bool:
    return result.action == "overwritten" or (result.action == "created" and was_available)


def record_round(
    events: Recorder,
    metrics: ProfileMetrics,
    profile: Mapping[str, Any],
    outcome: engine.Outcome,
    was_available: bool,
) -> None:
    """Events and metrics for one reconcile of `profile` (as read before it)."""
    counts: dict[str, int] = {}
    for result in outcome.results:
        if result.action == "retained":
            continue  # a standing fact, reported in status; an event every resync would be noise
        counts[result.action] = counts.get(result.action, 0) + 1
        metrics.object_writes.labels(result.action).inc()
        if _is_drift(result, was_available):
            metrics.drift_repairs.labels(result.key.kind).inc()
            where = f"{result.key.namespace}/{result.key.name}" if result.key.namespace else result.key.name
            verb = "edited" if result.action == "overwritten" else "deleted"
            note = f"{result.key.kind} {where} was {verb} outside the operator and has been restored"
            events.warning(profile, "Overwritten", note)
    if counts:
        events.normal(profile, "Applied", ", ".join(f"{n} {action}" for action, n in sorted(counts.items())))
    previous = profile.get("status") or {}
    for type_, reason, note in condition_events(previous, outcome.status):
        events.record(profile, type_, reason, note)
    if _generation_changed(previous, outcome.status):
        note = downgrade_note(profile)
        if note:
            events.warning(profile, "KubeVirtDowngrade", note)


def _generation_changed(previous: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
    return previous.get("observedGeneration") != current.get("observedGeneration")


def log_round(name: str, outcome: engine.Outcome, result: str) -> None:
    """One line per round that changed something or failed; quiet rounds only at debug."""
    say = log.info if outcome.results or outcome.status_needs_write else log.debug
    say(
        "reconciled",
        object=f"VMOProfile/{name}",
        result=result,
        writes=len(outcome.results),
        error=outcome.error or None,
    )
