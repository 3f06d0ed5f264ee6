"""Calls straight to a MAC webhook replica's port: as the API server makes them, or as anyone else.

The API server's webhook client certificate lies in the control plane's pki directory
(`localenv.pki.write_webhook_client_credentials`); a test that presents it stands in for the API
server, a test that presents nothing or another certificate plays a caller who merely reaches the
port. The server's own certificate is not checked here (the kubelet's HTTPS probes do not check
it either): these calls are about who the caller is.
"""

from __future__ import annotations

import http.client
import json
import ssl
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.vms import vm_body
from vmo_operator.kube import kinds
from vmo_operator.kube.kinds import Kind
from vmo_operator.localenv import pki
from vmo_operator.localenv.controlplane import ControlPlane

CALL_SECONDS = 15.0


@dataclass(frozen=True)
class ClientCertificate:
    cert: Path
    key: Path

    @classmethod
    def issued(cls, pair: pki.KeyPair, directory: Path, stem: str) -> ClientCertificate:
        directory.mkdir(parents=True, exist_ok=True)
        return cls(*pair.write(directory, stem))


def api_server_certificate(plane: ControlPlane) -> ClientCertificate:
    """The client certificate the control plane's API server presents to webhooks."""
    stem = plane.pki_dir / pki.WEBHOOK_CLIENT
    return ClientCertificate(stem.with_suffix(".crt"), stem.with_suffix(".key"))


def admission_review(
    operation: str,
    obj: Mapping[str, Any],
    *,
    old: Mapping[str, Any] | None = None,
    kind: Kind = kinds.VIRTUAL_MACHINE,
    dry_run: bool = False,
) -> dict[str, Any]:
    """An AdmissionReview as the API server sends it for `obj` (namespace from its metadata)."""
    namespace = obj["metadata"]["namespace"]
    request: dict[str, Any] = {
        "uid": str(uuid.uuid4()),
        "kind": {"group": kind.group, "version": kind.version, "kind": kind.kind},
        "resource": {"group": kind.group, "version": kind.version, "resource": kind.plural},
        "operation": operation,
        "namespace": namespace,
        "name": obj["metadata"].get("name", ""),
        "userInfo": {"username": "someone", "groups": ["system:authenticated"]},
        "object": dict(obj),
        "dryRun": dry_run,
    }
    if old is not None:
        request["oldObject"] = dict(old)
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


def vm_in(namespace: str, name: str, interfaces: Mapping[str, str | None]) -> dict[str, Any]:
    body = vm_body(name, interfaces)
    body["metadata"]["namespace"] = namespace
    return body


@dataclass(frozen=True)
class WebhookCaller:
    """HTTPS to one webhook port on 127.0.0.1, presenting `certificate` (or none)."""

    port: int
    certificate: ClientCertificate | None = None
    timeout: float = CALL_SECONDS

    def _context(self) -> ssl.SSLContext:
        # Nothing is verified, so the system's CA store is not loaded (create_default_context would,
        # at a cost that dominated tests making hundreds of calls).
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        if self.certificate is not None:
            context.load_cert_chain(self.certificate.cert, self.certificate.key)
        return context

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """(HTTP status, parsed JSON body or None); TLS and connection errors propagate."""
        connection = http.client.HTTPSConnection(
            "127.0.0.1", self.port, context=self._context(), timeout=self.timeout
        )
        try:
            payload = json.dumps(body) if body is not None else None
            connection.request(method, f"/{path}", payload, {"Content-Type": "application/json"})
            response = connection.getresponse()
            raw = response.read()
        finally:
            connection.close()
        try:
            return response.status, json.loads(raw) if raw else None
        except ValueError:
            return response.status, raw.decode(errors="replace")

    def post(self, path: str, review: Any) -> tuple[int, Any]:
        return self.call("POST", path, review)

    def ready(self) -> tuple[int, Any]:
        return self.call("GET", "readyz")
