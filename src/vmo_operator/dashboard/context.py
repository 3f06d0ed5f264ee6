"""What every dashboard handler shares: the app's state, the security middleware, the session
lookup, running a call as the session's user, and how pages and API errors are answered.

Kept apart from the routes (`server`) so the page modules that need it (`creation`, `live`) import
it directly instead of reaching back into the server.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from vmo_operator.dashboard import access, pages
from vmo_operator.dashboard.access import Access
from vmo_operator.dashboard.sessions import COOKIE, CSRF_FIELD, SECURITY_HEADERS, Session, SessionStore
from vmo_operator.kube.client import KubeClient, KubeError
from vmo_operator.kube.kubeconfig import Endpoint

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Settings:
    server: Endpoint  # kube.connect.server_only(): the API server's address and CA, no credentials
    namespaces: tuple[str, ...] = ()  # VM namespaces to offer besides those the user can list
    clock: Callable[[], float] = time.monotonic


@dataclass
class State:
    settings: Settings
    sessions: SessionStore
    access: dict[str, Access] = field(default_factory=dict)

    def access_of(self, session: Session) -> Access:
        found = self.access.get(session.id)
        if found is None:
            if len(self.access) > len(self.sessions) + 100:
                self.access.clear()
            found = self.access[session.id] = Access(self.settings.clock)
        return found


STATE = web.AppKey("state", State)


def html_response(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")


@web.middleware
async def secure_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        for name, value in SECURITY_HEADERS.items():
            exc.headers.setdefault(name, value)
        raise
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    return origin is None or origin == f"{request.scheme}://{request.host}"


@web.middleware
async def guard_posts(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse cross-origin POSTs, and POSTs without the session's CSRF token (login aside)."""
    if request.method != "POST":
        return await handler(request)
    if not _same_origin(request):
        return html_response(pages.message_page("Refused", "Cross-origin requests are refused."), 403)
    if request.path == "/login":
        return await handler(request)
    state = request.app[STATE]
    session = state.sessions.get(request.cookies.get(COOKIE))
    form = await request.post()
    presented = form.get(CSRF_FIELD)
    if session is None or not session.csrf_ok(presented if isinstance(presented, str) else None):
        return html_response(
            pages.message_page(
                "Refused", "The request carried no valid CSRF token: reload the page and retry."
            ),
            403,
        )
    return await handler(request)


def session_of(request: web.Request) -> Session:
    session = request.app[STATE].sessions.get(request.cookies.get(COOKIE))
    if session is None:
        raise web.HTTPSeeOther("/login")
    return session


async def call(session: Session, request: web.Request, work: Callable[[KubeClient], Any]) -> Any:
    """Run `work` with a client that is the session's user, in a worker thread."""
    server = request.app[STATE].settings.server

    def run() -> Any:
        with access.user_client(server, session.token) as kube:
            return work(kube)

    try:
        return await asyncio.to_thread(run)
    except KubeError as exc:
        if exc.status == 401:  # the token expired or was revoked: the session is over
            request.app[STATE].sessions.drop(session.id)
            raise web.HTTPSeeOther("/login") from None
        raise


def api_error(session: Session, exc: KubeError, back: str = "/vms") -> web.Response:
    status = exc.status if 400 <= exc.status < 600 else 502
    title = "Forbidden by the API server" if exc.status == 403 else "The API server refused"
    page = pages.message_page(title, access.readable(exc), user=session.user, csrf=session.csrf, back=back)
    return html_response(page, status)


def candidates(state: State, session: Session) -> tuple[str, ...]:
    return (*session.namespaces, *state.settings.namespaces)
