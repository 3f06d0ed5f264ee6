"""The credentials an `Identity` stands for, kept fresh: a rotated token file is re-read, a credential
plugin is run again when what it printed expires or the API server stops accepting it."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from vmo_operator.kube.errors import KubeError
from vmo_operator.kube.kubeconfig import ExecPlugin, Identity

# client-go re-reads a token file once a minute; the kubelet renews it well before it expires.
TOKEN_FILE_SECONDS = 60.0
PLUGIN_TIMEOUT_SECONDS = 60.0
EXPIRY_MARGIN_SECONDS = 10.0


@dataclass(frozen=True)
class ClientCertificate:
    cert_pem: str
    key_pem: str


@dataclass(frozen=True)
class _Issued:
    token: str | None
    certificate: ClientCertificate | None
    expires: float  # time.time(); inf when the plugin gave no expiry


class Credentials:
    """Thread-safe: requests run from worker threads."""

    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self._lock = threading.Lock()
        self._file_token: tuple[str, float] | None = None  # (token, monotonic time read)
        self._issued: _Issued | None = None
        self._own_certificate: ClientCertificate | None = None  # from data or files, read once

    @property
    def renewable(self) -> bool:
        """Whether asking again may give other credentials: files are re-read, a plugin re-run."""
        ident = self.identity
        return bool(ident.token_file or ident.cert_file or ident.exec_plugin)

    def token(self) -> str | None:
        """The bearer token, if the identity is one (fixed, from its file, or from the plugin)."""
        return self.identity.token or self._token_from_file() or self._plugin_token()

    def authorization(self) -> str | None:
        """The Authorization header's value, if the identity is a token."""
        token = self.token()
        return f"Bearer {token}" if token else None

    def certificate(self) -> ClientCertificate | None:
        """The client certificate from data or files (read once, and again after a refusal: a
        rotated file), or the one the plugin issued. Asked at every request, so it reads nothing
        then."""
        ident = self.identity
        if ident.cert_data or ident.cert_file:
            with self._lock:
                if self._own_certificate is None:
                    self._own_certificate = ClientCertificate(
                        ident.cert_data or _read(ident.cert_file, "client-certificate"),
                        ident.key_data or _read(ident.key_file, "client-key"),
                    )
                return self._own_certificate
        if ident.exec_plugin is None:
            return None
        return self._from_plugin().certificate

    def valid_until(self) -> float | None:
        """When what the plugin issued expires (time.time()), if it said; None for lasting credentials."""
        if self.identity.exec_plugin is None:
            return None
        expires = self._from_plugin().expires
        return None if expires == float("inf") else expires

    def rejected(self) -> None:
        """The API server answered 401: forget what may be stale, so the next request asks again."""
        with self._lock:
            self._file_token = None
            self._issued = None
            self._own_certificate = None

    def _token_from_file(self) -> str | None:
        path = self.identity.token_file
        if not path:
            return None
        with self._lock:
            cached = self._file_token
            if cached is not None and time.monotonic() - cached[1] < TOKEN_FILE_SECONDS:
                return cached[0]
            token = _read(path, "token file").strip()
            self._file_token = (token, time.monotonic())
            return token

    def _plugin_token(self) -> str | None:
        return self._from_plugin().token if self.identity.exec_plugin is not None else None

    def _from_plugin(self) -> _Issued:
        plugin = self.identity.exec_plugin
        assert plugin is not None
        with self._lock:
            issued = self._issued
            if issued is None or time.time() >= issued.expires - EXPIRY_MARGIN_SECONDS:
                issued = self._issued = _run_plugin(plugin)
            return issued


def _read(path: str | None, what: str) -> str:
    if not path:
        raise KubeError(0, "NoConfiguration", f"the {what} file is not named")
    try:
        with open(path) as handle:
            return handle.read()
    except OSError as exc:
        raise KubeError(0, "NoConfiguration", f"cannot read the {what} {path}: {exc.strerror}") from None


def _run_plugin(plugin: ExecPlugin) -> _Issued:
    info: dict[str, Any] = {"interactive": False}
    if plugin.cluster is not None:
        info["cluster"] = plugin.cluster
    request = {"apiVersion": plugin.api_version, "kind": "ExecCredential", "spec": info}
    env = {**os.environ, **dict(plugin.env), "KUBERNETES_EXEC_INFO": json.dumps(request)}
    name = os.path.basename(plugin.command)
    try:
        done = subprocess.run(
            [plugin.command, *plugin.args],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=PLUGIN_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise KubeError(0, "Unauthorized", f"credential plugin {name} could not run: {exc}") from None
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip()[-300:]
        raise KubeError(0, "Unauthorized", f"credential plugin {name} exited {done.returncode}: {said}")
    try:
        status = json.loads(done.stdout).get("status") or {}
    except (ValueError, AttributeError):
        raise KubeError(0, "Unauthorized", f"credential plugin {name} printed no ExecCredential") from None
    cert, key = status.get("clientCertificateData"), status.get("clientKeyData")
    token = status.get("token") or None
    if not token and not (cert and key):
        raise KubeError(
            0, "Unauthorized", f"credential plugin {name} issued neither a token nor a certificate"
        )
    expires = float("inf")
    if status.get("expirationTimestamp"):
        try:
            expires = datetime.fromisoformat(str(status["expirationTimestamp"])).timestamp()
        except ValueError:
            raise KubeError(
                0, "Unauthorized", f"credential plugin {name}: expirationTimestamp is not RFC 3339"
            ) from None
    certificate = ClientCertificate(cert, key) if cert and key else None
    return _Issued(token, certificate, expires)
