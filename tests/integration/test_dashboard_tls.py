"""The dashboard's certificate on a real API server, with the operator running under the chart's RBAC
(which reads no Secret outside the operator's namespace): issued, published into the Secret the
Deployment mounts, renewed when due, removed with the dashboard."""

from __future__ import annotations

import base64
import functools
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.support.kube import PROFILE
from tests.support.operator import OPERATOR_NAMESPACE
from tests.support.profiles import SharedProfile, kube_of
from tests.support.waiting import eventually
from vmo_operator.components import dashboard
from vmo_operator.kube import kinds
from vmo_operator.macpool import certs
from vmo_operator.operator import dashboard_tls

ON = {"dashboard": {"enabled": True}}


def published(api: Any) -> dict[str, bytes] | None:
    """The Secret the dashboard's pod mounts, as the API server holds it (None while absent)."""
    try:
        secret = client.CoreV1Api(api).read_namespaced_secret(dashboard.TLS_SECRET, dashboard.NAMESPACE)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return {key: base64.b64decode(value) for key, value in (secret.data or {}).items()}


def gone(api: Any) -> bool:
    return published(api) is None


def serving(data: dict[str, bytes]) -> x509.Certificate:
    return x509.load_pem_x509_certificate(data["tls.crt"])


def renewed_under(api: Any, planted: certs.CertBundle) -> dict[str, bytes] | None:
    """The published pair once it is a new one under the planted CA (not the planted, due one)."""
    data = published(api)
    if data is None or data["tls.crt"] == planted.serving.cert_pem:
        return None
    return data if certs.signed_by(serving(data), planted.ca.cert) else None


def test_the_operator_issues_renews_and_removes_the_dashboards_certificate(
    api_client: Any, profile: SharedProfile
) -> None:
    profile.create(ON)
    issued = eventually(functools.partial(published, api_client), timeout=120, what="the dashboard's Secret")
    assert set(issued) == {"tls.crt", "tls.key", "ca-bundle.crt"}  # never the CA's key
    assert certs.sans_of(serving(issued)) == set(dashboard.service_names())
    [ca] = certs.split_pem(issued["ca-bundle.crt"])
    assert certs.signed_by(serving(issued), x509.load_pem_x509_certificate(ca))

    deployment = eventually(
        lambda: kube_of(api_client).get(kinds.DEPLOYMENT, dashboard.NAME, dashboard.NAMESPACE),
        timeout=120,
        what="the dashboard's Deployment",
    )
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["tls"]["secret"]["secretName"] == dashboard.TLS_SECRET
    assert [item["key"] for item in volumes["tls"]["secret"]["items"]] == ["tls.crt", "tls.key"]

    # A serving certificate past two thirds of its life, as 61 days after issue, in the bundle the
    # operator keeps in its namespace: it renews it under the same CA and publishes the new pair.
    past = datetime.now(UTC) - timedelta(days=61)
    planted = certs.plan_certificates(None, dashboard.service_names(), now=past, name=dashboard.TLS_CA_NAME)
    assert certs.renewal_due(planted.serving.cert, datetime.now(UTC))
    body = client.V1Secret(
        metadata=client.V1ObjectMeta(name=dashboard_tls.CA_SECRET, namespace=OPERATOR_NAMESPACE),
        data={k: base64.b64encode(v).decode() for k, v in planted.to_secret_data().items()},
    )
    client.CoreV1Api(api_client).replace_namespaced_secret(dashboard_tls.CA_SECRET, OPERATOR_NAMESPACE, body)
    renewed = eventually(
        functools.partial(renewed_under, api_client, planted), timeout=120, what="a renewed certificate"
    )
    assert renewed["ca-bundle.crt"] == planted.ca_bundle
    assert certs.signed_by(serving(renewed), planted.ca.cert)
    assert not certs.renewal_due(serving(renewed), datetime.now(UTC))

    # The dashboard turned off: its certificate goes with it.
    custom = client.CustomObjectsApi(api_client)
    custom.patch_cluster_custom_object(*PROFILE, "vmo", {"spec": {"dashboard": {"enabled": False}}})
    eventually(functools.partial(gone, api_client), timeout=120, what="the Secret removed")
