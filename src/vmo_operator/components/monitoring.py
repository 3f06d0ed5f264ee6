"""Prometheus alerts for the platform: one PrometheusRule, where the Prometheus Operator's CRD exists.

The rule is a custom resource of someone else's CRD, so the component looks for that CRD before it
renders (`fact_queries`). Without it there is nothing to write and nothing wrong: the component
reports itself skipped, with a message saying why, and never holds Available down or marks the
profile Degraded. Once the CRD appears, the next resync writes the rule; when the profile turns
monitoring off, the rule is pruned like any other owned object.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vmo_operator.api.models import VMOProfileSpec
from vmo_operator.components import _health as health
from vmo_operator.components import _workloads as w
from vmo_operator.components.alerts import rule_groups
from vmo_operator.components.base import ClusterFacts, ComponentHealth, FactQuery, Observed
from vmo_operator.kube import kinds
from vmo_operator.kube.kinds import Kind
from vmo_operator.kube.objects import Manifest, condition_is_true

COMPONENT_NAME = "monitoring"
RULE_NAME = "vmo-operator-alerts"
CRD_NAME = f"{kinds.PROMETHEUS_RULE.plural}.{kinds.PROMETHEUS_RULE.group}"
NO_CRD = (
    "the PrometheusRule CRD (monitoring.coreos.com/v1) is not installed, so no alert rules are "
    "written; they are written once it is"
)


@dataclass(frozen=True)
class PrometheusRuleCRD:
    """This component's fact: whether the cluster serves PrometheusRules."""

    established: bool


def served(facts: ClusterFacts) -> bool | None:
    """Whether the PrometheusRule CRD is Established; None when nothing was observed (offline)."""
    found = facts.of(COMPONENT_NAME, PrometheusRuleCRD)
    return None if found is None else found.established


@dataclass(frozen=True)
class MonitoringComponent:
    name: str = COMPONENT_NAME
    title: str = "Monitoring"
    owned_kinds: tuple[Kind, ...] = (kinds.PROMETHEUS_RULE,)
    fact_queries: tuple[FactQuery, ...] = (FactQuery(kinds.CRD, name=CRD_NAME),)

    def facts_from(self, found: Sequence[Sequence[Manifest]]) -> PrometheusRuleCRD:
        (crds,) = found
        return PrometheusRuleCRD(any(condition_is_true(crd, "Established") for crd in crds))

    def enabled(self, spec: VMOProfileSpec, facts: ClusterFacts) -> bool:
        # Offline (`vmo render`) nothing is known of the cluster, so the rule is left out as on a
        # cluster without the CRD: what is printed is what any cluster gets.
        return spec.monitoring.enabled and served(facts) is True

    def render(self, spec: VMOProfileSpec, facts: ClusterFacts) -> list[Manifest]:
        if not self.enabled(spec, facts):
            return []
        monitoring = spec.monitoring
        return [
            {
                "apiVersion": kinds.PROMETHEUS_RULE.api_version,
                "kind": kinds.PROMETHEUS_RULE.kind,
                "metadata": w.meta(RULE_NAME, monitoring.namespace, labels=dict(monitoring.rule_labels)),
                "spec": {"groups": rule_groups(monitoring, mac_pool=spec.mac_pool.enabled)},
            }
        ]

    def assess(
        self, spec: VMOProfileSpec, facts: ClusterFacts, rendered: Sequence[Manifest], observed: Observed
    ) -> ComponentHealth:
        if not spec.monitoring.enabled:
            return health.disabled(self.name)
        if not served(facts):
            return health.disabled(self.name, NO_CRD, skipped=True, reason="PrometheusRuleCRDNotFound")
        return health.assess_rendered(self.name, rendered, observed)


MONITORING = MonitoringComponent()
