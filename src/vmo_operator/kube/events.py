"""Events about an object, recorded where `kubectl describe` finds them: deduplicated and rate-limited.

events.k8s.io/v1 with `regarding`: an Event about a cluster-scoped object (a VMOProfile) must live
in a namespace ("default"), but its `regarding` carries no namespace, because `kubectl describe`
searches for events whose object namespace equals the described object's, which is empty. kopf
posts through core/v1 and stamps `involvedObject.namespace: default`, so `describe` never saw them.

The same event again (same object, type, reason and note; the API server keeps those immutable)
does not create another object: the first repeat turns it into a series at once (`x2`), later
repeats are counted and written at most every `series_interval` seconds. New events about one
object are limited by a token bucket (client-go's spam filter: a burst, then a slow refill); what
the bucket refuses is only logged at debug.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import structlog

from vmo_operator.kube import kinds
from vmo_operator.kube.client import KubeClient, KubeError
from vmo_operator.kube.objects import Manifest

log = structlog.get_logger("vmo.events")

EventType = Literal["Normal", "Warning"]
REPORTING_CONTROLLER = "vmo.dev/vmo-operator"
CLUSTER_SCOPED_EVENT_NAMESPACE = "default"
NOTE_LIMIT = 1024  # bytes; the API server refuses longer notes
SERIES_INTERVAL = 30.0
BURST = 25
REFILL_SECONDS = 60.0
REMEMBERED = 4096


def micro_time(at: float) -> str:
    """A MicroTime (RFC 3339 with microseconds), as events.k8s.io/v1 wants for eventTime."""
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def bounded_note(note: str) -> str:
    encoded = note.encode("utf-8")
    if len(encoded) <= NOTE_LIMIT:
        return note
    return encoded[: NOTE_LIMIT - 4].decode("utf-8", errors="ignore") + " ..."


def reference(obj: Mapping[str, Any]) -> dict[str, str]:
    """The `regarding` of an Event about `obj`: no namespace for a cluster-scoped object."""
    meta = obj.get("metadata") or {}
    ref = {"apiVersion": str(obj.get("apiVersion", "")), "kind": str(obj.get("kind", ""))}
    ref["name"] = str(meta.get("name", ""))
    if meta.get("namespace"):
        ref["namespace"] = str(meta["namespace"])
    if meta.get("uid"):
        ref["uid"] = str(meta["uid"])
    return ref


def event_body(
    regarding: Mapping[str, str],
    type_: EventType,
    reason: str,
    note: str,
    action: str,
    *,
    at: float,
    instance: str,
) -> Manifest:
    name = f"{regarding['name']}.{uuid.uuid4().hex[:16]}"
    return {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {
            "name": name,
            "namespace": regarding.get("namespace") or CLUSTER_SCOPED_EVENT_NAMESPACE,
        },
        "eventTime": micro_time(at),
        "reportingController": REPORTING_CONTROLLER,
        "reportingInstance": instance[:128],
        "action": action,
        "reason": reason,
        "type": type_,
        "note": note,
        "regarding": dict(regarding),
    }


Key = tuple[str, str, str, str]  # the object (uid or name), type, reason, note


@dataclass
class _Series:
    name: str
    namespace: str
    count: int = 1
    written: int = 1  # the count the API server has
    last_write: float = 0.0
    last_seen: float = 0.0


@dataclass
class _Bucket:
    tokens: float
    at: float


@dataclass(frozen=True)
class Write:
    """What to do for one occurrence: create a new Event, patch a series, or nothing yet."""

    verb: Literal["create", "series", "skip"]
    series: _Series | None = None


@dataclass
class EventBook:
    """Which occurrences become writes (pure bookkeeping; `Recorder` does the I/O)."""

    series_interval: float = SERIES_INTERVAL
    burst: int = BURST
    refill_seconds: float = REFILL_SECONDS
    remembered: int = REMEMBERED
    series: OrderedDict[Key, _Series] = field(default_factory=OrderedDict)
    buckets: dict[str, _Bucket] = field(default_factory=dict)

    def occurred(self, key: Key, now: float) -> Write:
        known = self.series.get(key)
        if known is not None:
            self.series.move_to_end(key)
            known.count += 1
            known.last_seen = now
            due = known.written == 1 or now - known.last_write >= self.series_interval
            return Write("series", known) if due else Write("skip")
        if not self._take(key[0], now):
            return Write("skip")
        return Write("create")

    def created(self, key: Key, name: str, namespace: str, now: float) -> None:
        self.series[key] = _Series(name, namespace, last_write=now, last_seen=now)
        while len(self.series) > self.remembered:
            self.series.popitem(last=False)

    def forget(self, key: Key) -> None:
        self.series.pop(key, None)

    def _take(self, subject: str, now: float) -> bool:
        bucket = self.buckets.setdefault(subject, _Bucket(float(self.burst), now))
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) / self.refill_seconds)
        bucket.at = now
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True


class Recorder:
    """Records Events about objects through the one client; thread-safe, never raises."""

    def __init__(
        self,
        kube: KubeClient,
        *,
        instance: str = "",
        book: EventBook | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.kube = kube
        self.instance = instance or os.environ.get("HOSTNAME") or "vmo-operator"
        self.book = book or EventBook()
        self.clock = clock
        self._lock = threading.Lock()

    def normal(self, obj: Mapping[str, Any], reason: str, note: str, action: str = "Reconcile") -> None:
        self.record(obj, "Normal", reason, note, action)

    def warning(self, obj: Mapping[str, Any], reason: str, note: str, action: str = "Reconcile") -> None:
        self.record(obj, "Warning", reason, note, action)

    def record(
        self, obj: Mapping[str, Any], type_: EventType, reason: str, note: str, action: str = "Reconcile"
    ) -> None:
        regarding = reference(obj)
        if not regarding["name"]:
            return  # the object is gone (read as nothing): there is nothing to attach an Event to
        note = bounded_note(note)
        key: Key = (regarding.get("uid") or regarding["name"], type_, reason, note)
        with self._lock:
            now = self.clock()
            write = self.book.occurred(key, now)
            try:
                if write.verb == "create":
                    body = event_body(regarding, type_, reason, note, action, at=now, instance=self.instance)
                    self.kube.create(kinds.EVENT_V1, body)
                    self.book.created(key, body["metadata"]["name"], body["metadata"]["namespace"], now)
                elif write.verb == "series" and write.series is not None:
                    self._write_series(key, write.series, now)
                else:
                    log.debug("event suppressed", reason=reason, object=regarding["name"])
            except KubeError as exc:
                log.warning("event not recorded", reason=reason, object=regarding["name"], error=str(exc))

    def _write_series(self, key: Key, series: _Series, now: float) -> None:
        patch = {"series": {"count": series.count, "lastObservedTime": micro_time(series.last_seen)}}
        try:
            self.kube.merge_patch(kinds.EVENT_V1, series.name, patch, series.namespace)
        except KubeError as exc:
            if exc.status != 404:
                raise
            # The API server's event TTL (an hour by default) collected it: the next one starts anew.
            self.book.forget(key)
            return
        series.written, series.last_write = series.count, now
