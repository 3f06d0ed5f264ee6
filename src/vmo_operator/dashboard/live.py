"""Live VM list: watches made with the user's token, turned into server-sent events of rendered rows.

One `GET /vms/events` per open list page. For each namespace scope the user may list (or the whole
cluster) and each of VirtualMachine, VirtualMachineInstance and VirtualMachineInstanceMigration, a
worker thread lists then watches through the floor (re-listing when the watch expires), and hands
what it saw to the event loop. The `Mirror` (pure) keeps the objects and says which rows changed (a
migration changes its VM's row, which shows the newest migration's phase; a user who may not read
migrations just sees none); the row is rendered on the server, with the user's actions, and sent
only when its HTML changed. The browser replaces the row by id (/static/app.js). No polling: a row
changes when the API server says its objects did.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from vmo_operator.dashboard import access, actions, pages, views
from vmo_operator.dashboard.context import STATE, candidates, session_of
from vmo_operator.kube import kinds
from vmo_operator.kube.client import KubeError
from vmo_operator.kube.kinds import Kind

if TYPE_CHECKING:
    from vmo_operator.dashboard.sessions import Session

WATCH_SECONDS = 20  # a worker notices a closed page within this long
HEARTBEAT_SECONDS = 15.0
RETRY_SECONDS = 5.0
MIGRATION = kinds.VIRTUAL_MACHINE_INSTANCE_MIGRATION
KINDS = (kinds.VIRTUAL_MACHINE, kinds.VIRTUAL_MACHINE_INSTANCE, MIGRATION)

Item = tuple[str, str, str, Any]  # (what, kind, scope or event type, payload)


@dataclass
class Mirror:
    """The VMs and VMIs seen so far, by "namespace/name"; `apply` returns the row keys it changed."""

    objects: dict[str, dict[str, Mapping[str, Any]]] = field(
        default_factory=lambda: {k.kind: {} for k in KINDS}
    )

    def apply(self, item: Item) -> set[str]:
        what, kind, detail, payload = item
        known = self.objects[kind]
        if what == "sync":  # a fresh list of one scope: everything of that scope is replaced
            scope = detail
            fresh = {views.key_of(obj): obj for obj in payload}
            stale = {key for key in known if not scope or key.split("/", 1)[0] == scope}
            touched = [known[key] for key in stale] + list(fresh.values())
            for key in stale - fresh.keys():
                del known[key]
            known.update(fresh)
            return {self._row_of(kind, obj) for obj in touched}
        key = views.key_of(payload)
        if detail == "DELETED":
            known.pop(key, None)
        else:
            known[key] = payload
        return {self._row_of(kind, payload)}

    @staticmethod
    def _row_of(kind: str, obj: Mapping[str, Any]) -> str:
        """The row an object shows in: a migration in its VM's (the VMI it moves has the VM's name)."""
        if kind == MIGRATION.kind:
            namespace = (obj.get("metadata") or {}).get("namespace") or ""
            return f"{namespace}/{(obj.get('spec') or {}).get('vmiName') or ''}"
        return views.key_of(obj)

    def row(self, key: str) -> views.VMRow | None:
        vm = self.objects[kinds.VIRTUAL_MACHINE.kind].get(key)
        if vm is None:
            return None
        migration = views.newest_migrations(self.objects[MIGRATION.kind].values()).get(key)
        return views.vm_row(vm, self.objects[kinds.VIRTUAL_MACHINE_INSTANCE.kind].get(key), migration)


def sse(event: str, data: Mapping[str, Any] | str) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data)
    lines = "".join(f"data: {line}\n" for line in text.split("\n"))
    return f"event: {event}\n{lines}\n".encode()


class _ExpiredError(Exception):
    """The watch's resourceVersion is too old (410): list again."""


def follow(
    server: Any, token: str, kind: Kind, scope: str, emit: Callable[[Item], None], stop: threading.Event
) -> None:
    """List then watch `kind` in `scope` as the user until `stop`; runs in a worker thread."""
    while not stop.is_set():
        try:
            with access.user_client(server, token) as kube:
                items: list[dict[str, Any]] = []
                version = kube.list_into(kind, items.append, namespace=scope)
                emit(("sync", kind.kind, scope, items))
                while not stop.is_set():
                    for event in kube.watch(
                        kind,
                        label_selector="",
                        resource_version=version,
                        timeout_seconds=WATCH_SECONDS,
                        namespace=scope,
                    ):
                        if stop.is_set():
                            return
                        kind_of_event = str(event.get("type", ""))
                        obj = event.get("object") or {}
                        if kind_of_event == "ERROR":
                            raise _ExpiredError
                        version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                        if kind_of_event != "BOOKMARK":
                            emit(("event", kind.kind, kind_of_event, obj))
        except _ExpiredError:
            continue
        except KubeError as exc:
            if kind == MIGRATION and exc.status in (403, 404):
                return  # may not read migrations (or none are served): rows just show no phase
            emit(("problem", kind.kind, scope, access.readable(exc)))
            if exc.status in (401, 403):
                return
            stop.wait(RETRY_SECONDS)


def _render(
    state: Any, session: Session, mirror: Mirror, keys: Iterable[str], current: views.Filter
) -> list[tuple[str, bytes]]:
    """The events for `keys`: a rendered row where it matches the filter, else a removal."""
    out = []
    reviews = state.access_of(session)
    with access.user_client(state.settings.server, session.token) as kube:
        for key in sorted(keys):
            namespace, _, name = key.partition("/")
            row = mirror.row(key)
            if row is None or not current.matches(row):
                row_id = pages.row_id(namespace, name)
                out.append((row_id, sse("remove", {"id": row_id})))
                continue
            offered = actions.offered(row, reviews.permitted(kube, row.namespace))
            html = pages.vm_row_html(row, offered, session.csrf)
            row_id = pages.row_id(namespace, name)
            out.append((row_id, sse("row", {"id": row_id, "key": key, "html": html})))
    return out


async def stream(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    try:
        session = session_of(request)
    except web.HTTPSeeOther:
        return web.Response(status=401, text="no session")  # EventSource stops; the page shows login
    current = views.Filter.from_query(request.query)

    def scopes_now() -> tuple[str, ...]:
        with access.user_client(state.settings.server, session.token) as kube:
            return state.access_of(session).vm_scopes(kube, candidates(state, session))

    scopes = await asyncio.to_thread(scopes_now)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"})
    await response.prepare(request)
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Item] = asyncio.Queue()
    stop = threading.Event()

    def emit(item: Item) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, item)

    for scope in scopes:
        for kind in KINDS:
            threading.Thread(
                target=follow,
                args=(state.settings.server, session.token, kind, scope, emit, stop),
                name=f"dashboard-watch-{kind.plural}-{scope or 'all'}",
                daemon=True,
            ).start()
    mirror = Mirror()
    sent: dict[str, bytes] = {}
    try:
        await response.write(sse("ready", {"scopes": list(scopes)}))
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), HEARTBEAT_SECONDS)
            except TimeoutError:
                if state.sessions.get(session.id) is None:
                    break  # logged out or expired: the stream ends with the session
                await response.write(b": keep-alive\n\n")
                continue
            if item[0] == "problem":
                await response.write(sse("problem", str(item[3])))
                continue
            keys = mirror.apply(item)
            try:
                rendered = await asyncio.to_thread(_render, state, session, mirror, keys, current)
            except KubeError as exc:
                await response.write(sse("problem", access.readable(exc)))
                continue
            for key, chunk in rendered:
                if sent.get(key) != chunk:
                    sent[key] = chunk
                    await response.write(chunk)
    except ConnectionResetError:
        pass  # the page was closed or left
    finally:
        stop.set()
    return response
