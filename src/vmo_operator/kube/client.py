"""The one client of the API server: a small, typed REST layer over `kube.transport`.

Raw dicts in, raw dicts out. A generated client's typed models would force one class per kind
and a discovery round-trip for custom kinds; every caller needs only get/list/watch/apply/create/
replace/delete/patch on paths built from a `Kind`. Every failure is one error type, `KubeError`.
Every request is counted by verb, so tests and metrics can prove that an idle resync writes nothing.
"""

from __future__ import annotations

import builtins
import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from vmo_operator.kube.errors import KubeError as KubeError  # the floor's one error type
from vmo_operator.kube.kinds import Kind, group_version_path, kind_path
from vmo_operator.kube.objects import Manifest, replacing_merge_patch
from vmo_operator.kube.transport import Timeout as Timeout  # the admission path names its own
from vmo_operator.kube.transport import Transport, raise_for, transport_of

DEFAULT_TIMEOUT: Timeout = (10.0, 60.0)
LIST_READ_SECONDS = 60.0
PAGE_SIZE = 500

FIELD_MANAGER = "vmo-operator"
WRITE_VERBS = frozenset({"create", "apply", "replace", "patch", "delete"})

_REQUESTS_FORBIDDEN: ContextVar[bool] = ContextVar("vmo_requests_forbidden", default=False)


class WouldBlockError(Exception):
    """A request was about to be sent where `no_requests` forbids it; nothing was sent."""


@contextmanager
def no_requests() -> Iterator[None]:
    """Forbid API requests in this context (this thread or task): each raises `WouldBlockError`
    before anything is sent. Code that must not block (an event loop) runs work this way when the
    work usually needs no request, and hands it to a thread when it turns out to need one."""
    token = _REQUESTS_FORBIDDEN.set(True)
    try:
        yield
    finally:
        _REQUESTS_FORBIDDEN.reset(token)


class KubeClient:
    """Synchronous client; the kopf layer runs it in worker threads.

    `timeout` bounds each request: the admission path uses a short one so a slow API server
    cannot hold a review past its deadline. `api_client` is a `Transport`, or a client of the
    official package (see `transport.transport_of`), read at the first request.
    """

    def __init__(
        self, api_client: Any, field_manager: str = FIELD_MANAGER, *, timeout: Timeout = DEFAULT_TIMEOUT
    ) -> None:
        self._api = api_client
        self._transport: Transport | None = None
        self.field_manager = field_manager
        self.timeout = timeout
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()

    # ---- accounting ----------------------------------------------------------------------
    def _count(self, verb: str) -> None:
        with self._lock:
            self.requests[verb] += 1

    @property
    def writes(self) -> int:
        with self._lock:
            return sum(n for verb, n in self.requests.items() if verb in WRITE_VERBS)

    # ---- transport -----------------------------------------------------------------------
    def _call(
        self,
        verb: str,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: Timeout | None = None,
    ) -> Any:
        if _REQUESTS_FORBIDDEN.get():
            raise WouldBlockError(f"{verb} {path}")
        self._count(verb)
        answer = self.transport.request(
            method, path, query=query, body=body, content_type=content_type, timeout=timeout or self.timeout
        )
        raise_for(answer)
        return answer.json()

    @property
    def transport(self) -> Transport:
        if self._transport is None:
            self._transport = transport_of(self._api)
        return self._transport

    # ---- verbs ---------------------------------------------------------------------------
    def get(self, kind: Kind, name: str, namespace: str = "") -> Manifest | None:
        try:
            result: Manifest = self._call("get", "GET", kind_path(kind, namespace, name))
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise
        return result

    def list(
        self, kind: Kind, *, label_selector: str = "", namespace: str = "", at_most: int = 0
    ) -> list[Manifest]:
        """Objects of `kind` (cluster-wide unless `namespace`); an unserved kind lists empty.

        `at_most` stops after the first page of that size, for "does anything exist" questions.
        """
        pages = self.iter_list(kind, label_selector=label_selector, namespace=namespace, page_size=at_most)
        if at_most:
            return [item for _, item in zip(range(at_most), pages, strict=False)]
        return list(pages)

    def sample(self, kind: Kind, at_most: int) -> tuple[builtins.list[Manifest], int]:
        """The first `at_most` objects of `kind` and how many exist in all (0, [] when unserved).

        The total comes from the first page's `remainingItemCount`; where the server does not give
        one, the rest is paged through and counted, keeping no objects.
        """
        query = [("limit", str(at_most))]
        try:
            result = self._call("list", "GET", kind_path(kind), query=query)
        except KubeError as exc:
            if exc.status == 404:
                return [], 0
            raise
        items: builtins.list[Manifest] = [*(result.get("items") or [])]
        meta = result.get("metadata") or {}
        remaining = meta.get("remainingItemCount")
        if remaining is not None:
            return items, len(items) + int(remaining)
        if not meta.get("continue"):
            return items, len(items)
        return items, sum(1 for _ in self.iter_list(kind))

    def iter_list(
        self, kind: Kind, *, label_selector: str = "", namespace: str = "", page_size: int = 0
    ) -> Iterator[Manifest]:
        """Every object of `kind`, one page at a time, so 10,000 objects never sit in memory at once.

        An unserved kind (404: its CRD is not installed) yields nothing.
        """
        for page in self._pages(
            kind, label_selector=label_selector, namespace=namespace, page_size=page_size
        ):
            yield from page.get("items") or []

    def list_into(
        self,
        kind: Kind,
        consume: Callable[[Manifest], None],
        *,
        label_selector: str = "",
        namespace: str = "",
    ) -> str:
        """Hand every object of `kind` to `consume`, page by page; the list's resourceVersion, to
        watch from (the pages of one list are one snapshot). Raises 404 for an unserved kind."""
        version = ""
        pages = self._pages(kind, label_selector=label_selector, namespace=namespace, missing_ok=False)
        for page in pages:
            version = version or str((page.get("metadata") or {}).get("resourceVersion", ""))
            for item in page.get("items") or []:
                consume(item)
        return version

    def _pages(
        self,
        kind: Kind,
        *,
        label_selector: str = "",
        namespace: str = "",
        page_size: int = 0,
        missing_ok: bool = True,
    ) -> Iterator[Manifest]:
        query = [("labelSelector", label_selector)] if label_selector else []
        token = ""
        timeout = (self.timeout[0], max(self.timeout[1], LIST_READ_SECONDS))
        while True:
            page = [*query, ("limit", str(page_size or PAGE_SIZE))] + ([("continue", token)] if token else [])
            try:
                result = self._call("list", "GET", kind_path(kind, namespace), query=page, timeout=timeout)
            except KubeError as exc:
                if exc.status == 404 and missing_ok:
                    return
                raise
            for item in result.get("items") or []:
                item.setdefault("apiVersion", kind.api_version)
                item.setdefault("kind", kind.kind)
            yield result
            token = (result.get("metadata") or {}).get("continue") or ""
            if not token or page_size:
                return

    def served(self, kind: Kind) -> bool:
        """Whether API discovery serves `kind` right now (a CRD can exist a while before it is)."""
        try:
            found = self._call("get", "GET", group_version_path(kind))
        except KubeError as exc:
            if exc.status == 404:
                return False  # the whole group/version is not served
            raise
        return any(resource.get("name") == kind.plural for resource in found.get("resources") or [])

    def current_version(self, kind: Kind, *, label_selector: str = "") -> str:
        """The collection's resourceVersion now, to start a watch from (one tiny LIST)."""
        query = [("limit", "1")] + ([("labelSelector", label_selector)] if label_selector else [])
        result = self._call("list", "GET", kind_path(kind), query=query)
        return str((result.get("metadata") or {}).get("resourceVersion", ""))

    def watch(
        self,
        kind: Kind,
        *,
        label_selector: str,
        resource_version: str,
        timeout_seconds: int = 60,
        namespace: str = "",
    ) -> Iterator[dict[str, Any]]:
        """Stream watch events (including BOOKMARKs) until the server closes the request."""
        self._count("watch")
        query = [
            ("watch", "1"),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(timeout_seconds)),
            ("resourceVersion", resource_version),
            ("labelSelector", label_selector),
        ]
        answer = self.transport.request(
            "GET", kind_path(kind, namespace), query=query, timeout=(10, timeout_seconds + 15), stream=True
        )
        raise_for(answer)
        response = answer.streamed
        assert response is not None  # a 200 to a streamed request
        pending = b""
        try:
            for chunk in response.stream(8192):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield json.loads(line)
        except Exception as exc:
            if type(exc).__module__.startswith(("urllib3", "http")) or isinstance(exc, OSError):
                raise KubeError(0, "Unreachable", str(exc)) from None
            raise
        finally:
            response.release_conn()

    def apply(self, kind: Kind, obj: Manifest, *, dry_run: bool = False) -> Manifest:
        """Server-side apply under our field manager, taking ownership of the fields we render.

        Always a PATCH on the object's own path, so the API server authorizes it, creating or not,
        with the object's name: the operator's RBAC names the objects it may write (operator/rbac).
        """
        meta = obj["metadata"]
        path = kind_path(kind, meta.get("namespace", ""), meta["name"])
        query = [("fieldManager", self.field_manager), ("force", "true")]
        if dry_run:
            query.append(("dryRun", "All"))
        result: Manifest = self._call(
            "apply", "PATCH", path, query=query, body=obj, content_type="application/apply-patch+yaml"
        )
        return result

    def create(self, kind: Kind, obj: Manifest) -> Manifest:
        namespace = obj["metadata"].get("namespace", "")
        query = [("fieldManager", self.field_manager)]
        result: Manifest = self._call("create", "POST", kind_path(kind, namespace), query=query, body=obj)
        return result

    def replace(self, kind: Kind, obj: Manifest) -> Manifest:
        """PUT the whole object; its `metadata.resourceVersion` makes a stale writer fail with 409."""
        meta = obj["metadata"]
        query = [("fieldManager", self.field_manager)]
        path = kind_path(kind, meta.get("namespace", ""), meta["name"])
        result: Manifest = self._call("replace", "PUT", path, query=query, body=obj)
        return result

    def delete(
        self,
        kind: Kind,
        name: str,
        namespace: str = "",
        *,
        dry_run: bool = False,
        preconditions: Mapping[str, str] | None = None,
    ) -> bool:
        """Delete in the background; False when it was already gone.

        `preconditions` ({"uid": ..., "resourceVersion": ...}) make the API server refuse (409) to
        delete an object that changed since it was read.
        """
        body: dict[str, Any] = {"propagationPolicy": "Background"}
        if dry_run:
            body["dryRun"] = ["All"]
        if preconditions:
            body["preconditions"] = {k: v for k, v in preconditions.items() if v}
        try:
            self._call("delete", "DELETE", kind_path(kind, namespace, name), body=body)
        except KubeError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def patch_status(
        self,
        kind: Kind,
        name: str,
        fields: Mapping[str, Any],
        namespace: str = "",
        *,
        live: Mapping[str, Any] | None = None,
    ) -> Manifest:
        """Set each status field in `fields` to exactly its value (None removes it); others stay.

        A merge patch alone would keep nested keys the new value lacks (a message that no longer
        applies, a translated gate of another version), so the patch removes them, computed against
        `live` (the status as last read; read here when not given).
        """
        if live is None:
            current = self.get(kind, name, namespace)
            live = (current or {}).get("status") or {}
        patch = {key: replacing_merge_patch(live.get(key), value) for key, value in fields.items()}
        path = kind_path(kind, namespace, name) + "/status"
        result: Manifest = self._call(
            "patch", "PATCH", path, body={"status": patch}, content_type="application/merge-patch+json"
        )
        return result

    def merge_patch(self, kind: Kind, name: str, patch: Mapping[str, Any], namespace: str = "") -> Manifest:
        result: Manifest = self._call(
            "patch",
            "PATCH",
            kind_path(kind, namespace, name),
            body=patch,
            content_type="application/merge-patch+json",
        )
        return result
