"""The VM dashboard (`vmo dashboard`, the operator's own image): Deployment, Service, ServiceAccount.

The dashboard acts as each logged-in user, with the token they paste, so its ServiceAccount is
given no role at all, and its pod mounts no ServiceAccount token: it needs only to know where the
API server is and which CA signed its certificate (the kube-root-ca.crt ConfigMap every namespace
has). Whoever takes over a dashboard pod holds no credential of its own.

TLS: the operator issues the serving certificate for the Service's names with the webhook's
certificate machinery (a name-constrained CA of its own, renewed at two thirds of its life, the CA
in two phases) and publishes the serving pair and the CA bundle into the Secret `vmo-dashboard-tls`,
rendered here (`tls_secret`) and written by `operator/dashboard_tls.py`, because planning a
certificate needs the clock, fresh keys and the CA kept in the operator's namespace, none of which a
rendering may have. The pod mounts only `tls.crt` and `tls.key` and re-reads them when the kubelet
swaps in a renewed pair. Browsers trust `ca-bundle.crt` of the same Secret.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass

from vmo_operator import __version__
from vmo_operator.api.models import DashboardSpec, VMOProfileSpec
from vmo_operator.components import _health as health
from vmo_operator.components import _workloads as w
from vmo_operator.components.base import ClusterFacts, ComponentHealth, Observed
from vmo_operator.kube import kinds
from vmo_operator.kube.kinds import Kind
from vmo_operator.kube.objects import Manifest, ObjectKey

NAMESPACE = "kube-system"
NAME = "vmo-dashboard"
PORT = 8443
IMAGE = f"ghcr.io/vmo-dev/vmo-operator:{__version__}"
CA_DIR = "/etc/vmo-dashboard/api-ca"
TLS_DIR = "/etc/vmo-dashboard/tls"
TLS_SECRET = "vmo-dashboard-tls"
TLS_CA_NAME = "vmo-dashboard-ca"  # the common name of the dashboard's CA
# What the pod mounts of the Secret: the serving pair, not the CA key that sits next to it.
TLS_FILES = ("tls.crt", "tls.key")
CA_BUNDLE_FILE = "ca-bundle.crt"  # in the Secret for whoever sets up a browser; not mounted
LABELS = {"app.kubernetes.io/name": NAME}


def service_names() -> list[str]:
    return [NAME, f"{NAME}.{NAMESPACE}", f"{NAME}.{NAMESPACE}.svc", f"{NAME}.{NAMESPACE}.svc.cluster.local"]


def args(spec: VMOProfileSpec) -> list[str]:
    out = [
        "dashboard",
        "--address=0.0.0.0",
        f"--port={PORT}",
        "--api-server=https://kubernetes.default.svc",
        f"--api-ca={CA_DIR}/ca.crt",
        f"--certs-dir={TLS_DIR}",
    ]
    # Users who may not list namespaces are offered the profile's VM namespaces (each still checked
    # with a SelfSubjectAccessReview before anything of it is shown).
    out += [f"--vm-namespace={ns}" for ns in spec.vm_namespaces.namespaces]
    return out


def _deployment(spec: VMOProfileSpec, dashboard: DashboardSpec) -> Manifest:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": w.meta(NAME, NAMESPACE, LABELS),
        "spec": {
            "replicas": dashboard.replicas,
            "selector": {"matchLabels": dict(LABELS)},
            "template": {
                "metadata": {"labels": dict(LABELS)},
                "spec": {
                    "serviceAccountName": NAME,
                    "automountServiceAccountToken": False,
                    **w.pod_placement(dashboard.placement.as_placement()),
                    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [
                        {
                            "name": "dashboard",
                            "image": dashboard.image or IMAGE,
                            "imagePullPolicy": "IfNotPresent",
                            "command": ["vmo"],
                            "args": args(spec),
                            "ports": [{"name": "https", "containerPort": PORT, "protocol": "TCP"}],
                            "readinessProbe": {
                                "httpGet": {"path": "/healthz", "port": PORT, "scheme": "HTTPS"}
                            },
                            "livenessProbe": {
                                "httpGet": {"path": "/healthz", "port": PORT, "scheme": "HTTPS"},
                                "periodSeconds": 20,
                            },
                            "resources": {
                                "requests": {"cpu": "50m", "memory": "96Mi"},
                                "limits": {"memory": "256Mi"},
                            },
                            "securityContext": {
                                **w.RESTRICTED_CONTAINER,
                                "privileged": False,
                                "readOnlyRootFilesystem": True,
                                "runAsNonRoot": True,
                            },
                            "volumeMounts": [
                                {"name": "api-ca", "mountPath": CA_DIR, "readOnly": True},
                                {"name": "tls", "mountPath": TLS_DIR, "readOnly": True},
                                {"name": "tmp", "mountPath": "/tmp"},
                            ],
                        }
                    ],
                    "volumes": [
                        {
                            "name": "api-ca",
                            "configMap": {
                                "name": "kube-root-ca.crt",
                                "items": [{"key": "ca.crt", "path": "ca.crt"}],
                            },
                        },
                        {
                            "name": "tls",
                            "secret": {
                                "secretName": TLS_SECRET,
                                "items": [{"key": key, "path": key} for key in TLS_FILES],
                            },
                        },
                        {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}},
                    ],
                },
            },
        },
    }


def _service(dashboard: DashboardSpec) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": w.meta(NAME, NAMESPACE, LABELS),
        "spec": {
            "type": dashboard.service_type,
            "selector": dict(LABELS),
            # Sessions live in one pod's memory (dashboard.sessions).
            "sessionAffinity": "ClientIP",
            "ports": [{"name": "https", "port": 443, "targetPort": PORT, "protocol": "TCP"}],
        },
    }


def tls_secret(cert_pem: bytes, key_pem: bytes, ca_bundle: bytes) -> Manifest:
    """The Secret the pod mounts: its serving pair, and the CA bundle for browsers (no CA key)."""
    data = {TLS_FILES[0]: cert_pem, TLS_FILES[1]: key_pem, CA_BUNDLE_FILE: ca_bundle}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": TLS_SECRET, "namespace": NAMESPACE, "labels": dict(LABELS)},
        "type": "Opaque",
        "data": {key: base64.b64encode(value).decode("ascii") for key, value in data.items()},
    }


@dataclass(frozen=True)
class DashboardComponent:
    name: str = "dashboard"
    title: str = "Dashboard"
    owned_kinds: tuple[Kind, ...] = (kinds.SERVICE_ACCOUNT, kinds.SERVICE, kinds.DEPLOYMENT)

    def enabled(self, spec: VMOProfileSpec, facts: ClusterFacts) -> bool:
        return spec.dashboard.enabled

    def render(self, spec: VMOProfileSpec, facts: ClusterFacts) -> list[Manifest]:
        if not self.enabled(spec, facts):
            return []
        account = w.service_account(NAME, NAMESPACE, LABELS)
        account["automountServiceAccountToken"] = False
        return [account, _deployment(spec, spec.dashboard), _service(spec.dashboard)]

    def assess(
        self, spec: VMOProfileSpec, facts: ClusterFacts, rendered: Sequence[Manifest], observed: Observed
    ) -> ComponentHealth:
        if not self.enabled(spec, facts):
            return health.disabled(self.name)
        deployment = ObjectKey("apps/v1", "Deployment", NAMESPACE, NAME)
        return health.assess_deployed(self.name, rendered, observed, deployment, "dashboard")


DASHBOARD = DashboardComponent()
