"""Keep the Mutating- and ValidatingWebhookConfiguration current, or remove them when the pool is off.

`admission_config` builds the objects and explains why we write them ourselves instead of
using kopf's managed configurations. Every replica converges on identical objects, so a
configuration is read first and written only when it lacks something we set: a maintenance tick
that changes nothing writes nothing (a rewrite would churn the API server's webhook informers).
The write is a server-side apply under our field manager, which creates, updates and takes over
fields alike, so replicas racing to write the same content cannot conflict.
"""

from __future__ import annotations

import contextlib

from vmo_operator.kube import kinds
from vmo_operator.kube.client import KubeClient, KubeError
from vmo_operator.kube.objects import contains
from vmo_operator.macpool import admission_config
from vmo_operator.macpool.settings import MacPoolSettings
from vmo_operator.operator.macpool.runtime import AdmissionOptions, Certificates


def endpoint(options: AdmissionOptions, certificates: Certificates) -> admission_config.Endpoint:
    """Where the API server reaches our webhook server, trusting our CA."""
    ca_bundle = certificates.bundle.ca_bundle
    if options.mode == "url":
        port = options.url_port or options.port
        return admission_config.Endpoint(ca_bundle, url=f"https://{options.url_host}:{port}")
    return admission_config.Endpoint(
        ca_bundle,
        service_namespace=options.namespace,
        service_name=options.service_name,
        service_port=options.service_port,
    )


def ensure_webhook_configurations(
    kube: KubeClient, options: AdmissionOptions, certificates: Certificates, settings: MacPoolSettings
) -> None:
    """Make the two configurations match the settings (or remove them when the pool is disabled)."""
    mutating, validating = admission_config.webhook_configurations(
        endpoint(options, certificates),
        profile_selector=settings.namespace_selector,
        excluded_namespaces=options.excluded_namespaces,
    )
    for kind, desired in (
        (kinds.MUTATING_WEBHOOK_CONFIGURATION, mutating),
        (kinds.VALIDATING_WEBHOOK_CONFIGURATION, validating),
    ):
        name = desired["metadata"]["name"]
        live = kube.get(kind, name)
        if not settings.enabled:
            if live is not None:
                with contextlib.suppress(KubeError):  # another replica removed it first
                    kube.delete(kind, name)
            continue
        if live is None or not contains(desired["webhooks"], live.get("webhooks")):
            kube.apply(kind, desired)
