"""Reservation bookkeeping from watch events: commit a VM's MACs, release them when it goes.

The reservations come from the runtime's cache (`macpool.cache`, one list-then-watch per
process), not from kopf indexes: kopf keeps a record of its own for every object it watches,
which cost several KiB per reservation. One kopf index remains, of every namespace's labels, for
admission to apply the webhooks' namespaceSelector itself. VM and VMI events come through our
own 404-tolerant watchers, not kopf's: KubeVirt's CRDs vanish when KubeVirt is removed, and a
kopf watcher that gets 404 takes the whole operator down (see `kube.watches`). Events are handled
on kopf's loop, one object's in the order they came and up to `LANES` objects at once (`Lanes`);
existing objects and anything a watch gap missed, or that two objects' events met out of order
(a MAC released by one and claimed by another), are the audit's work. A spare this replica
handed out is committed to the object that carries it here, the first time the object is seen
(`macpool.spares`: adopted on commit); so
does any replica for a spare the object's fresh grant covers (its replica may have died), but
only `ADOPT_AFTER_SECONDS` later and if it is still a Spare then: at once, every replica would
race the issuing one to the same write, and all but one would collect a 409 for every MAC.

A VMI that names a VM as its controller is usually that VM's (which holds its MACs), but the
ownerReference proves nothing. Its events therefore plan like a bare VMI's; only when the plan
would write does one GET of the VM decide (`vmshape.started_by_its_vm`), so a real VM's VMI,
whose plan is empty, costs no API call.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import zlib
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import kopf
import structlog

from vmo_operator.kube import kinds
from vmo_operator.kube.watches import KindWatcher
from vmo_operator.macpool import grant as grants
from vmo_operator.macpool import mac as macs
from vmo_operator.macpool import reconcile, spares, vmshape
from vmo_operator.macpool.reservation import VM_KIND, VMI_KIND, Holder, same_holder
from vmo_operator.operator.macpool.runtime import MacPoolRuntime, Serving

log = structlog.get_logger("vmo.macpool")

OBJECT_EVENT_TIMEOUT = 60.0  # one VM event's bookkeeping; beyond this the audit takes over
Handler = Callable[[str, dict[str, Any]], None]  # one watch event: its type and object
LANES = 8  # objects whose events are handled at once, per kind
QUEUED = 1024  # events waiting for a lane before the watch waits too
# A live issuing replica commits its handout within milliseconds of the object's event, and hands
# it over to its holder after `spares.HANDOVER_SECONDS` at the latest.
ADOPT_AFTER_SECONDS = spares.HANDOVER_SECONDS
# Also the kwarg kopf hands the index as.
NAMESPACE_LABELS = "macpool_namespace_labels"


def register(registry: kopf.OperatorRegistry) -> None:
    """The namespace index; kopf hands it to every handler as a kwarg."""
    namespace = kinds.NAMESPACE

    @kopf.index(namespace.group, namespace.version, namespace.plural, id=NAMESPACE_LABELS, registry=registry)
    async def macpool_namespace_labels(name: str, labels: kopf.Labels, **_: Any) -> dict[str, dict[str, str]]:
        return {name: dict(labels)}


async def object_event(
    runtime: MacPoolRuntime,
    serving: Serving,
    kind: str,
    event: str | None,
    body: Mapping[str, Any],
    *,
    adopting: bool = False,
) -> None:
    """One watch event of a VM or VMI; `adopting`: the later look at spares of other replicas."""
    if not serving.settings.enabled:
        return
    carriers = reconcile.carriers_of(kind, body)
    holder = Holder.of(body, kind=kind)
    cache = runtime.reservations
    held = cache.held_by(holder.uid) if holder.uid else []
    writes = runtime.metrics.reconcile_writes
    names_a_vm = kind == VMI_KIND and vmshape.controller_vm(body) is not None
    if event == "DELETED":
        releasing = {c.mac for c in carriers} | {r.mac for r in held}
        if names_a_vm:
            # Usually its VM's MACs, held by the VM: release only what the cache says is the VMI's.
            cached = (cache.get(mac) for mac in releasing)
            releasing = {r.mac for r in cached if r is not None and same_holder(r.holder, holder)}
        # Fresh reads, not the cache: a release must not lose to a cached resourceVersion.
        for mac in releasing:
            released = await runtime.in_thread(runtime.allocator.release, mac, holder)
            if released is not None:
                writes.labels("Release").inc()
        return
    reserved = {c.mac: r for c in carriers if (r := cache.get(c.mac)) is not None}
    if any(r.state == "Spare" for r in reserved.values()):
        pool = runtime.allocator.spares
        reserved = spares.as_handed_out(
            carriers,
            reserved,
            issued_to=pool.issued_to if pool is not None else None,
            granted=_granted(serving, body, holder) if adopting else {},
        )
        if not adopting and any(r.state == "Spare" for r in reserved.values()):
            _look_again(runtime, serving, kind, event, body)
    actions = reconcile.plan_for_object(
        carriers, holder, reserved=reserved, held_by_holder=held, deleted=False
    )
    if actions and names_a_vm:
        find_vm = runtime.source.vm_template
        if await runtime.in_thread(vmshape.started_by_its_vm, body, find_vm):
            return
    if actions and adopting and not await _still_there(runtime, kind, body):
        return  # deleted meanwhile: its DELETED event has come and gone; the audit has the rest
    if actions:
        store = runtime.store
        report = await runtime.in_thread(lambda: reconcile.execute(actions, store, now=datetime.now(UTC)))
        for action, count in report.applied.items():
            writes.labels(action).inc(count)


async def _still_there(runtime: MacPoolRuntime, kind: str, body: Mapping[str, Any]) -> bool:
    meta = body.get("metadata") or {}
    api_kind = kinds.VIRTUAL_MACHINE if kind == VM_KIND else kinds.VIRTUAL_MACHINE_INSTANCE
    live = await runtime.in_thread(
        runtime.kube.get, api_kind, meta.get("name", ""), meta.get("namespace", "")
    )
    return live is not None and (live.get("metadata") or {}).get("uid") == meta.get("uid")


def _look_again(
    runtime: MacPoolRuntime, serving: Serving, kind: str, event: str | None, body: Mapping[str, Any]
) -> None:
    """Adopt the object's spares of other replicas later, if their replica has not by then."""
    loop = asyncio.get_running_loop()

    def again() -> None:
        task = loop.create_task(object_event(runtime, serving, kind, event, body, adopting=True))
        runtime.background.add(task)  # held until done: the loop keeps only a weak reference
        task.add_done_callback(runtime.background.discard)

    loop.call_later(ADOPT_AFTER_SECONDS, again)


def _granted(serving: Serving, body: Mapping[str, Any], holder: Holder) -> Mapping[str, macs.Mac]:
    """The interface/MAC pairs the object's grant covers (fresh, signed by a mutating webhook)."""
    keys = serving.certificates.grant_keys
    value = ((body.get("metadata") or {}).get("annotations") or {}).get(grants.GRANT_ANNOTATION)
    if not keys or not value:
        return {}
    now = int(datetime.now(UTC).timestamp())
    subject = {"namespace": holder.namespace, "kind": holder.kind, "claim": holder.claim}
    # A CREATE's grant binds no UID (the webhook saw none); an UPDATE's binds the object's.
    return grants.verify(keys, value, uid="", now=now, **subject) or grants.verify(
        keys, value, uid=holder.uid, now=now, **subject
    )


class Lanes:
    """Work keyed by object, on `count` serial lanes: one object's events in the order they came,
    different objects' side by side. One lane for all lets the commits of a burst queue behind
    each other for longer than `spares.HANDOVER_SECONDS`, and every late one then costs a
    handover write on top of its commit. `submit` blocks while `bound` are waiting."""

    def __init__(self, name: str, count: int = LANES, bound: int = QUEUED) -> None:
        self._lanes = [ThreadPoolExecutor(1, thread_name_prefix=f"{name}-{i}") for i in range(count)]
        self._room = threading.BoundedSemaphore(bound)

    def submit(self, key: str, work: Callable[[], None]) -> None:
        self._room.acquire()
        lane = self._lanes[zlib.crc32(key.encode()) % len(self._lanes)]
        lane.submit(work).add_done_callback(lambda _done: self._room.release())

    def stop(self) -> None:
        for lane in self._lanes:
            lane.shutdown(wait=False, cancel_futures=True)


def start_object_watchers(runtime: MacPoolRuntime, serving: Serving) -> None:
    """VM and VMI events, handed to `object_event` on the calling (kopf's) loop."""
    loop = asyncio.get_running_loop()
    for kind, api_kind in ((VM_KIND, kinds.VIRTUAL_MACHINE), (VMI_KIND, kinds.VIRTUAL_MACHINE_INSTANCE)):
        lanes = Lanes(f"macpool-{api_kind.plural}")

        def work(event: str, obj: dict[str, Any], kind: str = kind) -> None:
            try:
                asyncio.run_coroutine_threadsafe(
                    object_event(runtime, serving, kind, event, obj), loop
                ).result(timeout=OBJECT_EVENT_TIMEOUT)
            except Exception as exc:  # the next audit round repairs whatever this missed
                log.warning("VM event bookkeeping failed", kind=kind, event=event, error=str(exc))

        def handle(event: str, obj: dict[str, Any], lanes: Lanes = lanes, work: Handler = work) -> None:
            meta = obj.get("metadata") or {}
            key = meta.get("uid") or f"{meta.get('namespace')}/{meta.get('name')}"
            lanes.submit(key, functools.partial(work, event, obj))

        runtime.watchers.append(KindWatcher(runtime.kube, api_kind, handle, label_selector="").start())
        runtime.lanes.append(lanes)


def stop_object_watchers(runtime: MacPoolRuntime) -> None:
    for watcher in runtime.watchers:
        watcher.stop()
    for lanes in runtime.lanes:
        lanes.stop()
    runtime.watchers.clear()
    runtime.lanes.clear()
