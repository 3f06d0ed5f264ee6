"""Conditions keep their transition time until their status flips, in a stable order."""

from __future__ import annotations

from vmo_operator.engine.conditions import MAX_MESSAGE_BYTES, ConditionSpec, set_conditions
from vmo_operator.kube.objects import condition_is_true

ORDER = ("Available", "Progressing")


def test_new_condition_gets_now_and_generation() -> None:
    result = set_conditions(
        [], [ConditionSpec("Available", "False", "Init", "starting")], generation=3, now="T1", order=ORDER
    )
    assert result == [
        {
            "type": "Available",
            "status": "False",
            "reason": "Init",
            "message": "starting",
            "lastTransitionTime": "T1",
            "observedGeneration": 3,
        }
    ]


def test_same_status_keeps_transition_time_but_updates_reason_and_generation() -> None:
    first = set_conditions([], [ConditionSpec("Available", "False", "Init")], generation=1, now="T1")
    second = set_conditions(
        first, [ConditionSpec("Available", "False", "KubeVirtNotAvailable", "m")], generation=2, now="T2"
    )
    assert second[0]["lastTransitionTime"] == "T1"
    assert second[0]["reason"] == "KubeVirtNotAvailable"
    assert second[0]["observedGeneration"] == 2


def test_flip_moves_transition_time() -> None:
    first = set_conditions([], [ConditionSpec("Available", "False", "Init")], generation=1, now="T1")
    flipped = set_conditions(first, [ConditionSpec("Available", "True", "Ready")], generation=1, now="T2")
    assert flipped[0]["lastTransitionTime"] == "T2"
    assert condition_is_true({"status": {"conditions": flipped}}, "Available")


def test_order_puts_known_types_first_then_by_name() -> None:
    result = set_conditions(
        [],
        [ConditionSpec(t, "True", "R") for t in ("ZetaReady", "Progressing", "AlphaReady", "Available")],
        generation=1,
        now="T",
        order=ORDER,
    )
    assert [c["type"] for c in result] == ["Available", "Progressing", "AlphaReady", "ZetaReady"]


def test_untouched_conditions_are_kept() -> None:
    first = set_conditions([], [ConditionSpec("Custom", "True", "X")], generation=1, now="T1")
    result = set_conditions(first, [ConditionSpec("Available", "True", "R")], generation=2, now="T2")
    custom = next((c for c in result if c["type"] == "Custom"), None)
    assert custom is not None
    assert custom["observedGeneration"] == 1


def test_a_huge_message_is_cut_below_the_crd_limit_the_same_way_every_time() -> None:
    """API errors can echo a hostile spec value; an over-long message would make the status write fail."""
    echo = "ünïcødé " * 20000
    first = set_conditions(
        [], [ConditionSpec("Degraded", "True", "ApplyFailed", echo)], generation=1, now="t"
    )
    again = set_conditions(
        first, [ConditionSpec("Degraded", "True", "ApplyFailed", echo)], generation=1, now="t"
    )
    message = first[0]["message"]
    assert len(message.encode("utf-8")) <= MAX_MESSAGE_BYTES
    assert message.startswith("ünïcødé ")
    assert message.endswith("(truncated)")
    assert again == first
