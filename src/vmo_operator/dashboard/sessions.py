"""Sessions: the user's token kept server-side, a random id in the cookie, a CSRF token per session.

The browser never holds the bearer token: it holds only a random session id (256 bits) in a cookie
that is HttpOnly (no script reads it), Secure (sent only over TLS) and SameSite=Strict (never sent
by another site's page). Every state-changing request must also carry the session's CSRF token in
its form body, compared in constant time. Sessions end on logout, after `idle` without a request
and after `lifetime` in any case; the clock is injected so the expiry is tested without sleeping.

Sessions live in this process's memory: more than one replica needs sticky sessions (the Service
sets sessionAffinity: ClientIP), and a restart logs everybody out, which is safe.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace

COOKIE = "vmo_session"
CSRF_FIELD = "csrf"
IDLE_SECONDS = 30 * 60
LIFETIME_SECONDS = 8 * 60 * 60
MAX_SESSIONS = 10_000


@dataclass(frozen=True)
class Session:
    id: str
    token: str = field(repr=False)  # never printed, never logged
    user: str
    groups: tuple[str, ...]
    csrf: str
    created: float
    seen: float
    # Namespaces the user named at login (beside those found by listing) whose VMs to show.
    namespaces: tuple[str, ...] = ()

    def csrf_ok(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(presented.encode(), self.csrf.encode())


class SessionStore:
    def __init__(
        self,
        clock: Callable[[], float],
        *,
        idle: float = IDLE_SECONDS,
        lifetime: float = LIFETIME_SECONDS,
        capacity: int = MAX_SESSIONS,
    ) -> None:
        self._clock = clock
        self._idle = idle
        self._lifetime = lifetime
        self._capacity = capacity
        self._sessions: dict[str, Session] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def create(self, token: str, user: str, groups: tuple[str, ...], namespaces: tuple[str, ...]) -> Session:
        self.expire()
        if len(self._sessions) >= self._capacity:
            # The oldest goes: a login flood can log people out, never grow memory without bound.
            del self._sessions[min(self._sessions.values(), key=lambda s: s.seen).id]
        now = self._clock()
        session = Session(
            id=secrets.token_urlsafe(32),
            token=token,
            user=user,
            groups=groups,
            csrf=secrets.token_urlsafe(32),
            created=now,
            seen=now,
            namespaces=namespaces,
        )
        self._sessions[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        """The live session with this id, its idle timer restarted; None when unknown or expired."""
        if not session_id:
            return None
        session = self._sessions.get(session_id)
        if session is None:
            return None
        now = self._clock()
        if now - session.seen > self._idle or now - session.created > self._lifetime:
            del self._sessions[session_id]
            return None
        session = replace(session, seen=now)
        self._sessions[session_id] = session
        return session

    def drop(self, session_id: str | None) -> None:
        if session_id:
            self._sessions.pop(session_id, None)

    def expire(self) -> None:
        now = self._clock()
        for session in list(self._sessions.values()):
            if now - session.seen > self._idle or now - session.created > self._lifetime:
                del self._sessions[session.id]


# Every response carries these. No inline script or style anywhere: scripts and styles come only
# from this origin's /static/, forms post only here, and no other site may frame the pages.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    # Not no-referrer: under it browsers send `Origin: null` with every form POST, and the Origin
    # check (server.guard_posts) needs the real one. Other sites are still told nothing.
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Strict-Transport-Security": "max-age=31536000",
}


def cookie_attributes() -> dict[str, object]:
    """aiohttp's `set_cookie` keywords for the session cookie."""
    return {"httponly": True, "secure": True, "samesite": "Strict", "path": "/"}
