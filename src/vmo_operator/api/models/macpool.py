"""`spec.macPool`: which MAC prefixes the allocator hands out, where, and how it treats duplicates."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from vmo_operator.api.models.base import (
    CLUSTER_ID,
    MAC_PREFIXES,
    LabelKey,
    LabelValue,
    Model,
    cel,
    require_unique,
    schema_extra,
)

# ------------------------------------------------------------------------------------------------ macs


class LabelSelectorRequirement(Model):
    """One expression of a label selector."""

    model_config = ConfigDict(
        json_schema_extra=schema_extra(
            cel(
                "self.operator in ['In', 'NotIn'] ? (has(self.values) && size(self.values) > 0)"
                " : (!has(self.values) || size(self.values) == 0)",
                "values must be non-empty for In and NotIn, and empty for Exists and DoesNotExist",
                ".values",
            )
        )
    )

    key: LabelKey = Field(description="Label key the expression applies to.")
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"] = Field(
        description="How the key relates to the values."
    )
    values: list[LabelValue] = Field(
        default_factory=list, max_length=64, description="Values for In and NotIn; empty otherwise."
    )

    @model_validator(mode="after")
    def _values_match_operator(self) -> LabelSelectorRequirement:
        if (self.operator in ("In", "NotIn")) != bool(self.values):
            raise ValueError(
                "values must be non-empty for In and NotIn, and empty for Exists and DoesNotExist"
            )
        return self


class LabelSelector(Model):
    """A Kubernetes label selector; all terms must match."""

    match_labels: dict[str, str] = Field(
        default_factory=dict, max_length=64, description="Labels that must be equal."
    )
    match_expressions: list[LabelSelectorRequirement] = Field(
        default_factory=list, max_length=16, description="Expressions that must all hold."
    )


def _default_namespace_selector() -> LabelSelector:
    return LabelSelector(
        match_expressions=[
            LabelSelectorRequirement(
                key="kubernetes.io/metadata.name", operator="NotIn", values=["kube-system"]
            )
        ]
    )


class MacPoolSpec(Model):
    """Cluster-unique MAC addresses for VM interfaces, assigned at admission."""

    enabled: bool = Field(default=True, description="Assign MAC addresses to VM interfaces that have none.")
    prefixes: list[Annotated[str, Field(min_length=2, max_length=2)]] = Field(
        default=list(MAC_PREFIXES),
        min_length=1,
        max_length=4,
        description=(
            "First octets to allocate from. Only locally administered unicast values are allowed: 02, 06, "
            "0A, 0E (case-insensitive)."
        ),
        json_schema_extra=schema_extra(
            cel(
                "self.all(p, p.matches('^0[26aAeE]$'))",
                "MAC prefixes must be locally administered unicast first octets: 02, 06, 0A or 0E",
            ),
            cel(
                "self.all(p, self.filter(q, q.upperAscii() == p.upperAscii()).size() == 1)",
                "MAC prefixes must be unique (case-insensitive)",
            ),
        ),
    )
    cluster_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        pattern=CLUSTER_ID,
        description=(
            "Stable identifier hashed into octets 2 and 3 of every MAC. Unset: the UID of the kube-system "
            "namespace. Set it when clusters must keep their MAC range across a rebuild."
        ),
    )
    duplicate_policy: Literal["Deny", "Warn"] = Field(
        default="Deny",
        description=(
            "What to do when a VM asks for a MAC another VM already "
            "holds: reject it, or admit it with a warning."
        ),
    )
    namespace_selector: LabelSelector = Field(
        default_factory=_default_namespace_selector,
        description=(
            "Namespaces whose VMs get MACs. Default: every namespace but kube-system. The operator's own "
            "namespace is always excluded."
        ),
    )
    release_grace_period_seconds: int = Field(
        default=300,
        ge=0,
        le=86400,
        description=(
            "Seconds a reserved MAC stays held after its VM is gone or its creation failed, before reuse."
        ),
    )
    max_reservations_per_namespace: int = Field(
        default=4096,
        ge=1,
        le=1_000_000,
        description=(
            "MAC reservations one namespace may hold (pending, in use, or released and still in their "
            "grace period); a VM that would need more is refused. Bounds what one tenant can cost the "
            "allocator's replicas."
        ),
    )
    spares_per_replica: int = Field(
        default=64,
        ge=0,
        le=4096,
        description=(
            "MACs each operator replica reserves ahead of demand, so admitting a VM writes nothing: a burst "
            "of creates needing up to this many MACs per replica is answered from memory, and each one used "
            "is replaced after the answer. Size it for the largest burst of new interfaces expected; 0 "
            "reserves every MAC while the request waits. An idle cluster writes nothing either way."
        ),
    )

    @field_validator("prefixes")
    @classmethod
    def _prefixes_allowed(cls, value: list[str]) -> list[str]:
        normalized = [p.upper() for p in value]
        bad = [p for p, n in zip(value, normalized, strict=True) if n not in MAC_PREFIXES]
        if bad:
            raise ValueError(
                f"{', '.join(bad)}: MAC prefixes must be locally "
                f"administered unicast first octets: 02, 06, 0A or 0E"
            )
        require_unique(normalized, "MAC prefix")
        return normalized
