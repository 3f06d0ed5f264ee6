"""The dashboard's serving certificate: issued, renewed and removed by the operator, as the webhook's is.

The same machinery as the webhook (`macpool.certs.plan_certificates`): a CA of the dashboard's own,
name-constrained to the dashboard Service's names, and a serving certificate under it, both renewed
at two thirds of their lifetime, the CA in two phases so a browser told to trust `ca-bundle.crt`
keeps trusting across a rotation. A separate CA, not the webhook's: a CA constrained to the
webhook's names cannot sign for the dashboard's, and neither should be able to.

It runs in the profile's reconcile round, before the engine applies the Deployment that mounts the
Secret, and costs one GET when nothing is due. The Secret is written by server-side apply on its
own name (RBAC grants the operator this one Secret by name, never Secrets at large), with the
resourceVersion read as a precondition: a replica that loses a race gets 409 and takes the
winner's certificate in its next round. When the dashboard is turned off, or the profile goes, the
Secret goes too.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import structlog
from pydantic import ValidationError

from vmo_operator.api import models
from vmo_operator.components import dashboard
from vmo_operator.kube import kinds
from vmo_operator.kube.client import KubeClient, KubeError
from vmo_operator.macpool import certs

log = structlog.get_logger("vmo.dashboard")


def settle_for(kube: KubeClient, profile: Mapping[str, Any]) -> None:
    """`settle` for the active profile's spec; a failure is logged, never stops the round.

    An invalid spec leaves the Secret as it is: the engine reports the spec, and a typo must not
    take a running dashboard's certificate away.
    """
    try:
        enabled = models.parse_spec(profile.get("spec")).dashboard.enabled
    except ValidationError:
        return
    try:
        settle(kube, enabled)
    except KubeError as exc:
        log.warning("dashboard certificate not settled", error=str(exc))


def settle(kube: KubeClient, enabled: bool, *, now: datetime | None = None) -> certs.CertBundle | None:
    """Make the Secret what it should be now; the bundle it holds (None when the dashboard is off)."""
    secret = kube.get(kinds.SECRET, dashboard.TLS_SECRET, dashboard.NAMESPACE)
    if not enabled:
        if secret is not None:
            kube.delete(kinds.SECRET, dashboard.TLS_SECRET, dashboard.NAMESPACE)
        return None
    current = certs.stored_bundle(secret)
    desired = certs.plan_certificates(
        current, dashboard.service_names(), now=now or datetime.now(UTC), name=dashboard.TLS_CA_NAME
    )
    if desired is current:
        return current
    version = str(secret["metadata"].get("resourceVersion", "")) if secret is not None else ""
    try:
        kube.apply(kinds.SECRET, dashboard.tls_secret(desired.to_secret_data(), version))
    except KubeError as exc:
        if exc.status != 409:
            raise
        log.info("dashboard certificate written by another replica meanwhile; next round reads it")
        return current
    log.info("dashboard certificate written", created=secret is None)
    return desired


def remove(kube: KubeClient) -> None:
    """The profile is gone: so is the certificate (already gone is fine)."""
    kube.delete(kinds.SECRET, dashboard.TLS_SECRET, dashboard.NAMESPACE)
