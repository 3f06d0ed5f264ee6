"""Where operand pods may run: tolerations and node placement, with the Pod rules as CEL and pydantic."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from vmo_operator.api.models.affinity import Affinity
from vmo_operator.api.models.base import (
    QUALIFIED_NAME,
    LabelKey,
    LabelValue,
    Model,
    cel,
    schema_extra,
)

# ---------------------------------------------------------------------------------------------- shared


_TOLERATION_SECONDS_RULE = cel(
    "!has(self.tolerationSeconds) || (has(self.effect) && self.effect == 'NoExecute')",
    "tolerationSeconds is only allowed with effect NoExecute",
    ".tolerationSeconds",
)
_TOLERATION_EXISTS_VALUE_RULE = cel(
    "!(has(self.operator) && self.operator == 'Exists') || !has(self.value) || self.value == ''",
    "value must be empty when operator is Exists",
    ".value",
)
_TOLERATION_EMPTY_KEY_RULE = cel(
    "(has(self.key) && self.key != '') || (has(self.operator) && self.operator == 'Exists')",
    "operator must be Exists when key is empty (a toleration of every taint)",
    ".operator",
)


class Toleration(Model):
    """A toleration, as in a Pod spec, added to the component's pods."""

    # The rules Kubernetes applies to Pod tolerations, checked here so that a bad toleration is
    # refused at apply time instead of surfacing later as a Deployment the API server rejects.
    model_config = ConfigDict(
        json_schema_extra=schema_extra(
            _TOLERATION_SECONDS_RULE, _TOLERATION_EXISTS_VALUE_RULE, _TOLERATION_EMPTY_KEY_RULE
        )
    )

    key: LabelKey | None = Field(
        default=None, description="Taint key the toleration applies to; empty matches all keys."
    )
    operator: Literal["Exists", "Equal"] | None = Field(
        default=None, description="Exists or Equal (Kubernetes default when unset: Equal)."
    )
    value: LabelValue | None = Field(default=None, description="Taint value to match when operator is Equal.")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        default=None, description="Taint effect to match; empty matches all effects."
    )
    toleration_seconds: int | None = Field(
        default=None, ge=0, description="For NoExecute: how long the pod stays bound after the taint appears."
    )

    @model_validator(mode="after")
    def _pod_toleration_rules(self) -> Toleration:
        if self.toleration_seconds is not None and self.effect != "NoExecute":
            raise ValueError(_TOLERATION_SECONDS_RULE["message"])
        if self.operator == "Exists" and self.value:
            raise ValueError(_TOLERATION_EXISTS_VALUE_RULE["message"])
        if not self.key and self.operator != "Exists":
            raise ValueError(_TOLERATION_EMPTY_KEY_RULE["message"])
        return self


_NODE_SELECTOR_KEYS_RULE = cel(
    # CEL string literals would need the regex's backslashes doubled; [.] says the same.
    "self.all(k, size(k) <= 317 && k.matches('" + QUALIFIED_NAME.replace("\\.", "[.]") + "'))",
    "every nodeSelector key must be a label key (an optional DNS prefix and '/', then a name)",
)


# A profile has six placements; 16 labels each is far beyond real use and keeps them small.
MAX_NODE_SELECTOR = 16


class NodePlacement(Model):
    """Where a group of pods may run: node selector, tolerations and affinity, as in a Pod spec."""

    node_selector: dict[str, LabelValue] = Field(
        default_factory=dict,
        max_length=MAX_NODE_SELECTOR,
        description=(
            f"Node labels the pods require (Pod spec nodeSelector), at most {MAX_NODE_SELECTOR}: the "
            "bound keeps the whole profile small enough for etcd; use affinity for richer rules."
        ),
        json_schema_extra=schema_extra(_NODE_SELECTOR_KEYS_RULE),
    )
    tolerations: list[Toleration] = Field(
        default_factory=list, max_length=32, description="Tolerations added to the pods."
    )
    affinity: Affinity | None = Field(
        default=None,
        description=(
            "A Kubernetes Affinity (nodeAffinity, podAffinity, podAntiAffinity), checked as the API "
            "server checks a Pod's."
        ),
    )

    @field_validator("node_selector")
    @classmethod
    def _label_keys(cls, value: dict[str, str]) -> dict[str, str]:
        if not all(len(key) <= 317 and re.fullmatch(QUALIFIED_NAME, key) for key in value):
            raise ValueError(_NODE_SELECTOR_KEYS_RULE["message"])
        return value

    @property
    def empty(self) -> bool:
        return not (self.node_selector or self.tolerations or self.affinity)

    def affinity_json(self) -> dict[str, Any] | None:
        """The affinity as a Pod spec carries it: only the fields the profile sets."""
        if self.affinity is None:
            return None
        return self.affinity.model_dump(mode="json", by_alias=True, exclude_defaults=True)


class NodeSelection(Model):
    """Where pods may run by node labels and taints only: a placement without affinity, for optional
    components where a full Affinity would cost more of the profile's etcd budget than it is worth."""

    node_selector: dict[str, LabelValue] = Field(
        default_factory=dict,
        max_length=MAX_NODE_SELECTOR,
        description=f"Node labels the pods require (Pod spec nodeSelector), at most {MAX_NODE_SELECTOR}.",
        json_schema_extra=schema_extra(_NODE_SELECTOR_KEYS_RULE),
    )
    tolerations: list[Toleration] = Field(
        default_factory=list, max_length=32, description="Tolerations added to the pods."
    )

    @field_validator("node_selector")
    @classmethod
    def _label_keys(cls, value: dict[str, str]) -> dict[str, str]:
        return NodePlacement._label_keys(value)

    def as_placement(self) -> NodePlacement:
        return NodePlacement(node_selector=self.node_selector, tolerations=self.tolerations)
