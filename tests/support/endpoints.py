"""A Service stand-in for webhook replicas on loopback: a TCP proxy whose endpoints are the replicas
whose readiness probe passes, the way the kubelet and kube-proxy make a Service's endpoints.

Replicas sharing one port (SO_REUSEPORT) cannot be told apart, and the kernel keeps handing
connections to a stopped one; replicas on ports of their own behind this proxy can. Like the
kubelet, a prober per replica GETs /readyz over HTTPS every `period` (no client certificate,
the server's certificate unchecked, `timeout` per probe); `failure_threshold` failures in a row
take the replica off the endpoints, one success puts it back. Each new connection goes to the
next endpoint in turn; with none, it is closed. Connections to a replica that leaves are reset,
so a client's pooled keep-alive connection fails at once rather than after its own timeout
(kube-proxy in iptables mode would leave it to time out; clients retry either way).
"""

from __future__ import annotations

import contextlib
import itertools
import selectors
import socket
import threading
from dataclasses import dataclass, field
from types import TracebackType

from tests.support.webhook_calls import WebhookCaller

CHUNK = 65536


@dataclass
class Endpoint:
    port: int
    ready: bool = False
    failures: int = 0
    connections: set[socket.socket] = field(default_factory=set)


class ReadinessProxy:
    """Listens on 127.0.0.1:`port`, forwards to the ready ones of `backends` (ports on 127.0.0.1)."""

    def __init__(
        self, backends: list[int], *, period: float = 1.0, timeout: float = 2.0, failure_threshold: int = 2
    ) -> None:
        self._endpoints = [Endpoint(port) for port in backends]
        self._period, self._timeout, self._threshold = period, timeout, failure_threshold
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._turn = itertools.count()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)  # so the accept loop sees `stop`
        self.port: int = self._listener.getsockname()[1]
        self._threads: list[threading.Thread] = []

    def endpoints(self) -> list[int]:
        """The ports of the replicas that would be on the Service's endpoint list now."""
        with self._lock:
            return sorted(endpoint.port for endpoint in self._endpoints if endpoint.ready)

    def __enter__(self) -> ReadinessProxy:
        targets = [self._accept, *(lambda e=e: self._probe(e) for e in self._endpoints)]
        self._threads = [threading.Thread(target=target, daemon=True) for target in targets]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=self._timeout + 5)
        self._listener.close()
        with self._lock:
            for endpoint in self._endpoints:
                self._reset(endpoint)

    # ---- the kubelet's part ---------------------------------------------------------------------
    def _probe(self, endpoint: Endpoint) -> None:
        prober = WebhookCaller(endpoint.port, timeout=self._timeout)
        while not self._stopping.is_set():
            try:
                passed = prober.ready()[0] == 200
            except OSError:  # refused, reset, timed out
                passed = False
            with self._lock:
                endpoint.failures = 0 if passed else endpoint.failures + 1
                if passed:
                    endpoint.ready = True
                elif endpoint.ready and endpoint.failures >= self._threshold:
                    endpoint.ready = False
                    self._reset(endpoint)
            self._stopping.wait(self._period)  # the probe period, not a synchronisation

    @staticmethod
    def _reset(endpoint: Endpoint) -> None:
        for connection in endpoint.connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        endpoint.connections.clear()

    # ---- kube-proxy's part ----------------------------------------------------------------------
    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                downstream, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                ready = [endpoint for endpoint in self._endpoints if endpoint.ready]
                chosen = ready[next(self._turn) % len(ready)] if ready else None
            if chosen is None:
                downstream.close()
                continue
            threading.Thread(target=self._forward, args=(downstream, chosen), daemon=True).start()

    def _forward(self, downstream: socket.socket, endpoint: Endpoint) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", endpoint.port), timeout=self._timeout)
        except OSError:
            downstream.close()
            return
        pair = {downstream: upstream, upstream: downstream}
        with self._lock:
            endpoint.connections.update(pair)
        try:
            with selectors.DefaultSelector() as selector:
                for sock in pair:
                    sock.setblocking(False)
                    selector.register(sock, selectors.EVENT_READ)
                while not self._stopping.is_set():
                    for key, _ in selector.select(timeout=0.5):
                        source: socket.socket = key.fileobj  # type: ignore[assignment]
                        data = source.recv(CHUNK)
                        if not data:
                            return
                        pair[source].setblocking(True)
                        pair[source].sendall(data)
                        pair[source].setblocking(False)
        except OSError:
            return
        finally:
            with self._lock:
                endpoint.connections.difference_update(pair)
            for sock in pair:
                sock.close()
