"""A replica answers nothing, not even its readiness check, before its pool is loaded.

Loaded means every reservation listed and the MACs that existing VMs and bare VMIs carry scanned
(`macpool.cache`): an answer before that could hand out a taken MAC, and a replica reported ready
before that would be sent requests it must refuse.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import kopf
from prometheus_client import CollectorRegistry

from vmo_operator.macpool import certs
from vmo_operator.macpool.settings import MacPoolSettings
from vmo_operator.operator.config import OperatorConfig
from vmo_operator.operator.macpool import admission, probe
from vmo_operator.operator.macpool.metrics import MacPoolMetrics
from vmo_operator.operator.macpool.runtime import (
    AdmissionOptions,
    Certificates,
    MacPoolRuntime,
    PoolView,
    Serving,
)
from vmo_operator.operator.reactor import Reactor

NO_API = object()  # the dry run the readiness check sends needs no API request


def readiness(runtime: MacPoolRuntime) -> str:
    dispatch = cast(kopf.WebhookFn, admission.Dispatcher(runtime))  # called as kopf's function is
    return asyncio.run(probe.admission_path(dispatch))


def test_readiness_fails_until_the_reservations_and_the_carried_macs_are_loaded(tmp_path: Path) -> None:
    options = AdmissionOptions.from_operator_config(OperatorConfig(webhook_mode="url"), tmp_path)
    runtime = MacPoolRuntime(options, NO_API, Reactor(), MacPoolMetrics(CollectorRegistry()))
    settings = MacPoolSettings()
    bundle = certs.plan_certificates(None, ["localhost"], now=datetime.now(UTC))
    view = PoolView(settings, settings.layout("0123456789ab"), "")
    runtime.serving = Serving("0123456789ab", view, Certificates.of(bundle), cast(Any, {}))
    assert readiness(runtime) == "failed"

    cache = runtime.reservations
    cache.begin_listing()
    cache.end_listing()  # every reservation listed, the carried MACs not scanned yet
    assert readiness(runtime) == "failed"

    cache.note_carried([])
    assert readiness(runtime) == "ok"
