"""The dashboard's serving certificate: issued, renewed and published by the operator, as the webhook's is.

The same bookkeeping as the webhook's (`operator/macpool/certificates.ensure_bundle` over
`macpool.certs.plan_certificates`): a CA of the dashboard's own, name-constrained to the dashboard
Service's names, and a serving certificate under it, both renewed at two thirds of their lifetime,
the CA in two phases so a browser told to trust `ca-bundle.crt` keeps trusting across a rotation.
A separate CA, not the webhook's: a CA constrained to the webhook's names cannot sign for the
dashboard's, and neither should be able to.

Two Secrets. The whole bundle, CA key included, stays in the operator's own namespace
(`vmo-dashboard-ca`, beside the webhook's), where the operator's Role reads and writes Secrets.
What the dashboard needs (the serving pair and the CA bundle, never the CA key) is published by
server-side apply into `kube-system/vmo-dashboard-tls`, which its Deployment mounts. The operator
holds that Secret by name with create/patch/delete only: it can read no Secret outside its own
namespace. So it cannot see the published copy either, and publishes when the pair changed or
when this process has not published yet; an idle round reads one Secret and writes nothing.

It runs in the active profile's reconcile round, before the engine applies the Deployment that
mounts the Secret. When the dashboard is turned off, or the profile goes, the published Secret goes;
the CA stays in the operator's namespace, so a dashboard turned on again keeps the CA browsers trust.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from pydantic import ValidationError

from vmo_operator.api import models
from vmo_operator.components import dashboard
from vmo_operator.kube import kinds
from vmo_operator.kube.client import KubeClient, KubeError
from vmo_operator.macpool import certs
from vmo_operator.operator.macpool.certificates import ensure_bundle

log = structlog.get_logger("vmo.dashboard")

CA_SECRET = "vmo-dashboard-ca"  # in the operator's namespace: the whole bundle
UNKNOWN, GONE = "unknown", "gone"


@dataclass
class Published:
    """What this process last did to the published Secret: a digest of the pair, GONE or UNKNOWN."""

    state: str = UNKNOWN


def settle_for(kube: KubeClient, namespace: str, profile: Mapping[str, Any], published: Published) -> None:
    """`settle` for the active profile's spec; a failure is logged, never stops the round.

    An invalid spec leaves the Secrets as they are: the engine reports the spec, and a typo must not
    take a running dashboard's certificate away.
    """
    try:
        enabled = models.parse_spec(profile.get("spec")).dashboard.enabled
    except ValidationError:
        return
    try:
        settle(kube, namespace, enabled, published)
    except (KubeError, RuntimeError) as exc:
        log.warning("dashboard certificate not settled", error=str(exc))


def settle(
    kube: KubeClient, namespace: str, enabled: bool, published: Published, *, now: datetime | None = None
) -> certs.CertBundle | None:
    """Issue or renew the bundle and publish the serving pair; the bundle (None when turned off)."""
    if not enabled:
        if published.state != GONE:
            remove(kube, published)
        return None
    bundle = ensure_bundle(
        kube, CA_SECRET, namespace, dashboard.service_names(), ca_name=dashboard.TLS_CA_NAME, now=now
    )
    pair = (bundle.serving.cert_pem, bundle.serving.key_pem, bundle.ca_bundle)
    digest = hashlib.sha256(b"\0".join(pair)).hexdigest()
    if published.state != digest:
        kube.apply(kinds.SECRET, dashboard.tls_secret(*pair))
        published.state = digest
        log.info("dashboard certificate published", secret=f"{dashboard.NAMESPACE}/{dashboard.TLS_SECRET}")
    return bundle


def remove(kube: KubeClient, published: Published) -> None:
    """The published pair goes (already gone is fine); the CA stays in the operator's namespace."""
    kube.delete(kinds.SECRET, dashboard.TLS_SECRET, dashboard.NAMESPACE)
    published.state = GONE
