"""The alert rules: what each alert watches, in metrics the operator really exports.

Every expression reads only `vmo_*` series from `operator/metrics.py` and
`operator/macpool/metrics.py` (a unit test holds each name against those registries), and every
alert links its section of docs/runbooks.md (a unit test holds that too). Series are aggregated
with `max`/`sum` across operator replicas: only one replica reconciles the profile and runs the
MAC audit, the others export what they last knew or nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vmo_operator.api.models import MonitoringSpec

RUNBOOKS = "docs/runbooks.md"


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    for_: str
    severity: str
    summary: str
    description: str


def alerts(spec: MonitoringSpec, mac_pool: bool) -> list[Alert]:
    """The alerts for `spec`; the MAC webhook's only while the MAC pool is enabled."""
    t = spec.thresholds
    slow = t.webhook_slow_milliseconds / 1000
    out = [
        Alert(
            "VMOComponentDegraded",
            "max by (component) (vmo_component_degraded) > 0",
            f"{t.component_degraded_minutes}m",
            "warning",
            "VMO component {{ $labels.component }} is degraded",
            "The profile's component {{ $labels.component }} has been Degraded for "
            f"{t.component_degraded_minutes} minutes; kubectl describe vmoprofile names what is wrong.",
        ),
        Alert(
            "VMODriftRepairsHigh",
            "sum(increase(vmo_drift_repairs_total[1h])) > " + str(t.drift_repairs_per_hour),
            "5m",
            "warning",
            "Something keeps changing objects the VMO operator manages",
            "The operator restored {{ $value | humanize }} of its objects in the last hour after someone "
            f"else changed or deleted them (threshold {t.drift_repairs_per_hour}).",
        ),
        Alert(
            "VMOOperatorNotReconciling",
            "(time() - max(vmo_reconcile_last_completed_timestamp_seconds)) > "
            f"{t.reconcile_stale_minutes * 60} or absent(vmo_reconcile_last_completed_timestamp_seconds)",
            "5m",
            "critical",
            "The VMO operator has not reconciled its profile",
            f"No operator replica completed a reconcile round in {t.reconcile_stale_minutes} minutes, "
            "or none exports metrics: drift is not repaired and profile edits are not applied.",
        ),
    ]
    if mac_pool:
        out += [
            Alert(
                "VMOMacWebhookDown",
                "(max(vmo_macpool_webhook_ready) or vector(0)) < 1",
                f"{t.webhook_down_minutes}m",
                "critical",
                "No VMO MAC webhook is ready",
                "No operator replica reports a ready, registered MAC webhook: creating VMs that need "
                "a MAC address fails.",
            ),
            Alert(
                "VMOMacWebhookSlow",
                "histogram_quantile(0.99, sum by (le, webhook) "
                f"(rate(vmo_macpool_admission_duration_seconds_bucket[5m]))) > {slow:g}",
                "10m",
                "warning",
                "VMO MAC webhook {{ $labels.webhook }} is slow",
                "The 99th percentile of MAC admission time is {{ $value | humanizeDuration }}, above "
                f"{slow:g}s; the API server gives the webhook 10 seconds.",
            ),
            Alert(
                "VMOMacCollisions",
                "max(vmo_macpool_mac_collisions and on (instance) (vmo_macpool_gc_leader == 1)) > 0",
                "15m",
                "warning",
                "VMs share MAC addresses",
                "The MAC audit found {{ $value }} MAC addresses carried by more than one VM; "
                "status.macPool and the VMs' Events name them.",
            ),
        ]
    return out


def runbook_link(spec: MonitoringSpec, alert: str) -> str:
    """Where the alert's runbook section is: the published copy when configured, else the file."""
    return f"{spec.runbook_url or RUNBOOKS}#{alert.lower()}"


def rule_groups(spec: MonitoringSpec, mac_pool: bool) -> list[dict[str, Any]]:
    rules = [
        {
            "alert": a.name,
            "expr": a.expr,
            "for": a.for_,
            "labels": {"severity": a.severity},
            "annotations": {
                "summary": a.summary,
                "description": a.description,
                "runbook_url": runbook_link(spec, a.name),
            },
        }
        for a in alerts(spec, mac_pool)
    ]
    return [{"name": "vmo-operator", "rules": rules}]
