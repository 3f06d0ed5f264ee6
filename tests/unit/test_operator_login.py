"""kopf logs in with what the floor reads (`operator.login`): the same server, CA and credentials,
a credential plugin's expiry included, so kopf asks again before it runs out."""

from __future__ import annotations

import base64
import datetime as dt
import json
import sys
from collections.abc import Mapping
from pathlib import Path

import kopf
import pytest

from vmo_operator.operator.login import login


def config(tmp_path: Path, user: Mapping[str, object]) -> Path:
    path = tmp_path / "kubeconfig"
    cluster = {"server": "https://api:6443", "certificate-authority-data": base64.b64encode(b"CA").decode()}
    path.write_text(
        json.dumps(
            {
                "current-context": "x",
                "clusters": [{"name": "c", "cluster": cluster}],
                "users": [{"name": "u", "user": user}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
            }
        )
    )
    return path


@pytest.fixture(autouse=True)
def outside_a_pod(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)


def test_a_token_kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(config(tmp_path, {"token": "t0k"})))
    info = login(settings=kopf.OperatorSettings())
    assert (info.server, info.ca_data, info.ca_path, info.insecure) == ("https://api:6443", "CA", None, False)
    assert (info.scheme, info.token, info.certificate_data, info.expiration) == ("Bearer", "t0k", None, None)


def test_a_plugins_certificate_and_its_expiry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    status = {
        "clientCertificateData": "C",
        "clientKeyData": "K",
        "expirationTimestamp": "2030-01-01T00:00:00Z",
    }
    script = tmp_path / "plugin.py"
    script.write_text(f"import json\nprint(json.dumps({{'status': {status!r}}}))\n")
    user = {
        "exec": {
            "command": sys.executable,
            "args": [str(script)],
            "apiVersion": "client.authentication.k8s.io/v1",
        }
    }
    monkeypatch.setenv("KUBECONFIG", str(config(tmp_path, user)))
    info = login(settings=kopf.OperatorSettings())
    assert (info.token, info.certificate_data, info.private_key_data) == (None, "C", "K")
    assert info.expiration == dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
