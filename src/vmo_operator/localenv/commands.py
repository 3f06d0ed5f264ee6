"""The command line of each control-plane component, as pure functions of ports and paths.

Kept apart from the launcher so the flags, and why each one is there, read in one place. Every
path argument lies under the control plane's work directory, which is how `leftover_processes`
recognises the processes later.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SERVICE_CIDR = "10.96.0.0/16"
SERVICE_IP = "10.96.0.1"
POD_CIDR = "10.244.0.0/16"

# Every write is recorded with who made it, so callers can count an identity's writes.
AUDIT_POLICY: dict[str, Any] = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "Metadata", "verbs": ["create", "update", "patch", "delete", "deletecollection"]},
        {"level": "None"},
    ],
}


def webhook_client_kubeconfig(cert: Path, key: Path) -> dict[str, Any]:
    """Which client certificate the API server presents to which webhook.

    A user entry is matched by the webhook's `host:port` (or `<service>.<namespace>.svc` for a
    Service); `*` is the fallback. Local webhooks listen on random loopback ports, so `*` it is:
    every webhook of this control plane may ask for the certificate, and those that ask not get none.
    """
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "users": [{"name": "*", "user": {"client-certificate": str(cert), "client-key": str(key)}}],
    }


def admission_configuration(kubeconfig: Path) -> dict[str, Any]:
    """`--admission-control-config-file`: both webhook plugins authenticate with `kubeconfig`."""
    webhook = {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "WebhookAdmissionConfiguration",
        "kubeConfigFile": str(kubeconfig),
    }
    return {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "AdmissionConfiguration",
        "plugins": [
            {"name": name, "configuration": dict(webhook)}
            for name in ("ValidatingAdmissionWebhook", "MutatingAdmissionWebhook")
        ],
    }


def etcd(binary: str, *, data_dir: Path, client_port: int, peer_port: int) -> list[str]:
    client, peer = f"http://127.0.0.1:{client_port}", f"http://127.0.0.1:{peer_port}"
    return [
        binary,
        "--name=vmo-etcd",
        f"--data-dir={data_dir}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=vmo-etcd={peer}",
        # A throwaway cluster: losing it on a power cut costs nothing, fsync costs every write.
        "--unsafe-no-fsync=true",
        "--auto-compaction-retention=1",
        "--log-level=warn",
    ]


def kube_apiserver(
    binary: str,
    *,
    etcd_port: int,
    port: int,
    pki: Path,
    audit_policy: Path | None,
    audit_log: Path,
    admission_config: Path | None = None,
) -> list[str]:
    """The API server's flags; with `audit_policy`, every write is recorded in `audit_log`.

    With `admission_config` (see `admission_configuration`) it presents a client certificate to
    admission webhooks, so a webhook can tell the API server from anyone else who reaches its port.
    """
    audit = [
        f"--audit-policy-file={audit_policy}",
        f"--audit-log-path={audit_log}",
        "--audit-log-format=json",
    ]
    return [
        binary,
        f"--etcd-servers=http://127.0.0.1:{etcd_port}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--secure-port={port}",
        f"--cert-dir={pki}",
        f"--tls-cert-file={pki / 'apiserver.crt'}",
        f"--tls-private-key-file={pki / 'apiserver.key'}",
        f"--client-ca-file={pki / 'ca.crt'}",
        "--authorization-mode=RBAC",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={pki / 'sa.key'}",
        f"--service-account-signing-key-file={pki / 'sa.key'}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--allow-privileged=true",
        # Loopback cannot go into the `kubernetes` Endpoints, so nothing reconciles them.
        "--endpoint-reconciler-type=none",
        # The apiserver calls aggregated APIs with this identity.
        f"--proxy-client-cert-file={pki / 'apiserver-client.crt'}",
        f"--proxy-client-key-file={pki / 'apiserver-client.key'}",
        *([f"--admission-control-config-file={admission_config}"] if admission_config else []),
        *(audit if audit_policy else []),
        "--profiling=false",
        "--v=1",
    ]


def _control_loop(binary: str, *, kubeconfig: Path, cert_dir: Path, port: int) -> list[str]:
    """What the controller manager and the scheduler share: one identity, one replica, loopback."""
    return [
        binary,
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        f"--cert-dir={cert_dir}",
    ]


def kube_controller_manager(
    binary: str, *, kubeconfig: Path, pki: Path, cert_dir: Path, port: int
) -> list[str]:
    return [
        *_control_loop(binary, kubeconfig=kubeconfig, cert_dir=cert_dir, port=port),
        f"--service-account-private-key-file={pki / 'sa.key'}",
        f"--root-ca-file={pki / 'ca.crt'}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--node-monitor-period=5s",
        # kwok renews node leases every 40 s (see kwok below); a shorter grace would flap nodes.
        "--node-monitor-grace-period=40s",
        "--v=1",
    ]


def kube_scheduler(binary: str, *, kubeconfig: Path, cert_dir: Path, port: int) -> list[str]:
    return [*_control_loop(binary, kubeconfig=kubeconfig, cert_dir=cert_dir, port=port), "--v=1"]


def kwok(binary: str, *, kubeconfig: Path, stages: Path) -> list[str]:
    return [
        binary,
        f"--kubeconfig={kubeconfig}",
        f"--config={stages}",
        "--manage-all-nodes=true",
        "--node-lease-duration-seconds=40",
        f"--cidr={POD_CIDR}",
        "--node-ip=10.0.0.1",
    ]
