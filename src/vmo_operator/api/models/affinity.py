"""`affinity`: the Kubernetes Affinity type (core/v1), field for field, with the API server's own rules.

It used to be passed through as free-form JSON, so a misspelt key passed admission and failed at
apply with "failed to create typed patch object", and a rule only the Deployment's validation knew
(`values` for `In`) failed there. Typed, the API server prunes or refuses unknown keys (kubectl
refuses them), and CEL checks what Pod validation would. tests/integration/test_isolation.py
compares these fields with the API server's own OpenAPI schema of io.k8s.api.core.v1.Affinity.

Every list is bounded so that a profile with every list full stays below etcd's 1.5 MiB object
limit (tests/unit/test_api_affinity.py builds that profile): an oversized profile is refused at
admission, naming the field, instead of failing in etcd.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from vmo_operator.api.models.base import QUALIFIED_NAME, LabelKey, LabelValue, Model, cel, schema_extra
from vmo_operator.api.models.macpool import LabelSelectorRequirement as _SelectorRequirement

MAX_TERMS = 3
MAX_EXPRESSIONS = 4
MAX_VALUES = 8
MAX_POD_TERMS = 1
MAX_NAMESPACES = 8
MAX_MATCH_LABELS = 4
MAX_SELECTOR_EXPRESSIONS = 2
MAX_LABEL_KEYS = 2

_NODE_VALUES_RULE = cel(
    "self.operator in ['In', 'NotIn'] ? (has(self.values) && size(self.values) > 0) : "
    "self.operator in ['Gt', 'Lt'] ? (has(self.values) && size(self.values) == 1 "
    "&& self.values[0].matches('^-?[0-9]+$')) : (!has(self.values) || size(self.values) == 0)",
    "values must be non-empty for In and NotIn, one integer for Gt and Lt, and empty for Exists and "
    "DoesNotExist",
    ".values",
)


class NodeSelectorRequirement(Model):
    """A node selector requirement: a key, an operator and values (core/v1 NodeSelectorRequirement)."""

    model_config = ConfigDict(json_schema_extra=schema_extra(_NODE_VALUES_RULE))

    key: LabelKey = Field(description="The label key the selector applies to.")
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"] = Field(
        description="How the key relates to the values."
    )
    values: list[LabelValue] = Field(
        default_factory=list,
        max_length=MAX_VALUES,
        description="Values for In and NotIn; one integer for Gt and Lt; empty otherwise.",
    )

    @model_validator(mode="after")
    def _values_match_operator(self) -> NodeSelectorRequirement:
        if self.operator in ("In", "NotIn"):
            ok = bool(self.values)
        elif self.operator in ("Gt", "Lt"):
            ok = len(self.values) == 1 and self.values[0].lstrip("-").isdigit()
        else:
            ok = not self.values
        if not ok:
            raise ValueError(_NODE_VALUES_RULE["message"])
        return self


class NodeSelectorTerm(Model):
    """Requirements that must all hold (core/v1 NodeSelectorTerm)."""

    match_expressions: list[NodeSelectorRequirement] = Field(
        default_factory=list, max_length=MAX_EXPRESSIONS, description="Requirements by node labels."
    )
    match_fields: list[NodeSelectorRequirement] = Field(
        default_factory=list, max_length=1, description="Requirements by node fields (metadata.name)."
    )


class NodeSelector(Model):
    """Terms of which at least one must hold (core/v1 NodeSelector)."""

    node_selector_terms: list[NodeSelectorTerm] = Field(
        min_length=1, max_length=MAX_TERMS, description="The terms; at least one."
    )


class PreferredSchedulingTerm(Model):
    """A weighted node preference (core/v1 PreferredSchedulingTerm)."""

    weight: int = Field(ge=1, le=100, description="Weight, 1 to 100.")
    preference: NodeSelectorTerm = Field(description="The node selector term.")


class NodeAffinity(Model):
    """Node affinity (core/v1 NodeAffinity)."""

    required_during_scheduling_ignored_during_execution: NodeSelector | None = Field(
        default=None, description="Nodes the pod must run on."
    )
    preferred_during_scheduling_ignored_during_execution: list[PreferredSchedulingTerm] = Field(
        default_factory=list, max_length=MAX_TERMS, description="Nodes the pod prefers."
    )


class SelectorRequirement(_SelectorRequirement):
    """One expression of a label selector (meta/v1 LabelSelectorRequirement)."""

    values: list[LabelValue] = Field(
        default_factory=list, max_length=MAX_VALUES, description="Values for In and NotIn; empty otherwise."
    )


class PodLabelSelector(Model):
    """A bounded label selector (meta/v1 LabelSelector): over pods or namespaces, or nodes for KSM."""

    match_labels: dict[str, LabelValue] = Field(
        default_factory=dict, max_length=MAX_MATCH_LABELS, description="Labels that must be equal."
    )
    match_expressions: list[SelectorRequirement] = Field(
        default_factory=list,
        max_length=MAX_SELECTOR_EXPRESSIONS,
        description="Expressions that must all hold.",
    )


class PodAffinityTerm(Model):
    """Pods to be near (or away from), within a topology domain (core/v1 PodAffinityTerm)."""

    label_selector: PodLabelSelector | None = Field(default=None, description="The pods.")
    namespaces: list[LabelValue] = Field(
        default_factory=list, max_length=MAX_NAMESPACES, description="Namespaces of the pods."
    )
    namespace_selector: PodLabelSelector | None = Field(
        default=None, description="Namespaces of the pods, by label."
    )
    topology_key: str = Field(
        min_length=1, max_length=317, pattern=QUALIFIED_NAME, description="Node label of the domain."
    )
    match_label_keys: list[LabelKey] = Field(
        default_factory=list, max_length=MAX_LABEL_KEYS, description="Pod label keys to match as well."
    )
    mismatch_label_keys: list[LabelKey] = Field(
        default_factory=list, max_length=MAX_LABEL_KEYS, description="Pod label keys that must differ."
    )


class WeightedPodAffinityTerm(Model):
    """A weighted pod (anti-)affinity preference (core/v1 WeightedPodAffinityTerm)."""

    weight: int = Field(ge=1, le=100, description="Weight, 1 to 100.")
    pod_affinity_term: PodAffinityTerm = Field(description="The term.")


class PodAffinity(Model):
    """Pod affinity or anti-affinity (core/v1 PodAffinity, PodAntiAffinity)."""

    required_during_scheduling_ignored_during_execution: list[PodAffinityTerm] = Field(
        default_factory=list, max_length=MAX_POD_TERMS, description="Terms that must hold."
    )
    preferred_during_scheduling_ignored_during_execution: list[WeightedPodAffinityTerm] = Field(
        default_factory=list, max_length=MAX_POD_TERMS, description="Terms preferred."
    )


class Affinity(Model):
    """A Kubernetes Affinity (core/v1): node affinity, pod affinity and pod anti-affinity."""

    node_affinity: NodeAffinity | None = Field(default=None, description="Node affinity.")
    pod_affinity: PodAffinity | None = Field(default=None, description="Pod affinity.")
    pod_anti_affinity: PodAffinity | None = Field(default=None, description="Pod anti-affinity.")
