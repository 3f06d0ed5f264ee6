"""The webhook's CA and serving certificate: one Secret every replica shares, and the files kopf serves.

`ensure_bundle` is the bookkeeping of any such Secret; the dashboard's CA is kept by it too
(`operator/dashboard_tls.py`).

The first replica creates the Secret and every replica loads it, so a caBundle written by one
replica is valid for all. Create-if-absent and replace-at-resourceVersion make the API server
arbitrate: a replica that loses the race (409) reads the winner's certificate and uses that.
"""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime
from pathlib import Path

import structlog

from vmo_operator.kube import kinds
from vmo_operator.kube.client import KubeClient, KubeError
from vmo_operator.kube.objects import Manifest
from vmo_operator.macpool import admission_config, certs
from vmo_operator.operator.macpool.runtime import AdmissionOptions

log = structlog.get_logger("vmo.macpool")

SECRET_NAME = "vmo-macpool-webhook-tls"
ATTEMPTS = 5


def _secret(name: str, namespace: str, bundle: certs.CertBundle) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace, "labels": admission_config.MANAGED_LABELS},
        "type": "Opaque",
        "data": {k: base64.b64encode(v).decode("ascii") for k, v in bundle.to_secret_data().items()},
    }


def ensure_bundle(
    kube: KubeClient,
    name: str,
    namespace: str,
    sans: list[str],
    *,
    ca_name: str = "vmo-macpool-webhook-ca",
    now: datetime | None = None,
) -> certs.CertBundle:
    """Load, create or rotate the CA + serving certificate kept in Secret `namespace/name`."""
    for _attempt in range(ATTEMPTS):
        secret = kube.get(kinds.SECRET, name, namespace)
        current = certs.stored_bundle(secret)
        desired = certs.plan_certificates(current, sans, now=now or datetime.now(UTC), name=ca_name)
        if desired is not current:
            body = _secret(name, namespace, desired)
            try:
                if secret is None:
                    kube.create(kinds.SECRET, body)
                else:
                    body["metadata"]["resourceVersion"] = secret["metadata"]["resourceVersion"]
                    kube.replace(kinds.SECRET, body)
            except KubeError as exc:
                if exc.status == 404 and secret is None:
                    _create_namespace(kube, namespace)
                    continue
                if exc.status == 409:
                    continue  # another replica wrote first: use theirs
                raise
            log.info("certificate written", secret=f"{namespace}/{name}", created=secret is None)
        return desired
    raise RuntimeError(f"could not settle Secret {namespace}/{name}")


def ensure_certificates(kube: KubeClient, options: AdmissionOptions) -> certs.CertBundle:
    """The webhook's shared CA + serving certificate, and the files kopf serves."""
    bundle = ensure_bundle(kube, SECRET_NAME, options.namespace, options.sans)
    _write_files(options.certs_dir, bundle)
    return bundle


def _create_namespace(kube: KubeClient, name: str) -> None:
    try:
        kube.create(kinds.NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    except KubeError as exc:
        if exc.status != 409:
            raise


def _write_files(directory: Path, bundle: certs.CertBundle) -> None:
    """Replace the files only when they change: kopf restarts its server on a new mtime."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in ((certs.TLS_KEY, bundle.serving.key_pem), (certs.TLS_CERT, bundle.serving.cert_pem)):
        path = directory / name
        if path.exists() and path.read_bytes() == content:
            continue
        partial = directory / f".{name}.tmp"
        partial.write_bytes(content)
        os.chmod(partial, 0o600)
        partial.replace(path)
