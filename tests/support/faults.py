"""Faults that tests and benchmarks inject the same way: VM creates under fire, an API server
restart with its recovery measured, a concurrent writer fighting the operator.

The measuring code lives here once, so `make bench` reports exactly what the fault tests assert.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.support.kube import manifest
from tests.support.vms import VM_API, vm_body, vm_macs
from tests.support.waiting import eventually
from vmo_operator.localenv.controlplane import ControlPlane
from vmo_operator.macpool import mac as macs


@dataclass
class VmCreator:
    """Creates VMs one after another in a thread until stopped (or `limit` attempts), and records
    when each attempt succeeded or failed. A failure (the API server or webhook away) backs off a
    little before the next attempt, so an outage does not become a busy loop."""

    api: Any
    namespace: str
    prefix: str = "burst"
    limit: int = 2000
    backoff: float = 0.05
    created: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    failures: list[tuple[float, str]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> VmCreator:
        self._thread = threading.Thread(target=self._run, name="vm-creator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> VmCreator:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        return self

    def _run(self) -> None:
        custom = client.CustomObjectsApi(self.api)
        for attempt in range(self.limit):
            if self._stop.is_set():
                return
            body = vm_body(f"{self.prefix}-{attempt:05d}", {"a": None, "b": None})
            try:
                vm = custom.create_namespaced_custom_object(
                    *VM_API, self.namespace, "virtualmachines", body, _request_timeout=15
                )
            except Exception as exc:  # connection refused, 5xx, timeouts: all part of the fault
                self.failures.append((time.monotonic(), _describe(exc)))
                self._stop.wait(self.backoff)
                continue
            self.created.append((time.monotonic(), manifest(vm)))

    def created_since(self, moment: float) -> int:
        return sum(1 for at, _ in self.created if at >= moment)

    def without_valid_macs(self) -> list[str]:
        """Created VMs missing a valid MAC on some interface: what failurePolicy Fail must prevent."""
        bad = []
        for _, vm in self.created:
            found = list(vm_macs(vm).values())
            if not found or not all(m and isinstance(macs.check(m), macs.Mac) for m in found):
                bad.append(vm["metadata"]["name"])
        return bad


def _describe(exc: Exception) -> str:
    if isinstance(exc, ApiException):
        return f"{exc.status} {exc.reason}"
    return type(exc).__name__


@dataclass(frozen=True)
class RestartRecovery:
    """How an API server restart went: seconds from the restart until each thing worked again."""

    outage: float  # kube-apiserver stopped until /readyz answered again
    profile: float  # API server ready until a change made after the restart was Available
    vm_create: float  # API server ready until a VM create was admitted with MACs again
    created: int
    failed_attempts: int

    @property
    def recovery(self) -> float:
        return max(self.profile, self.vm_create)


def restart_apiserver_under_load(
    plane: ControlPlane,
    api: Any,
    *,
    namespace: str,
    change_before: Callable[[], None],
    change_after: Callable[[], int],
    available: Callable[[int], bool],
    timeout: float = 180,
) -> tuple[RestartRecovery, VmCreator]:
    """Restart kube-apiserver while VMs are being created and the operator reconciles a change.

    `change_before` edits the profile just before the restart (the operator is reconciling it when
    the API server goes away); `change_after` edits it again as soon as the API server is back and
    returns the generation to wait for; `available(generation)` says whether the profile is
    Available for it. The creator keeps running until both recovered; the caller stops it.
    """
    creator = VmCreator(api, namespace).start()
    eventually(lambda: len(creator.created) >= 3, timeout=60, what="VM creation under way")
    change_before()
    stopped = time.monotonic()
    plane.restart_apiserver()
    ready = time.monotonic()
    generation = eventually(change_after, timeout=30, interval=0.1, what="profile edit after the restart")
    profile_at = eventually(
        lambda: time.monotonic() if available(generation) else None,
        timeout=timeout,
        interval=0.1,
        what="profile Available after the restart",
    )
    vm_at = eventually(
        lambda: next((at for at, _ in creator.created if at >= ready), None),
        timeout=timeout,
        interval=0.1,
        what="a VM admitted with MACs after the restart",
    )
    return (
        RestartRecovery(
            outage=ready - stopped,
            profile=profile_at - ready,
            vm_create=vm_at - ready,
            created=len(creator.created),
            failed_attempts=len(creator.failures),
        ),
        creator,
    )


@dataclass
class ConcurrentWriter:
    """Someone else editing objects the operator manages, as `kubectl scale` or `kubectl edit`
    would: a read-modify-write with the resourceVersion it read, so it too can lose races (409)."""

    api: Any
    deployment: tuple[str, str]  # namespace, name
    nad: tuple[str, str] | None = None  # namespace, name
    iterations: int = 40
    writes: int = 0
    conflicts: int = 0
    errors: list[str] = field(default_factory=list)

    def run(self) -> ConcurrentWriter:
        apps = client.AppsV1Api(self.api)
        custom = client.CustomObjectsApi(self.api)
        namespace, name = self.deployment
        for iteration in range(self.iterations):
            try:
                if iteration % 2 == 0 or self.nad is None:
                    live = apps.read_namespaced_deployment(name, namespace)
                    live.spec.replicas = 5 + iteration % 3
                    apps.replace_namespaced_deployment(name, namespace, live)
                else:
                    nad_namespace, nad_name = self.nad
                    coordinates = ("k8s.cni.cncf.io", "v1", nad_namespace, "network-attachment-definitions")
                    obj = manifest(custom.get_namespaced_custom_object(*coordinates, nad_name))
                    obj["spec"]["config"] = f'{{"cniVersion":"0.3.1","type":"macvlan","n":{iteration}}}'
                    custom.replace_namespaced_custom_object(*coordinates, nad_name, obj)
                self.writes += 1
            except ApiException as exc:
                if exc.status == 409:
                    self.conflicts += 1
                elif exc.status == 404:
                    self.errors.append(f"{iteration}: 404 (being recreated)")
                else:
                    raise
        return self
