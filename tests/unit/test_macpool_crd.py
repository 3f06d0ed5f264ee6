"""The MACReservation CRD: generated file in sync, and the schema accepts what the store writes."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from vmo_operator.macpool import crd
from vmo_operator.macpool import mac as macs
from vmo_operator.macpool.reservation import Holder, Reservation

REPO = Path(__file__).resolve().parents[2]


def test_generated_crd_file_is_up_to_date() -> None:
    assert (REPO / crd.CRD_FILE).read_text() == crd.crd_yaml(), (
        "run: python -m vmo_operator.macpool.crd --write"
    )


def test_schema_patterns_accept_the_objects_the_store_writes() -> None:
    reservation = Reservation(
        macs.parse("0e:ab:cd:00:10:ff"),
        Holder("VirtualMachine", "ns", "vm"),
        "nic",
        "Pending",
        datetime(2026, 1, 1, tzinfo=UTC),
    )
    obj = reservation.to_object()
    schema = crd.macreservation_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    spec = schema["properties"]["spec"]
    assert re.match(spec["properties"]["mac"]["pattern"], obj["spec"]["mac"])
    assert re.match(
        schema["properties"]["metadata"]["properties"]["name"]["pattern"], obj["metadata"]["name"]
    )
    assert set(spec["required"]) <= set(obj["spec"])
    assert obj["metadata"]["name"] == "mac-" + obj["spec"]["mac"].replace(":", "")
    assert obj["spec"]["state"] in spec["properties"]["state"]["enum"]
