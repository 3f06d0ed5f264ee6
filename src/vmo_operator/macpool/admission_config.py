"""The Mutating- and ValidatingWebhookConfiguration for the MAC pool, built as plain objects.

The operator writes these itself instead of using kopf's managed configurations, because:
- kopf writes one client URL per process, so replicas would overwrite each other's endpoint, and
  it removes the webhooks on a graceful exit even while another replica still serves;
- the webhooks need settings kopf does not expose: a namespaceSelector (scope and opt-out label),
  `reinvocationPolicy: IfNeeded` (KubeVirt's own VMI mutator may add interfaces after us), and a
  10 s timeout rather than 30 s, so a hung replica fails a create quickly instead of stalling it;
  and `matchConditions` on the VM validating webhook, so a create whose MACs the mutating call
  checked whole costs one call, not two (`checked_macs`).

`failurePolicy: Fail` is deliberate: a VM admitted without the allocator could carry a duplicate
MAC. Availability comes from running several replicas behind one endpoint (a Service, or one
shared loopback port in tests), not from failing open.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from vmo_operator.kube import kinds
from vmo_operator.kube.kinds import Kind
from vmo_operator.kube.objects import selector_matches
from vmo_operator.macpool import checked_macs
from vmo_operator.macpool.settings import NAMESPACE_OPT_OUT_LABEL, NAMESPACE_OPT_OUT_VALUE

CONFIGURATION_NAME = "vmo-macpool"
MUTATE_VM = "macpool-mutate-vm"
MUTATE_VMI = "macpool-mutate-vmi"
VALIDATE_VM = "macpool-validate-vm"
VALIDATE_VMI = "macpool-validate-vmi"
TIMEOUT_SECONDS = 10
Operation = Literal["CREATE", "UPDATE"]
# How long a replica may spend on one call: the API server's timeout less a second for the request
# to reach us and the answer to get back. Work past it is wasted (see `macpool.deadline`).
DECISION_SECONDS = TIMEOUT_SECONDS - 1
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
# Not the engine's managed-by label: these objects are written by the macpool wiring, never pruned by
# the profile reconcile.
MANAGED_LABELS = {"app.kubernetes.io/part-of": "vmo-operator", "app.kubernetes.io/component": "macpool"}


@dataclass(frozen=True)
class Route:
    """One webhook: its URL path (also its kopf handler id) and exactly what the API server sends it."""

    path: str
    name: str  # the webhook's name in its configuration
    kind: Kind
    operations: tuple[Operation, ...]
    mutating: bool
    # CEL conditions the API server evaluates before calling; the call is made only when all hold.
    match_conditions: tuple[Mapping[str, str], ...] = ()


ROUTES = (
    Route(MUTATE_VM, "vm.mutate.macpool.vmo.dev", kinds.VIRTUAL_MACHINE, ("CREATE", "UPDATE"), True),
    Route(MUTATE_VMI, "vmi.mutate.macpool.vmo.dev", kinds.VIRTUAL_MACHINE_INSTANCE, ("CREATE",), True),
    Route(
        VALIDATE_VM,
        "vm.validate.macpool.vmo.dev",
        kinds.VIRTUAL_MACHINE,
        ("CREATE", "UPDATE"),
        False,
        # Not for a create whose every MAC the mutating call just checked (see `checked_macs`).
        (checked_macs.MATCH_CONDITION,),
    ),
    Route(VALIDATE_VMI, "vmi.validate.macpool.vmo.dev", kinds.VIRTUAL_MACHINE_INSTANCE, ("CREATE",), False),
)
ROUTES_BY_PATH = {route.path: route for route in ROUTES}


@dataclass(frozen=True)
class Endpoint:
    """Where the API server reaches the webhook server: a base URL or an in-cluster Service."""

    ca_bundle: bytes
    url: str = ""  # e.g. https://127.0.0.1:9443
    service_namespace: str = ""
    service_name: str = ""
    service_port: int = 443

    def client_config(self, path: str) -> dict[str, Any]:
        config: dict[str, Any] = {"caBundle": base64.b64encode(self.ca_bundle).decode("ascii")}
        if self.url:
            config["url"] = f"{self.url.rstrip('/')}/{path}"
        else:
            config["service"] = {
                "namespace": self.service_namespace,
                "name": self.service_name,
                "port": self.service_port,
                "path": f"/{path}",
            }
        return config


def namespace_selector(profile_selector: Mapping[str, Any], excluded: Iterable[str]) -> dict[str, Any]:
    """The profile's selector, narrowed by the always-excluded namespaces and the opt-out label."""
    expressions = [dict(e) for e in profile_selector.get("matchExpressions") or []]
    always_out = sorted(set(excluded))
    if always_out:
        expressions.append({"key": NAMESPACE_NAME_LABEL, "operator": "NotIn", "values": always_out})
    expressions.append(
        {"key": NAMESPACE_OPT_OUT_LABEL, "operator": "NotIn", "values": [NAMESPACE_OPT_OUT_VALUE]}
    )
    selector: dict[str, Any] = {"matchExpressions": expressions}
    if profile_selector.get("matchLabels"):
        selector["matchLabels"] = dict(profile_selector["matchLabels"])
    return selector


def namespace_in_scope(
    name: str, labels: Mapping[str, str], profile_selector: Mapping[str, Any], excluded: Iterable[str]
) -> bool:
    """Whether the configurations' namespaceSelector picks namespace `name`: whether the API server
    would send us its VMs at all. The API server sets the name label on every namespace itself."""
    return selector_matches(
        namespace_selector(profile_selector, excluded), {**labels, NAMESPACE_NAME_LABEL: name}
    )


def _webhook(route: Route, endpoint: Endpoint, selector: Mapping[str, Any]) -> dict[str, Any]:
    webhook: dict[str, Any] = {
        "name": route.name,
        "clientConfig": endpoint.client_config(route.path),
        "rules": [
            {
                "apiGroups": [route.kind.group],
                "apiVersions": [route.kind.version],
                "operations": list(route.operations),
                "resources": [route.kind.plural],
                "scope": "Namespaced",
            }
        ],
        "matchPolicy": "Equivalent",
        "namespaceSelector": dict(selector),
        "failurePolicy": "Fail",
        "sideEffects": "NoneOnDryRun",
        "timeoutSeconds": TIMEOUT_SECONDS,
        "admissionReviewVersions": ["v1"],
    }
    if route.mutating:
        webhook["reinvocationPolicy"] = "IfNeeded"
    if route.match_conditions:
        webhook["matchConditions"] = [dict(condition) for condition in route.match_conditions]
    return webhook


def webhook_configurations(
    endpoint: Endpoint, *, profile_selector: Mapping[str, Any], excluded_namespaces: Iterable[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(MutatingWebhookConfiguration, ValidatingWebhookConfiguration)."""
    selector = namespace_selector(profile_selector, excluded_namespaces)
    mutating = [_webhook(route, endpoint, selector) for route in ROUTES if route.mutating]
    validating = [_webhook(route, endpoint, selector) for route in ROUTES if not route.mutating]
    metadata = {"name": CONFIGURATION_NAME, "labels": dict(MANAGED_LABELS)}
    return (
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "MutatingWebhookConfiguration",
            "metadata": dict(metadata),
            "webhooks": mutating,
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": dict(metadata),
            "webhooks": validating,
        },
    )


def service_sans(service_name: str, namespace: str) -> list[str]:
    base = f"{service_name}.{namespace}"
    return [f"{base}.svc", service_name, base, f"{base}.svc.cluster.local"]
