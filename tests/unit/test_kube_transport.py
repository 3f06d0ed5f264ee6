"""The floor's own configuration and transport: kubeconfigs read as kubectl reads them, credentials
kept fresh (a rotated token file, a credential plugin), a 401 retried once with fresh credentials.

The transport talks to a plain-HTTP server on 127.0.0.1 here; against the real API server (TLS,
client certificates, tokens) it carries every integration test.
"""

from __future__ import annotations

import base64
import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from vmo_operator.kube import credentials as credentials_module
from vmo_operator.kube.client import KubeClient
from vmo_operator.kube.credentials import Credentials
from vmo_operator.kube.errors import KubeError
from vmo_operator.kube.kinds import NAMESPACE
from vmo_operator.kube.kubeconfig import (
    Endpoint,
    ExecPlugin,
    Identity,
    NotInClusterError,
    from_kubeconfig,
    in_cluster,
)
from vmo_operator.kube.transport import Transport


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def write(path: Path, doc: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def kubeconfig(context: str, clusters: list[Any], users: list[Any], contexts: list[Any]) -> dict[str, Any]:
    return {"current-context": context, "clusters": clusters, "users": users, "contexts": contexts}


def test_several_files_merge_first_name_wins_and_paths_are_relative_to_their_file(tmp_path: Path) -> None:
    first = write(
        tmp_path / "a" / "config",
        kubeconfig(
            "dev",
            [{"name": "c", "cluster": {"server": "https://first:6443/", "certificate-authority": "ca.crt"}}],
            [{"name": "u", "user": {"client-certificate": "u.crt", "client-key": "/abs/u.key"}}],
            [{"name": "dev", "context": {"cluster": "c", "user": "u"}}],
        ),
    )
    second = write(
        tmp_path / "b" / "config",
        kubeconfig(
            "prod",
            [{"name": "c", "cluster": {"server": "https://second:6443"}}],
            [{"name": "u", "user": {"token": "not-this-one"}}],
            [{"name": "prod", "context": {"cluster": "c", "user": "u"}}],
        ),
    )
    endpoint, identity = from_kubeconfig([first, second])
    assert endpoint == Endpoint("https://first:6443", ca_file=str(tmp_path / "a" / "ca.crt"))
    assert identity == Identity(cert_file=str(tmp_path / "a" / "u.crt"), key_file="/abs/u.key")
    # The second file's context is there too, with the first file's cluster and user of its names.
    endpoint, identity = from_kubeconfig([first, second], context="prod")
    assert endpoint.host == "https://first:6443"
    assert identity.token is None


def test_data_fields_tls_and_token_file_are_read(tmp_path: Path) -> None:
    cluster = {
        "server": "https://api:443",
        "certificate-authority-data": b64("CA PEM"),
        "insecure-skip-tls-verify": True,
        "tls-server-name": "kubernetes",
        "proxy-url": "http://proxy:3128",
    }
    user = {"client-certificate-data": b64("CERT"), "client-key-data": b64("KEY"), "tokenFile": "tok"}
    path = write(
        tmp_path / "config",
        kubeconfig("x", [{"name": "c", "cluster": cluster}], [{"name": "u", "user": user}],
                   [{"name": "x", "context": {"cluster": "c", "user": "u"}}]),
    )  # fmt: skip
    endpoint, identity = from_kubeconfig(path)
    assert endpoint == Endpoint("https://api:443", None, "CA PEM", False, "kubernetes", "http://proxy:3128")
    assert (identity.cert_data, identity.key_data) == ("CERT", "KEY")
    assert identity.token_file == str(tmp_path / "tok")
    assert "CERT" not in repr(identity)
    assert "KEY" not in repr(identity)


@pytest.mark.parametrize(
    ("user", "context", "said"),
    [
        ({"token": "t"}, "nowhere", "contexts has no entry named 'nowhere'"),
        ({"client-key-data": "%%%"}, "x", "client-key-data is not base64"),
        ({"auth-provider": {"name": "oidc"}}, "x", "auth-provider 'oidc'"),
        ({"exec": {"args": ["x"]}}, "x", "exec has no command"),
        ({"token": "t", "as": "limited"}, "x", "the user impersonates (as)"),
    ],
)
def test_a_bad_kubeconfig_is_one_error_naming_the_entry(
    tmp_path: Path, user: dict[str, Any], context: str, said: str
) -> None:
    path = write(
        tmp_path / "config",
        kubeconfig(context, [{"name": "c", "cluster": {"server": "https://api"}}],
                   [{"name": "u", "user": user}], [{"name": "x", "context": {"cluster": "c", "user": "u"}}]),
    )  # fmt: skip
    with pytest.raises(KubeError) as raised:
        from_kubeconfig(path)
    assert raised.value.reason == "NoConfiguration"
    assert said in raised.value.message


def test_no_file_and_no_current_context_say_so(tmp_path: Path) -> None:
    with pytest.raises(KubeError, match="no kubeconfig file at"):
        from_kubeconfig(tmp_path / "absent")
    empty = write(tmp_path / "config", {"clusters": []})
    with pytest.raises(KubeError, match="current-context is not set"):
        from_kubeconfig(empty)


def test_in_cluster_names_the_token_file_and_brackets_an_ipv6_service(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("t")
    (tmp_path / "ca.crt").write_text("ca")
    endpoint, identity = in_cluster(
        tmp_path, {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"}
    )
    assert endpoint == Endpoint("https://[fd00::1]:443", ca_file=str(tmp_path / "ca.crt"))
    assert identity == Identity(token_file=str(tmp_path / "token"))
    with pytest.raises(NotInClusterError):
        in_cluster(tmp_path, {})
    with pytest.raises(NotInClusterError):
        in_cluster(tmp_path / "elsewhere", {"KUBERNETES_SERVICE_HOST": "h", "KUBERNETES_SERVICE_PORT": "1"})


def test_a_rotated_token_file_is_read_again_after_a_minute_or_a_refusal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = tmp_path / "token"
    token.write_text("first\n")
    now = [1000.0]
    monkeypatch.setattr("vmo_operator.kube.credentials.time.monotonic", lambda: now[0])
    creds = Credentials(Identity(token_file=str(token)))
    assert creds.authorization() == "Bearer first"
    token.write_text("second")
    assert creds.authorization() == "Bearer first"  # within the minute: the cached one
    now[0] += credentials_module.TOKEN_FILE_SECONDS
    assert creds.authorization() == "Bearer second"
    token.write_text("third")
    creds.rejected()
    assert creds.authorization() == "Bearer third"


def plugin(tmp_path: Path, status: dict[str, Any], *, exit_code: int = 0) -> ExecPlugin:
    """A credential plugin that counts its runs and records the request kubectl would hand it."""
    script = tmp_path / "plugin.py"
    script.write_text(
        "import json, os, pathlib, sys\n"
        f"runs = pathlib.Path({str(tmp_path / 'runs')!r})\n"
        "runs.write_text(str(int(runs.read_text() or 0) + 1) if runs.exists() else '1')\n"
        f"pathlib.Path({str(tmp_path / 'info')!r}).write_text(os.environ['KUBERNETES_EXEC_INFO'] + "
        "'|' + os.environ.get('PLUGIN_REGION', ''))\n"
        f"print(json.dumps({{'kind': 'ExecCredential', 'status': {status!r}}}))\n"
        f"sys.stderr.write('plugin says no')\nsys.exit({exit_code})\n"
    )
    return ExecPlugin(
        command=sys.executable,
        args=(str(script),),
        env=(("PLUGIN_REGION", "eu-1"),),
        cluster={"server": "https://api"},
    )


def test_a_credential_plugin_is_run_once_until_its_credential_expires(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exec_plugin = plugin(tmp_path, {"token": "issued", "expirationTimestamp": "2030-01-01T00:00:00Z"})
    creds = Credentials(Identity(exec_plugin=exec_plugin))
    assert creds.authorization() == "Bearer issued"
    assert creds.authorization() == "Bearer issued"
    assert (tmp_path / "runs").read_text() == "1"
    request, region = (tmp_path / "info").read_text().split("|")
    assert json.loads(request)["spec"] == {"interactive": False, "cluster": {"server": "https://api"}}
    assert region == "eu-1"
    assert creds.valid_until() == 1893456000.0
    monkeypatch.setattr(
        "vmo_operator.kube.credentials.time.time", lambda: 1893456000.0 - 5
    )  # within the margin
    assert creds.authorization() == "Bearer issued"
    assert (tmp_path / "runs").read_text() == "2"


def test_a_plugin_may_issue_a_client_certificate(tmp_path: Path) -> None:
    creds = Credentials(
        Identity(exec_plugin=plugin(tmp_path, {"clientCertificateData": "C", "clientKeyData": "K"}))
    )
    assert creds.authorization() is None
    certificate = creds.certificate()
    assert certificate is not None
    assert (certificate.cert_pem, certificate.key_pem) == ("C", "K")
    assert creds.valid_until() is None


@pytest.mark.parametrize(
    ("status", "exit_code", "said"),
    [
        ({"token": "t"}, 1, "exited 1: plugin says no"),
        ({}, 0, "issued neither a token nor a certificate"),
        ({"token": "t", "expirationTimestamp": "soon"}, 0, "expirationTimestamp is not RFC 3339"),
    ],
)
def test_a_failing_plugin_is_one_error_naming_it(
    tmp_path: Path, status: dict[str, Any], exit_code: int, said: str
) -> None:
    creds = Credentials(Identity(exec_plugin=plugin(tmp_path, status, exit_code=exit_code)))
    with pytest.raises(KubeError) as raised:
        creds.authorization()
    assert said in raised.value.message
    assert Path(sys.executable).name in raised.value.message


class TokenCheckingServer(ThreadingHTTPServer):
    """Answers GET /api/v1/namespaces/x with a Namespace to the accepted token, else 401."""

    accepted = "new"
    seen: list[str]


class Handler(BaseHTTPRequestHandler):
    server: TokenCheckingServer

    def do_GET(self) -> None:
        said = self.headers.get("Authorization", "")
        self.server.seen.append(said)
        ok = said == f"Bearer {self.server.accepted}"
        body = json.dumps({"kind": "Namespace", "metadata": {"name": "x"}} if ok else {"kind": "Status",
                          "reason": "Unauthorized", "message": "Unauthorized"}).encode()  # fmt: skip
        self.send_response(200 if ok else 401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def token_server() -> Iterator[TokenCheckingServer]:
    server = TokenCheckingServer(("127.0.0.1", 0), Handler)
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_a_refused_token_is_read_again_and_the_request_sent_once_more(
    tmp_path: Path, token_server: TokenCheckingServer
) -> None:
    token = tmp_path / "token"
    token.write_text("old")
    endpoint = Endpoint(f"http://127.0.0.1:{token_server.server_address[1]}")
    kube = KubeClient(Transport(endpoint, Identity(token_file=str(token))))
    token_server.accepted = "old"
    assert kube.get(NAMESPACE, "x") == {"kind": "Namespace", "metadata": {"name": "x"}}
    token.write_text("new")  # the kubelet rotated it; the cached one is now refused
    token_server.accepted = "new"
    assert kube.get(NAMESPACE, "x") is not None
    assert token_server.seen == ["Bearer old", "Bearer old", "Bearer new"]
    token_server.accepted = "neither"
    with pytest.raises(KubeError) as refused:  # refused again with a fresh read: the caller hears it
        kube.get(NAMESPACE, "x")
    assert refused.value.status == 401
    assert kube.requests["get"] == 3  # a retry is one request to the caller


def test_an_unreachable_server_is_status_0() -> None:
    kube = KubeClient(Transport(Endpoint("http://127.0.0.1:9")), timeout=(2.0, 2.0))
    with pytest.raises(KubeError) as raised:
        kube.get(NAMESPACE, "x")
    assert (raised.value.status, raised.value.reason) == (0, "Unreachable")


def test_a_client_certificate_file_is_read_once_and_again_after_a_refusal(tmp_path: Path) -> None:
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert.write_text("C1")
    key.write_text("K1")
    creds = Credentials(Identity(cert_file=str(cert), key_file=str(key)))
    first = creds.certificate()
    cert.write_text("C2")
    key.write_text("K2")
    assert creds.certificate() is first  # every request asks: no file is read again meanwhile
    creds.rejected()
    renewed = creds.certificate()
    assert renewed is not None
    assert (renewed.cert_pem, renewed.key_pem) == ("C2", "K2")


def test_a_client_of_the_official_package_is_read_once_for_its_server_and_credentials() -> None:
    from kubernetes import client

    from vmo_operator.kube.transport import transport_of

    configuration = client.Configuration(host="https://api:6443")
    configuration.api_key = {"BearerToken": "t0k"}
    configuration.api_key_prefix = {"BearerToken": "Bearer"}
    configuration.ssl_ca_cert = "/ca.crt"
    official = client.ApiClient(configuration)
    transport = transport_of(official)
    assert transport_of(official) is transport  # every KubeClient over it shares its connections
    assert (transport.endpoint.host, transport.endpoint.ca_file) == ("https://api:6443", "/ca.crt")
    assert transport.credentials.authorization() == "Bearer t0k"


def test_a_fixed_token_that_is_refused_is_not_sent_again(token_server: TokenCheckingServer) -> None:
    endpoint = Endpoint(f"http://127.0.0.1:{token_server.server_address[1]}")
    kube = KubeClient(Transport(endpoint, Identity(token="expired")))
    with pytest.raises(KubeError) as refused:
        kube.get(NAMESPACE, "x")
    assert refused.value.status == 401
    assert token_server.seen == ["Bearer expired"]
