"""Watches for kinds whose CRDs come and go: owned custom kinds (KubeVirt, CDI, NADs,
VolumeSnapshotClasses) and KubeVirt's VirtualMachines and VirtualMachineInstances.

kopf watches built-in kinds well, but when a CRD disappears while kopf is streaming its objects
(which happens every time a component is disabled or a profile is removed) its watcher fails with
404 and takes the whole operator down. These watchers treat 404 as "not installed right now",
back off and retry, and resume from the last resourceVersion or bookmark they saw. They start
from "now", not from a listing: their users reconcile existing objects by other means (the
profile loop, the MAC audit), and skipping the listing keeps 10,000 VMs out of memory.

`ListWatcher` is the exception: it keeps a `Mirror` of every object of a kind (the MAC
reservations), so it lists first, page by page, and lists again after every gap.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol, Self

import structlog

from vmo_operator.kube import objects
from vmo_operator.kube.client import KubeClient, KubeError
from vmo_operator.kube.kinds import Kind
from vmo_operator.kube.objects import MANAGED_SELECTOR

BUILTIN_GROUPS = frozenset(
    {
        "",
        "apps",
        "batch",
        "policy",
        "rbac.authorization.k8s.io",
        "scheduling.k8s.io",
        "storage.k8s.io",
        "apiextensions.k8s.io",
        "admissionregistration.k8s.io",
        "networking.k8s.io",
        "coordination.k8s.io",
        "autoscaling",
        "events.k8s.io",
        "discovery.k8s.io",
        "node.k8s.io",
        "certificates.k8s.io",
    }
)
log = structlog.get_logger("vmo.watch")


def is_custom(kind: Kind) -> bool:
    return kind.group not in BUILTIN_GROUPS


EventHandler = Callable[[str, dict[str, Any]], None]
"""Called in the watcher's thread with the event type (ADDED, MODIFIED, DELETED) and the object."""


def profile_of(on_change: Callable[[str | None], None]) -> EventHandler:
    """An event handler that reports the profile an owned object belongs to."""
    return lambda _type, obj: on_change(objects.profile_of(obj))


class KindWatcher:
    """One thread that keeps a watch on one kind and hands every event to `on_event`."""

    def __init__(
        self,
        kube: KubeClient,
        kind: Kind,
        on_event: EventHandler,
        *,
        label_selector: str = MANAGED_SELECTOR,
        retry_seconds: float = 5.0,
    ) -> None:
        self.kube = kube
        self.kind = kind
        self.on_event = on_event
        self.label_selector = label_selector
        self.retry_seconds = retry_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"watch-{kind.plural}", daemon=True)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        selector = self.label_selector
        version = ""
        while not self._stop.is_set():
            try:
                if not version:
                    version = self._start_version()
                for event in self.kube.watch(self.kind, label_selector=selector, resource_version=version):
                    if self._stop.is_set():
                        return
                    version = self._handle(event, version)
            except KubeError as exc:
                if exc.status == 410:
                    version = ""  # too old: start over from a fresh list version
                    continue
                if exc.status != 404:
                    log.warning("watch failed", kind=self.kind.kind, error=str(exc))
                version = ""
                self._stop.wait(self.retry_seconds)
            except Exception:
                log.exception("watch crashed", kind=self.kind.kind)
                version = ""
                self._stop.wait(self.retry_seconds)

    def _start_version(self) -> str:
        """Where a (re)started watch begins: now."""
        return self.kube.current_version(self.kind, label_selector=self.label_selector)

    def _handle(self, event: dict[str, Any], version: str) -> str:
        obj = event.get("object") or {}
        meta = obj.get("metadata") or {}
        if event.get("type") == "ERROR":
            code = int(obj.get("code", 0))
            raise KubeError(code, str(obj.get("reason", "")), str(obj.get("message", "")))
        if event.get("type") != "BOOKMARK":
            self.on_event(str(event.get("type", "")), obj)
        return str(meta.get("resourceVersion") or version)


class Mirror(Protocol):
    """What a `ListWatcher` keeps current: a full listing, then every change."""

    def begin_listing(self) -> None: ...

    def upsert(self, obj: Mapping[str, Any]) -> None: ...

    def remove(self, obj: Mapping[str, Any]) -> None: ...

    def end_listing(self) -> None:
        """The listing is complete: whatever it did not deliver is gone."""


class ListWatcher(KindWatcher):
    """A `KindWatcher` that mirrors every object of its kind: it lists (paged) before it watches
    from the list's resourceVersion, and lists again after a gap (410 Gone, an error), so a
    deletion the gap hid still leaves the mirror."""

    def __init__(
        self,
        kube: KubeClient,
        kind: Kind,
        mirror: Mirror,
        *,
        label_selector: str = "",
        retry_seconds: float = 5.0,
    ) -> None:
        super().__init__(
            kube, kind, self._dispatch, label_selector=label_selector, retry_seconds=retry_seconds
        )
        self.mirror = mirror

    def _dispatch(self, event_type: str, obj: dict[str, Any]) -> None:
        if event_type == "DELETED":
            self.mirror.remove(obj)
        else:
            self.mirror.upsert(obj)

    def _start_version(self) -> str:
        self.mirror.begin_listing()
        version = self.kube.list_into(self.kind, self.mirror.upsert, label_selector=self.label_selector)
        self.mirror.end_listing()
        return version
