"""Who the user is and what they may see and do, asked of the API server with their own token.

Blocking calls through the Kubernetes floor; the server runs them in worker threads. Nothing here
uses any credential but the token in the session: the dashboard's own ServiceAccount never reaches
the API server from this package.

Which namespaces to show: every namespace when the user may list VMs cluster-wide; otherwise the
candidates (the namespaces the user may list, the ones named at login, the dashboard's configured
VM namespaces and a ServiceAccount's own namespace), each kept only when a review allows listing VMs
there. Answers are cached per session for `TTL` seconds, so a page of many rows asks a few reviews.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from vmo_operator.dashboard import actions
from vmo_operator.dashboard.actions import Permission
from vmo_operator.kube import kinds
from vmo_operator.kube.client import KubeClient, KubeError
from vmo_operator.kube.connect import connect_as
from vmo_operator.kube.kubeconfig import Endpoint

TTL = 30.0
FIELD_MANAGER = "vmo-dashboard"
ALL = ""  # the namespace scope of a cluster-wide list


@dataclass(frozen=True)
class Identity:
    user: str
    groups: tuple[str, ...]


def service_account_namespace(user: str) -> str:
    """`ns` for "system:serviceaccount:ns:name", else ""."""
    parts = user.split(":")
    return parts[2] if len(parts) == 4 and parts[:2] == ["system", "serviceaccount"] else ""


def whoami(kube: KubeClient) -> Identity:
    """The token's user, from a SelfSubjectReview; a token the API server refuses raises 401."""
    review = kube.create(
        kinds.SELF_SUBJECT_REVIEW,
        {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview", "metadata": {}},
    )
    info = (review.get("status") or {}).get("userInfo") or {}
    return Identity(str(info.get("username") or ""), tuple(str(g) for g in info.get("groups") or []))


class Access:
    """The review answers of one session, cached briefly."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._answers: dict[tuple[Permission, str], tuple[float, bool]] = {}

    def can(self, kube: KubeClient, permission: Permission, namespace: str) -> bool:
        key = (permission, namespace)
        now = self._clock()
        cached = self._answers.get(key)
        if cached is not None and now - cached[0] < TTL:
            return cached[1]
        answer = kube.create(kinds.SELF_SUBJECT_ACCESS_REVIEW, actions.access_review(permission, namespace))
        verdict = actions.allowed(answer)
        if len(self._answers) > 4096:
            self._answers.clear()
        self._answers[key] = (now, verdict)
        return verdict

    def permitted(self, kube: KubeClient, namespace: str) -> frozenset[Permission]:
        """The action permissions the user holds in `namespace` (cluster-wide grants count)."""
        return frozenset(
            p for p in actions.PERMISSIONS if self.can(kube, p, ALL) or self.can(kube, p, namespace)
        )

    def vm_scopes(self, kube: KubeClient, candidates: Iterable[str]) -> tuple[str, ...]:
        """(ALL,) when the user may list VMs everywhere, else the candidate namespaces they may list."""
        if self.can(kube, actions.LIST_VMS, ALL):
            return (ALL,)
        names = set(candidates)
        if self.can(kube, Permission("list", "namespaces", ""), ALL):
            names.update(str(n["metadata"]["name"]) for n in kube.list(kinds.NAMESPACE))
        return tuple(sorted(ns for ns in names if ns and self.can(kube, actions.LIST_VMS, ns)))


@contextmanager
def user_client(server: Endpoint, token: str) -> Iterator[KubeClient]:
    """A floor client that authenticates with `token`, closed when the request is done."""
    api = connect_as(server, token)
    try:
        yield KubeClient(api, field_manager=FIELD_MANAGER, timeout=(5.0, 30.0))
    finally:
        api.close()


def list_in(kube: KubeClient, kind: kinds.Kind, scopes: Iterable[str]) -> list[dict[str, Any]]:
    """Objects of `kind` in every scope ("" = cluster-wide); an unserved kind lists empty."""
    found: list[dict[str, Any]] = []
    for scope in scopes:
        found.extend(kube.list(kind, namespace=scope))
    return found


def list_if_allowed(kube: KubeClient, kind: kinds.Kind, scopes: Iterable[str]) -> list[dict[str, Any]]:
    """`list_in`, but a kind the user may not read (403) lists empty: for what only adds detail."""
    try:
        return list_in(kube, kind, scopes)
    except KubeError as exc:
        if exc.status not in (403, 404):
            raise
        return []


def readable(exc: KubeError) -> str:
    """The API server's answer, plainly: its status code, reason and own message."""
    if exc.status == 0:
        return f"The API server could not be reached: {exc.message}"
    return f"The API server answered {exc.status} {exc.reason}: {exc.message}"
