"""Which log lines are routine (debug) and how kopf's lines name their object."""

from __future__ import annotations

import logging

import pytest

from vmo_operator.operator.logs import Routine, name_the_object


def record(name: str, message: str, level: int = logging.INFO, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord(name, level, __file__, 1, message, None, None)
    for key, value in extra.items():
        setattr(made, key, value)
    return made


@pytest.mark.parametrize(
    ("name", "message", "routine"),
    [
        ("kopf.objects", "Handler 'owned_event' succeeded.", True),
        ("kopf.objects", "Webhook 'macpool-validate-vm' succeeded.", True),
        ("aiohttp.access", '127.0.0.1 "POST /macpool-validate-vm HTTP/1.1" 200 "-" "-"', True),
        ("kopf.objects", "Webhook 'macpool-mutate-vm' failed permanently: MAC 02:00 is in use", True),
        ("kopf.objects", "Handler 'profile_deleted' failed temporarily: boom", False),
        ("vmo.profile", "reconciled", False),
        ("kopf.objects", "Daemon 'profile_loop' is cancelled. Will escalate.", False),
    ],
)
def test_routine_lines_are_demoted_to_debug(name: str, message: str, routine: bool) -> None:
    line = record(name, message)
    shown_at_info = Routine(logging.INFO).filter(line)
    assert shown_at_info is not routine
    assert (line.levelno == logging.DEBUG) is routine
    assert Routine(logging.DEBUG).filter(record(name, message)), "--log-level=debug shows everything"


def test_kopfs_lines_name_their_object() -> None:
    ref = {"kind": "VMOProfile", "name": "vmo", "namespace": None}
    event = name_the_object(None, "info", {"_record": record("kopf.objects", "x", k8s_ref=ref)})
    assert event["object"] == "VMOProfile/vmo"
    vm = {"kind": "VirtualMachine", "name": "a", "namespace": "n"}
    assert name_the_object(None, "info", {"_record": record("kopf.objects", "x", k8s_ref=vm)})["object"] == (
        "VirtualMachine/n/a"
    )
    assert "object" not in name_the_object(None, "info", {"_record": record("vmo", "x")})
