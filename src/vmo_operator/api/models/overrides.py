"""`spec.kubevirt.overrides` and `spec.cdi.overrides`: JSON patches for settings the API does not model.

An escape hatch, flagged as HCO flags its jsonpatch annotations: a profile that carries any override
gets the TaintedConfiguration condition, since the operator cannot vouch for what a patch does. The
schema refuses what can be refused at admission (an operation other than add, remove, replace or
test; a path outside the CR's spec); a missing value is refused when the spec is parsed; whether a
path exists in the rendered CR is only known when rendering, and an override that does not apply is
reported in the component's Ready condition.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field, model_validator

from vmo_operator.api.models.base import Model

# A JSON pointer (RFC 6901) into the CR's spec: "/spec", or "/spec/..." with "~" only as ~0 or ~1.
SPEC_POINTER = r"^/spec(/([^~/]|~[01])*)*$"
# The profile must fit in etcd with room for its status (tests/unit/test_api_affinity.py): at most
# 10 overrides per operand, and their JSON at most 4 KiB in all, since a value has no schema to bound it.
MAX_OVERRIDES = 10
MAX_OVERRIDES_BYTES = 4096

# Only pydantic checks that add, replace and test carry a value: the value may be any JSON, so its
# schema has no type, and CEL cannot name a field without one (the API server refuses the CRD with
# "undefined field 'value'"). The operator's parse of the spec reports it instead (InvalidSpec,
# naming spec.<operand>.overrides[i]), as `vmo render` does.
VALUE_REQUIRED = "value is required for add, replace and test"


class Override(Model):
    """One JSON patch operation (RFC 6902) applied to the rendered CR, after everything the profile
    models. Overrides are unsupported by design: the profile is marked TaintedConfiguration while any
    is present, and an override that does not apply (a missing path, a failed test) is reported in
    the component's Ready condition and nothing of the patch is applied."""

    op: Literal["add", "remove", "replace", "test"] = Field(
        description="The operation: add, remove, replace or test (move and copy are not supported)."
    )
    path: str = Field(
        min_length=5,
        max_length=256,
        pattern=SPEC_POINTER,
        description=(
            "JSON pointer into the rendered CR, under /spec, e.g. "
            "/spec/configuration/developerConfiguration/logVerbosity; ~1 stands for / and ~0 for ~."
        ),
    )
    value: Any = Field(
        default=None,
        description="The value to add, replace with or test for (any JSON); not used by remove.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )

    @model_validator(mode="after")
    def _value_given(self) -> Override:
        if self.op != "remove" and "value" not in self.model_fields_set:
            raise ValueError(VALUE_REQUIRED)
        return self

    def operation(self) -> dict[str, Any]:
        """The RFC 6902 operation as JSON, for the applier."""
        out: dict[str, Any] = {"op": self.op, "path": self.path}
        if "value" in self.model_fields_set:
            out["value"] = self.value
        return out


def overrides_field(cr: str) -> Any:
    return Field(
        default_factory=list,
        max_length=MAX_OVERRIDES,
        description=(
            f"JSON patch operations (RFC 6902) applied in order to the rendered {cr} CR, for settings "
            "this API does not model. Unsupported: while any is present the profile carries the "
            "TaintedConfiguration condition. If one does not apply, none is, and the component's Ready "
            "condition says which."
        ),
    )


def within_size(overrides: list[Override]) -> list[Override]:
    """The operand's overrides, refused when their JSON is over MAX_OVERRIDES_BYTES in all."""
    size = len(json.dumps([o.operation() for o in overrides], separators=(",", ":")))
    if size > MAX_OVERRIDES_BYTES:
        raise ValueError(f"the overrides take {size} bytes as JSON, over the {MAX_OVERRIDES_BYTES} allowed")
    return overrides
