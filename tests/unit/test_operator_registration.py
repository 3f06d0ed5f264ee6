"""What `vmo run` registers with kopf: handler ids are persisted in annotations, so they must not move.

kopf offers no public way to list a registry's handlers; its per-cause registries are read here.
"""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry

from vmo_operator.kube.client import KubeClient
from vmo_operator.macpool import admission_config
from vmo_operator.operator import handlers, main
from vmo_operator.operator.config import OperatorConfig
from vmo_operator.operator.macpool import admission, lifecycle
from vmo_operator.operator.macpool.metrics import MacPoolMetrics
from vmo_operator.operator.macpool.runtime import AdmissionOptions, MacPoolRuntime
from vmo_operator.operator.metrics import ProfileMetrics
from vmo_operator.operator.reactor import Reactor

NO_API = object()  # nothing is requested while handlers are only registered


def test_profile_handlers_keep_the_ids_of_plain_functions() -> None:
    registry = main._registry()
    runtime = handlers.Runtime(KubeClient(NO_API), OperatorConfig(), ProfileMetrics(CollectorRegistry()))
    handlers.register(registry, runtime)
    activities = {h.id for h in registry._activities.get_all_handlers()}
    assert {
        "vmo-login",
        "configure",
        "start_custom_kind_watchers",
        "stop_custom_kind_watchers",
    } <= activities
    assert {h.id for h in registry._spawning.get_all_handlers()} == {"profile_loop"}
    assert {h.id for h in registry._changing.get_all_handlers()} == {"profile_deleted"}
    assert {h.id for h in registry._watching.get_all_handlers()} == {
        "owned_event",
        "profile_event",
        "namespace_event",
    }


def test_the_mac_wiring_serves_four_webhooks_itself_registers_one_index_and_its_lifecycle(
    tmp_path: Path,
) -> None:
    registry = main._registry()
    options = AdmissionOptions.from_operator_config(OperatorConfig(webhook_mode="url"), tmp_path)
    runtime = MacPoolRuntime(options, NO_API, Reactor(), MacPoolMetrics(CollectorRegistry()))
    lifecycle.register(registry, runtime)
    # The webhooks bypass kopf's admission dispatch: the Dispatcher routes every path itself.
    assert registry._webhooks.get_all_handlers() == []
    assert set(admission.Dispatcher(runtime)._routes) == {
        admission_config.MUTATE_VM,
        admission_config.MUTATE_VMI,
        admission_config.VALIDATE_VM,
        admission_config.VALIDATE_VMI,
    }
    # Namespaces only: kopf never watches MACReservations, whose per-object records cost KiBs each
    # (the reservations live in the runtime's compact cache instead, `macpool.cache`).
    assert {h.id for h in registry._indexing.get_all_handlers()} == {"macpool_namespace_labels"}
    activities = {h.id for h in registry._activities.get_all_handlers()}
    assert {"macpool-startup", "macpool-cleanup"} <= activities
    assert {h.id for h in registry._watching.get_all_handlers()} == {"macpool-profile-event"}
    assert runtime.serving is None  # admission answers 503 until the startup handler has run
