"""The MAC webhooks' HTTPS server: kopf's, answering only what the API server would send.

kopf starts it and hands it kopf's admission function; `vmo run` gives it a `dispatch` of its
own (`admission.Dispatcher`), which answers in that function's place and without its
per-request machinery. kopf's `WebhookServer` verifies a client certificate when given a CA,
but it serves whatever arrives: any path, no check of who sent it, a 1 MiB body limit. This
server keeps its TLS set-up (`_build_ssl`) and its contract with kopf (yield a client config,
restart on new files), and serves its own routes:

- POST /<webhook>: with a client CA configured, only a caller whose certificate that CA signed
  (the API server, through its admission configuration; see docs/webhook-authentication.md) gets
  past the TLS handshake with a certificate, and a request without one is refused (403) before
  its body is read. The review must be one the API server could have sent to that path
  (`macpool.reviews`), else it is denied without reaching the dispatch.
- GET /readyz: the readiness check (`probe.admission_path`). The kubelet cannot present a client
  certificate, so TLS asks for one without requiring it, and every admission path checks it.

When kopf's function serves (no `dispatch`): kopf remembers a memo per object uid for every
admission that is not a CREATE and never forgets it: nothing watches VMs through kopf, so
nothing would. Handlers here keep nothing in memos, so admissions get a fresh memo that is never
stored (`AdmissionMemos`).
"""

from __future__ import annotations

import asyncio
import copy
import functools
import hashlib
import json
import logging
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp.web
import kopf
import structlog

from vmo_operator.macpool import certs, reviews
from vmo_operator.operator.macpool import probe
from vmo_operator.operator.macpool.runtime import AdmissionOptions

log = structlog.get_logger("vmo.macpool")


class AdmissionMemos:
    """kopf's memo store for admissions (its `MemoGetter`), storing nothing."""

    async def recall_memo(self, raw_body: Any, *, memobase: Any = None, ephemeral: bool = False) -> Any:
        return copy.copy(memobase) if memobase is not None else kopf.Memo()


def without_stored_memos(admit: kopf.WebhookFn) -> kopf.WebhookFn:
    """kopf's admission function, its `memories` replaced by `AdmissionMemos`.

    kopf binds the memo store into the function it hands servers with functools.partial; a
    partial called with a keyword it already binds uses the new value.
    """
    if isinstance(admit, functools.partial) and "memories" in admit.keywords:
        forgetful: kopf.WebhookFn = functools.partial(admit, memories=AdmissionMemos())
        return forgetful
    log.warning("kopf's admission function has changed shape; its per-object memos may grow")
    return admit


def _peer_certificate(request: aiohttp.web.Request) -> Any:
    return request.transport.get_extra_info("peercert") if request.transport is not None else None


class AdmissionServer(kopf.WebhookServer):
    """kopf's webhook server, with our routes, body limit and optional client authentication."""

    def __init__(
        self, options: AdmissionOptions, *, file_check_interval: float, dispatch: kopf.WebhookFn | None = None
    ) -> None:
        client_ca = str(options.client_ca) if options.client_ca else None
        super().__init__(
            addr=options.listen_host,
            port=options.port,
            host=options.url_host,
            certfile=str(options.certs_dir / certs.TLS_CERT),
            pkeyfile=str(options.certs_dir / certs.TLS_KEY),
            verify_cafile=client_ca,
            # Asked for, checked when presented, not required by TLS: see the module docstring.
            verify_mode=ssl.CERT_OPTIONAL if client_ca else None,
            file_check_interval=file_check_interval,
        )
        self.client_ca = options.client_ca
        self.dispatch = dispatch

    async def __call__(self, fn: kopf.WebhookFn) -> AsyncIterator[kopf.WebhookClientConfig]:
        admit = self.dispatch or without_stored_memos(fn)
        if self.client_ca is None:
            log.warning(
                "webhook client authentication is off: whoever reaches the webhook port may post "
                "admission reviews (set --webhook-client-ca)",
                port=self.port,
            )
        while True:
            _, context = self._build_ssl()
            app = aiohttp.web.Application(client_max_size=reviews.MAX_REVIEW_BYTES)
            app.add_routes(
                [
                    aiohttp.web.get(f"/{probe.READINESS_PATH}", functools.partial(self._ready, admit)),
                    aiohttp.web.post("/{path:.*}", functools.partial(self._admit, admit)),
                ]
            )
            # No access log at info: formatting a line per admission cost more than deciding it.
            # At debug (an admin chasing a problem) every request is logged, the self-probe's too.
            debug = logging.getLogger("aiohttp.access").isEnabledFor(logging.DEBUG)
            access: dict[str, Any] = {} if debug else {"access_log": None}
            runner = aiohttp.web.AppRunner(app, handle_signals=False, **access)
            await runner.setup()
            try:
                # reuse_port as kopf's own server: replicas in tests share one loopback port.
                site = aiohttp.web.TCPSite(
                    runner,
                    self.addr or None,
                    self.port,
                    ssl_context=context,
                    reuse_port=True,
                    reuse_address=True,
                )
                await site.start()
                url = self._build_url("https", self.host or "localhost", self.port or 0, "")
                yield kopf.WebhookClientConfig(url=url)
                await self._until_files_change()
                log.info("webhook certificate files changed; restarting the webhook server")
            finally:
                await runner.cleanup()

    async def _admit(self, admit: kopf.WebhookFn, request: aiohttp.web.Request) -> aiohttp.web.Response:
        peer = _peer_certificate(request)
        if self.client_ca is not None and not peer:
            # Before the body is read: an unauthenticated caller costs no parsing.
            return aiohttp.web.json_response({"message": "a client certificate is required"}, status=403)
        path = request.match_info.get("path", "")
        try:
            review = json.loads(await request.read())
        except ValueError:
            return aiohttp.web.json_response({"message": "the body is not JSON"}, status=400)
        refusal = reviews.refusal(path, review)
        if refusal is not None:
            log.warning("admission review refused", path=path, reason=refusal.message)
            return aiohttp.web.json_response(reviews.denied(review, refusal))
        try:
            answer = await admit(review, webhook=path, sslpeer=peer or {}, headers=dict(request.headers))
        except Exception as exc:
            # kopf's errors for a request it cannot place, answered as its own server does; their
            # classes are not public, their names are stable.
            names = {cls.__name__ for cls in type(exc).__mro__}
            if "UnknownResourceError" in names:
                raise aiohttp.web.HTTPNotFound(reason=str(exc) or None) from exc
            if "WebhookError" in names:
                raise aiohttp.web.HTTPBadRequest(reason=str(exc) or None) from exc
            raise
        return aiohttp.web.json_response(answer)

    async def _ready(self, admit: kopf.WebhookFn, _request: aiohttp.web.Request) -> aiohttp.web.Response:
        result = await probe.admission_path(admit)
        return aiohttp.web.json_response({"result": result}, status=503 if result == "failed" else 200)

    def _files_digest(self) -> str:
        hasher = hashlib.sha256()  # a digest only, so no key stays in memory
        for path in (self.certfile, self.pkeyfile, self.client_ca):
            if path is not None:
                hasher.update(Path(path).read_bytes())
        return hasher.hexdigest()

    async def _until_files_change(self) -> None:
        """Return once the serving certificate, its key or the client CA changed on disk."""
        initial = self._files_digest()
        while self._files_digest() == initial:
            await asyncio.sleep(self.file_check_interval)
