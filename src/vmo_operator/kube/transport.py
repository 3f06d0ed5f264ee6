"""HTTPS to one API server as one identity, over a urllib3 connection pool.

The floor builds every path itself and speaks JSON, so it needs no generated client: the official
one's package costs each replica about 19 MB and 0.3 s of CPU at import (kopf imports it whenever it
is installed), so the image does not install it. A client made by the official package (the tests
and the benchmarks use its typed APIs) is still accepted: `transport_of` reads its configuration.
"""

from __future__ import annotations

import json
import os
import ssl
import tempfile
import threading
import warnings
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode

import urllib3

from vmo_operator.kube.credentials import ClientCertificate, Credentials
from vmo_operator.kube.errors import KubeError, to_kube_error
from vmo_operator.kube.kubeconfig import Endpoint, Identity

Timeout = tuple[float, float]  # (connect, read) seconds
ANONYMOUS = Identity()


class Streamed(Protocol):
    """What a streamed answer offers: its body in chunks, and giving its connection back."""

    def stream(self, amt: int) -> Iterator[bytes]: ...

    def release_conn(self) -> None: ...


@dataclass(frozen=True)
class Answer:
    status: int
    reason: str
    data: bytes
    streamed: Streamed | None = None

    def json(self) -> Any:
        return json.loads(self.data) if self.data else None


class Transport:
    """Requests to `endpoint` as `identity`; safe to share between threads."""

    def __init__(self, endpoint: Endpoint, identity: Identity = ANONYMOUS, *, pool_size: int = 32) -> None:
        self.endpoint = endpoint
        self.credentials = Credentials(identity)
        self.pool_size = pool_size
        self._lock = threading.Lock()
        self._pool: urllib3.PoolManager | None = None
        self._pool_certificate: ClientCertificate | None = None

    def request(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: Timeout,
        stream: bool = False,
    ) -> Answer:
        """One request; a 401 is retried once with fresh credentials where they can change (a
        rotated token or certificate file, a re-run plugin). Connection failures raise
        `KubeError(0, "Unreachable")`; an HTTP error is an `Answer` like any other, for the caller
        to judge."""
        url = self.endpoint.host + path + (f"?{urlencode(query)}" if query else "")
        payload = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
        answer = self._send(method, url, payload, content_type, timeout, stream)
        if answer.status == 401 and self.credentials.renewable:
            self.credentials.rejected()
            answer = self._send(method, url, payload, content_type, timeout, stream)
        return answer

    def _send(
        self, method: str, url: str, payload: bytes | None, content_type: str, timeout: Timeout, stream: bool
    ) -> Answer:
        headers = {"Accept": "application/json", "User-Agent": "vmo-operator"}
        if payload is not None:
            headers["Content-Type"] = content_type
        authorization = self.credentials.authorization()
        if authorization:
            headers["Authorization"] = authorization
        try:
            response = self._pool_manager().request(
                method,
                url,
                body=payload,
                headers=headers,
                timeout=urllib3.Timeout(connect=timeout[0], read=timeout[1]),
                retries=False,
                redirect=False,
                preload_content=not stream,
            )
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise KubeError(0, "Unreachable", str(exc)) from None
        if stream and response.status == 200:
            return Answer(response.status, response.reason or "", b"", response)
        data = response.data if not stream else _drain(response)
        return Answer(response.status, response.reason or "", data)

    def _pool_manager(self) -> urllib3.PoolManager:
        certificate = self.credentials.certificate()
        with self._lock:
            if self._pool is None or certificate is not self._pool_certificate:
                if self._pool is not None:
                    self._pool.clear()
                self._pool = _pool_manager(self.endpoint, certificate, self.pool_size)
                self._pool_certificate = certificate
            return self._pool

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.clear()
                self._pool = None


def _drain(response: Any) -> bytes:
    try:
        return bytes(response.read())
    finally:
        response.release_conn()


def ssl_context(endpoint: Endpoint, certificate: ClientCertificate | None = None) -> ssl.SSLContext:
    """Trust only the endpoint's CA when it names one (else the system's), and present `certificate`."""
    context = ssl.create_default_context(cafile=endpoint.ca_file, cadata=endpoint.ca_data)
    if not endpoint.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if certificate is not None:
        # ssl loads a key pair only from files: a private directory that is gone once it is loaded.
        with tempfile.TemporaryDirectory(prefix="vmo-tls-") as private:
            cert, key = os.path.join(private, "tls.crt"), os.path.join(private, "tls.key")
            for path, text in ((cert, certificate.cert_pem), (key, certificate.key_pem)):
                with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
                    handle.write(text)
            try:
                context.load_cert_chain(cert, key)
            except ssl.SSLError as exc:
                raise KubeError(
                    0, "NoConfiguration", f"the client certificate or key is unusable: {exc}"
                ) from None
    return context


def _pool_manager(
    endpoint: Endpoint, certificate: ClientCertificate | None, size: int
) -> urllib3.PoolManager:
    options: dict[str, Any] = {
        "maxsize": size,
        "block": False,
        "ssl_context": ssl_context(endpoint, certificate),
    }
    if endpoint.tls_server_name:
        options["server_hostname"] = endpoint.tls_server_name
    if not endpoint.verify:
        warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning)
        options["cert_reqs"] = ssl.CERT_NONE
    if endpoint.proxy:
        return urllib3.ProxyManager(endpoint.proxy, num_pools=4, **options)
    return urllib3.PoolManager(num_pools=4, **options)


# One transport per official client, however many `KubeClient`s wrap it: each would otherwise
# open connections (and TLS handshakes) of its own.
_OF_OFFICIAL: weakref.WeakKeyDictionary[Any, Transport] = weakref.WeakKeyDictionary()
_OF_OFFICIAL_LOCK = threading.Lock()


def transport_of(api: Any) -> Transport:
    """`api` itself, or a transport with the same server and credentials as a client the official
    package made (duck-typed, so the package need not be installed)."""
    if isinstance(api, Transport):
        return api
    with _OF_OFFICIAL_LOCK:
        known = _OF_OFFICIAL.get(api)
        if known is None:
            known = _OF_OFFICIAL[api] = _of_official(api)
        return known


def _of_official(api: Any) -> Transport:
    config = api.configuration
    headers = [s for s in config.auth_settings().values() if s.get("in") == "header" and s.get("value")]
    token = next(
        (str(s["value"]).removeprefix("Bearer ") for s in headers if s.get("key") == "authorization"), None
    )
    endpoint = Endpoint(
        host=config.host,
        ca_file=config.ssl_ca_cert,
        verify=bool(config.verify_ssl),
        tls_server_name=getattr(config, "tls_server_name", None),
        proxy=config.proxy,
    )
    identity = Identity(token=token, cert_file=config.cert_file, key_file=config.key_file)
    return Transport(endpoint, identity, pool_size=config.connection_pool_maxsize or 4)


def raise_for(answer: Answer) -> None:
    if not 200 <= answer.status < 300:
        raise to_kube_error(answer.status, answer.reason, answer.data)
