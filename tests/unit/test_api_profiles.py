"""Rules about whole profiles: which one is active, and how a spec that fails validation reads."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from vmo_operator.api import models, profiles


def profile(name: str, created: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "creationTimestamp": created}}


def test_the_oldest_profile_is_active_and_a_tie_goes_to_the_first_name() -> None:
    older, newer = profile("zeta", "2024-01-01T00:00:00Z"), profile("alpha", "2024-01-02T00:00:00Z")
    assert profiles.active_profile([newer, older]) is older
    twin_a, twin_b = profile("a", "2024-01-01T00:00:00Z"), profile("b", "2024-01-01T00:00:00Z")
    assert profiles.active_profile([twin_b, twin_a]) is twin_a
    assert profiles.active_profile([]) is None


def spec_problem(spec: Any) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        models.parse_spec(spec)
    return caught.value


def test_a_spec_error_names_each_field_as_the_api_server_does() -> None:
    error = spec_problem({"multus": {"networks": [{"name": "v", "vlan": 5000}]}, "bogus": 1})
    message = profiles.spec_error(error)
    assert "spec.multus.networks[0].vlan: Input should be less than or equal to 4094" in message
    assert "spec.bogus: Extra inputs are not permitted" in message
    assert message.count("; ") == 1


def test_a_problem_with_the_whole_value_is_reported_at_its_prefix() -> None:
    error = spec_problem(["not", "a", "mapping"])
    assert profiles.spec_error(error).startswith("spec: ")
    assert profiles.validation_problems(error)[0].startswith("(root): ")
