"""The VM dashboard (`vmo dashboard`, the operator's own image): Deployment, Service, ServiceAccount.

The dashboard acts as each logged-in user, with the token they paste, so its ServiceAccount is
given no role at all, and its pod mounts no ServiceAccount token: it needs only to know where the
API server is and which CA signed its certificate (the kube-root-ca.crt ConfigMap every namespace
has). Whoever takes over a dashboard pod holds no credential of its own.

TLS: the pod serves HTTPS with a certificate it generates at start from the webhook's certificate
functions (`macpool.certs`) for the Service's names; a Secret issued by the operator (as for the
webhook) is the next step, so browsers can be given one CA to trust.
"""

from __future__ import annotations

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
    ]
    out += [f"--tls-name={name}" for name in service_names()]
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
