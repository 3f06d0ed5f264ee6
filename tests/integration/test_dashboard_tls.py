"""The dashboard's certificate on a real API server, with the operator running under the chart's RBAC:
issued into the Secret the Deployment mounts, renewed when due, removed with the dashboard."""

from __future__ import annotations

import base64
import functools
from datetime import UTC, datetime, timedelta
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.support.kube import PROFILE
from tests.support.profiles import SharedProfile, kube_of
from tests.support.waiting import eventually
from vmo_operator.components import dashboard
from vmo_operator.kube import kinds
from vmo_operator.macpool import certs

ON = {"dashboard": {"enabled": True}}


def stored(api: Any) -> certs.CertBundle | None:
    try:
        secret = client.CoreV1Api(api).read_namespaced_secret(dashboard.TLS_SECRET, dashboard.NAMESPACE)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return certs.stored_bundle({"data": secret.data})


def gone(api: Any) -> bool:
    try:
        client.CoreV1Api(api).read_namespaced_secret(dashboard.TLS_SECRET, dashboard.NAMESPACE)
    except ApiException as exc:
        if exc.status == 404:
            return True
        raise
    return False


def renewed_under(api: Any, planted: certs.CertBundle) -> certs.CertBundle | None:
    bundle = stored(api)
    if bundle is None or bundle.serving.cert_pem == planted.serving.cert_pem:
        return None
    return bundle


def test_the_operator_issues_renews_and_removes_the_dashboards_certificate(
    api_client: Any, profile: SharedProfile
) -> None:
    profile.create(ON)
    issued = eventually(functools.partial(stored, api_client), timeout=120, what="the dashboard's Secret")
    assert certs.sans_of(issued.serving.cert) == set(dashboard.service_names())
    assert certs.signed_by(issued.serving.cert, issued.ca.cert)

    deployment = eventually(
        lambda: kube_of(api_client).get(kinds.DEPLOYMENT, dashboard.NAME, dashboard.NAMESPACE),
        timeout=120,
        what="the dashboard's Deployment",
    )
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["tls"]["secret"]["secretName"] == dashboard.TLS_SECRET
    assert [item["key"] for item in volumes["tls"]["secret"]["items"]] == ["tls.crt", "tls.key"]

    # A serving certificate past two thirds of its life, as 61 days after issue: the operator renews
    # it under the same CA on a following round.
    past = datetime.now(UTC) - timedelta(days=61)
    planted = certs.plan_certificates(None, dashboard.service_names(), now=past, name=dashboard.TLS_CA_NAME)
    assert certs.renewal_due(planted.serving.cert, datetime.now(UTC))
    body = client.V1Secret(
        metadata=client.V1ObjectMeta(name=dashboard.TLS_SECRET, namespace=dashboard.NAMESPACE),
        data={k: base64.b64encode(v).decode() for k, v in planted.to_secret_data().items()},
    )
    client.CoreV1Api(api_client).replace_namespaced_secret(dashboard.TLS_SECRET, dashboard.NAMESPACE, body)
    renewed = eventually(
        functools.partial(renewed_under, api_client, planted), timeout=120, what="a renewed certificate"
    )
    assert renewed.ca == planted.ca
    assert certs.signed_by(renewed.serving.cert, planted.ca.cert)
    assert not certs.renewal_due(renewed.serving.cert, datetime.now(UTC))

    # The dashboard turned off: its certificate goes with it.
    custom = client.CustomObjectsApi(api_client)
    custom.patch_cluster_custom_object(*PROFILE, "vmo", {"spec": {"dashboard": {"enabled": False}}})
    eventually(functools.partial(gone, api_client), timeout=120, what="the Secret removed")
