"""`spec.monitoring`: the Prometheus alert rules, rendered where the Prometheus Operator's CRD exists."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from vmo_operator.api.models.base import (
    HTTP_URL,
    QUALIFIED_NAME,
    LabelValue,
    Model,
    Namespace,
    cel,
    schema_extra,
)

MAX_RULE_LABELS = 8
_RULE_LABEL_KEYS = cel(
    # CEL string literals would need the regex's backslashes doubled; [.] says the same.
    "self.all(k, size(k) <= 317 && k.matches('" + QUALIFIED_NAME.replace("\\.", "[.]") + "'))",
    "every ruleLabels key must be a label key (an optional DNS prefix and '/', then a name)",
)


class AlertThresholds(Model):
    """When each alert fires. Every alert links its section in docs/runbooks.md."""

    component_degraded_minutes: int = Field(
        default=10,
        ge=1,
        le=1440,
        description="VMOComponentDegraded: minutes a component must stay Degraded before the alert fires.",
    )
    webhook_down_minutes: int = Field(
        default=5,
        ge=1,
        le=1440,
        description=(
            "VMOMacWebhookDown: minutes without a single operator replica whose MAC webhook is ready and "
            "registered. While it is down, VM creates that need a MAC fail."
        ),
    )
    webhook_slow_milliseconds: int = Field(
        default=2000,
        ge=10,
        le=30000,
        description=(
            "VMOMacWebhookSlow: the 99th percentile of MAC admission time, in milliseconds, above which "
            "the alert fires after 10 minutes. The API server gives the webhook 10 seconds."
        ),
    )
    drift_repairs_per_hour: int = Field(
        default=10,
        ge=1,
        le=100000,
        description=(
            "VMODriftRepairsHigh: objects the operator restored in the last hour (after someone else "
            "changed or deleted them) above which the alert fires."
        ),
    )
    reconcile_stale_minutes: int = Field(
        default=15,
        ge=2,
        le=1440,
        description=(
            "VMOOperatorNotReconciling: minutes without a completed reconcile round (the operator "
            "resyncs every minute by default), or without the operator's metrics at all."
        ),
    )


class MonitoringSpec(Model):
    """Prometheus alerts for the platform, as a PrometheusRule (monitoring.coreos.com/v1).

    The rule is written only where the PrometheusRule CRD exists; without it the profile says so in
    status.components.monitoring and is not degraded.
    """

    enabled: bool = Field(
        default=True, description="Write the PrometheusRule when the cluster serves the PrometheusRule CRD."
    )
    namespace: Namespace = Field(
        default="kube-system",
        description=(
            "Namespace of the PrometheusRule: one whose rules your Prometheus loads "
            "(its ruleNamespaceSelector). It must exist; the operator does not create it."
        ),
    )
    rule_labels: dict[str, LabelValue] = Field(
        default_factory=dict,
        max_length=MAX_RULE_LABELS,
        description=(
            f"Labels on the PrometheusRule, at most {MAX_RULE_LABELS}, so your Prometheus's ruleSelector "
            "picks it (kube-prometheus-stack selects release: <its release name>)."
        ),
        json_schema_extra=schema_extra(_RULE_LABEL_KEYS),
    )
    runbook_url: str | None = Field(
        default=None,
        alias="runbookURL",
        max_length=512,
        pattern=HTTP_URL,
        description=(
            "Where this operator's docs/runbooks.md is published (your fork, an internal mirror); each "
            "alert's runbook_url annotation is this URL and the alert's section, e.g. "
            "#vmocomponentdegraded. Unset, the annotation names docs/runbooks.md and the section."
        ),
    )
    thresholds: AlertThresholds = Field(default_factory=AlertThresholds, description="When each alert fires.")

    @field_validator("rule_labels")
    @classmethod
    def _label_keys(cls, value: dict[str, str]) -> dict[str, str]:
        if not all(len(key) <= 317 and re.fullmatch(QUALIFIED_NAME, key) for key in value):
            raise ValueError(_RULE_LABEL_KEYS["message"])
        return value
