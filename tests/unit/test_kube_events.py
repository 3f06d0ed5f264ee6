"""Events about the profile: where they are filed, how repeats become a series, and the rate limit."""

from __future__ import annotations

from typing import Any

from vmo_operator.kube import kinds
from vmo_operator.kube.client import KubeClient, KubeError
from vmo_operator.kube.events import NOTE_LIMIT, EventBook, Recorder, reference

PROFILE = {
    "apiVersion": "vmo.dev/v1alpha1",
    "kind": "VMOProfile",
    "metadata": {"name": "vmo", "uid": "u-1"},
}


class RecordingClient(KubeClient):
    """Keeps what would have been sent; `missing` names events the API server has collected."""

    def __init__(self) -> None:
        super().__init__(api_client=None)
        self.created: list[dict[str, Any]] = []
        self.patched: list[tuple[str, str, dict[str, Any]]] = []
        self.missing: set[str] = set()

    def create(self, kind: Any, obj: dict[str, Any]) -> dict[str, Any]:
        assert kind == kinds.EVENT_V1
        self.created.append(obj)
        return obj

    def merge_patch(self, kind: Any, name: str, patch: Any, namespace: str = "") -> dict[str, Any]:
        if name in self.missing:
            raise KubeError(404, "NotFound", f"events {name!r} not found")
        self.patched.append((namespace, name, patch))
        return {}


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def recorder(book: EventBook | None = None) -> tuple[Recorder, RecordingClient, Clock]:
    kube, clock = RecordingClient(), Clock()
    return Recorder(kube, instance="replica-1", book=book, clock=clock), kube, clock


def test_an_event_about_a_cluster_scoped_object_lives_in_default_and_regards_no_namespace() -> None:
    events, kube, _ = recorder()
    events.warning(PROFILE, "ReconcileFailed", "boom")
    (event,) = kube.created
    assert event["apiVersion"] == "events.k8s.io/v1"
    assert event["metadata"]["namespace"] == "default"
    assert event["regarding"] == {
        "apiVersion": "vmo.dev/v1alpha1",
        "kind": "VMOProfile",
        "name": "vmo",
        "uid": "u-1",
    }
    assert (event["type"], event["reason"], event["note"]) == ("Warning", "ReconcileFailed", "boom")
    assert event["eventTime"].endswith("Z")
    assert "." in event["eventTime"]
    assert event["reportingController"]
    assert event["reportingInstance"] == "replica-1"


def test_a_namespaced_object_keeps_its_namespace() -> None:
    vm = {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachine",
        "metadata": {"name": "a", "namespace": "n"},
    }
    assert reference(vm)["namespace"] == "n"


def test_a_repeat_becomes_a_series_at_once_and_later_repeats_are_batched() -> None:
    events, kube, clock = recorder()
    events.warning(PROFILE, "ReconcileFailed", "boom")
    name = kube.created[0]["metadata"]["name"]
    clock.now += 6
    events.warning(PROFILE, "ReconcileFailed", "boom")
    assert len(kube.created) == 1
    assert kube.patched == [
        (
            "default",
            name,
            {"series": {"count": 2, "lastObservedTime": kube.patched[0][2]["series"]["lastObservedTime"]}},
        )
    ]
    for _ in range(3):  # within the series interval: counted, not written
        clock.now += 6
        events.warning(PROFILE, "ReconcileFailed", "boom")
    assert len(kube.patched) == 1
    clock.now += 30
    events.warning(PROFILE, "ReconcileFailed", "boom")
    assert kube.patched[-1][2]["series"]["count"] == 6
    assert len(kube.created) == 1


def test_a_different_note_or_reason_is_a_different_event() -> None:
    events, kube, _ = recorder()
    events.warning(PROFILE, "ReconcileFailed", "boom")
    events.warning(PROFILE, "ReconcileFailed", "bang")
    events.normal(PROFILE, "Applied", "boom")
    assert len(kube.created) == 3


def test_new_events_about_one_object_are_rate_limited_and_refill_over_time() -> None:
    events, kube, clock = recorder(EventBook(burst=3, refill_seconds=60))
    for n in range(10):
        events.normal(PROFILE, "Applied", f"{n} created")
    assert len(kube.created) == 3
    other = {**PROFILE, "metadata": {"name": "second", "uid": "u-2"}}
    events.normal(other, "Applied", "1 created")
    assert len(kube.created) == 4, "each object has its own budget"
    clock.now += 60
    events.normal(PROFILE, "Applied", "late")
    assert len(kube.created) == 5


def test_a_collected_series_starts_a_new_event() -> None:
    events, kube, _ = recorder()
    events.warning(PROFILE, "ReconcileFailed", "boom")
    kube.missing.add(kube.created[0]["metadata"]["name"])
    events.warning(PROFILE, "ReconcileFailed", "boom")  # the patch finds nothing: forgotten
    events.warning(PROFILE, "ReconcileFailed", "boom")
    assert len(kube.created) == 2


def test_long_notes_are_cut_to_what_the_api_server_accepts() -> None:
    events, kube, _ = recorder()
    events.warning(PROFILE, "ReconcileFailed", "é" * 2000)
    assert len(kube.created[0]["note"].encode()) <= NOTE_LIMIT


def test_an_object_without_a_name_records_nothing() -> None:
    events, kube, _ = recorder()
    events.warning({}, "ReconcileFailed", "boom")
    assert kube.created == []
