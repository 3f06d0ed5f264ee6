"""Where the API server is and who we are to it: from a pod's service account or a kubeconfig.

Pure data and file reading; `kube.transport` turns an `Endpoint` and an `Identity` into requests.
A kubeconfig is read the way kubectl reads it: $KUBECONFIG may list several files (the first to
name a context, cluster or user wins, and the first `current-context` is the one used), relative
paths are relative to the file that holds them, and `*-data` fields are base64.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vmo_operator.kube.errors import KubeError

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass(frozen=True)
class Endpoint:
    """The API server's address and how to trust it; no credential of anybody's."""

    host: str  # https://host:port
    ca_file: str | None = None
    ca_data: str | None = None  # PEM
    verify: bool = True
    tls_server_name: str | None = None
    proxy: str | None = None


@dataclass(frozen=True)
class ExecPlugin:
    """A client-go credential plugin (`users[].user.exec`): a command that prints an ExecCredential."""

    command: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    api_version: str = "client.authentication.k8s.io/v1"
    cluster: Mapping[str, Any] | None = None  # handed to the plugin when provideClusterInfo is set


@dataclass(frozen=True)
class Identity:
    """Who the requests are from: a token (or a file holding one, re-read as it rotates), a client
    certificate, or a credential plugin. Empty: anonymous."""

    token: str | None = field(default=None, repr=False)
    token_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    cert_data: str | None = field(default=None, repr=False)  # PEM
    key_data: str | None = field(default=None, repr=False)
    exec_plugin: ExecPlugin | None = None


class NotInClusterError(Exception):
    """No service account is mounted, or the service's address is not in the environment."""


def in_cluster(
    root: Path = SERVICE_ACCOUNT, env: Mapping[str, str] = os.environ
) -> tuple[Endpoint, Identity]:
    """The pod's own service account: the token file is named, not read, because the kubelet
    rotates it (bound tokens live an hour)."""
    host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT")
    token, ca = root / "token", root / "ca.crt"
    if not host or not port:
        raise NotInClusterError("KUBERNETES_SERVICE_HOST/PORT are not set")
    if not token.is_file():
        raise NotInClusterError(f"no service account token at {token}")
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    endpoint = Endpoint(f"https://{host}:{port}", ca_file=str(ca) if ca.is_file() else None)
    return endpoint, Identity(token_file=str(token))


def kubeconfig_paths(env: Mapping[str, str] = os.environ) -> list[Path]:
    listed = [Path(p).expanduser() for p in env.get("KUBECONFIG", "").split(os.pathsep) if p]
    return listed or [Path("~/.kube/config").expanduser()]


def from_kubeconfig(
    paths: str | os.PathLike[str] | list[Path] | None = None, *, context: str | None = None
) -> tuple[Endpoint, Identity]:
    """The endpoint and identity of the kubeconfig's current context (or `context`).

    Raises `KubeError(0, "NoConfiguration", ...)` naming the file and the entry that is missing or wrong.
    """
    files = kubeconfig_paths() if paths is None else paths if isinstance(paths, list) else [Path(paths)]
    merged = _Merged()
    for path in files:
        merged.add(path)
    if not merged.loaded:
        raise _no_config(f"no kubeconfig file at {os.pathsep.join(map(str, files))}")
    name = context or merged.current
    if not name:
        raise _no_config(f"{merged.loaded[0]}: current-context is not set")
    ctx, _ = merged.entry("contexts", name, "context")
    cluster = merged.entry("clusters", str(ctx.get("cluster", "")), "cluster")
    user_name = ctx.get("user")
    user = merged.entry("users", str(user_name), "user") if user_name else ({}, merged.loaded[0])
    return _endpoint(*cluster), _identity(*user, cluster=cluster[0])


def _no_config(why: str) -> KubeError:
    return KubeError(0, "NoConfiguration", f"no usable Kubernetes configuration: {why}")


class _Merged:
    """Several kubeconfig files, first name wins, each entry remembering its file's directory."""

    def __init__(self) -> None:
        self.loaded: list[Path] = []
        self.current = ""
        self.entries: dict[tuple[str, str], tuple[dict[str, Any], Path]] = {}

    def add(self, path: Path) -> None:
        try:
            text = path.read_text()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise _no_config(f"{path}: {exc.strerror}") from None
        try:
            doc = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise _no_config(f"{path}: not YAML ({exc})") from None
        if not isinstance(doc, dict):
            raise _no_config(f"{path}: not a kubeconfig (a {type(doc).__name__} at the top)")
        self.loaded.append(path)
        self.current = self.current or str(doc.get("current-context") or "")
        for section in ("contexts", "clusters", "users"):
            for item in doc.get(section) or []:
                if isinstance(item, dict) and item.get("name") is not None:
                    self.entries.setdefault((section, str(item["name"])), (item, path))

    def entry(self, section: str, name: str, body: str) -> tuple[dict[str, Any], Path]:
        found = self.entries.get((section, name))
        if found is None:
            raise _no_config(f"{section} has no entry named {name!r} ({', '.join(map(str, self.loaded))})")
        item, path = found
        value = item.get(body) or {}
        if not isinstance(value, dict):
            raise _no_config(f"{path}: {section}[{name}].{body} is not a mapping")
        return value, path


def _file(value: Any, origin: Path) -> str | None:
    if not value:
        return None
    path = Path(str(value)).expanduser()
    return str(path if path.is_absolute() else origin.parent / path)


def _data(entry: Mapping[str, Any], key: str, origin: Path) -> str | None:
    value = entry.get(key)
    if not value:
        return None
    try:
        return base64.b64decode(str(value), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        raise _no_config(f"{origin}: {key} is not base64 of a PEM text") from None


def _endpoint(cluster: Mapping[str, Any], origin: Path) -> Endpoint:
    server = str(cluster.get("server") or "")
    if not server:
        raise _no_config(f"{origin}: the cluster has no server")
    return Endpoint(
        host=server.rstrip("/"),
        ca_file=_file(cluster.get("certificate-authority"), origin),
        ca_data=_data(cluster, "certificate-authority-data", origin),
        verify=not cluster.get("insecure-skip-tls-verify", False),
        tls_server_name=cluster.get("tls-server-name") or None,
        proxy=cluster.get("proxy-url") or None,
    )


def _identity(user: Mapping[str, Any], origin: Path, *, cluster: Mapping[str, Any]) -> Identity:
    if user.get("auth-provider"):
        provider = (user["auth-provider"] or {}).get("name", "?")
        raise _no_config(
            f"{origin}: the user authenticates with auth-provider {provider!r}, which was removed from "
            "client-go; use its exec credential plugin instead (e.g. gke-gcloud-auth-plugin, kubelogin)"
        )
    impersonating = sorted(key for key in ("as", "as-uid", "as-groups", "as-user-extra") if user.get(key))
    if impersonating:
        # Ignoring them would act with the base identity's rights, more than the admin meant to grant.
        raise _no_config(
            f"{origin}: the user impersonates ({', '.join(impersonating)}), which vmo does not support; "
            "use a kubeconfig with the impersonated identity's own credentials"
        )
    return Identity(
        token=user.get("token") or None,
        token_file=_file(user.get("tokenFile"), origin),
        cert_file=_file(user.get("client-certificate"), origin),
        key_file=_file(user.get("client-key"), origin),
        cert_data=_data(user, "client-certificate-data", origin),
        key_data=_data(user, "client-key-data", origin),
        exec_plugin=_exec_plugin(user.get("exec"), origin, cluster),
    )


def _exec_plugin(spec: Any, origin: Path, cluster: Mapping[str, Any]) -> ExecPlugin | None:
    if not spec:
        return None
    if not isinstance(spec, dict) or not spec.get("command"):
        raise _no_config(f"{origin}: users[].user.exec has no command")
    command = str(spec["command"])
    if os.sep in command and not os.path.isabs(command):  # client-go: relative to the kubeconfig
        command = str(origin.parent / command)
    env = tuple((str(e.get("name")), str(e.get("value", ""))) for e in spec.get("env") or [])
    return ExecPlugin(
        command=command,
        args=tuple(str(a) for a in spec.get("args") or []),
        env=env,
        api_version=str(spec.get("apiVersion") or ExecPlugin.api_version),
        cluster=dict(cluster) if spec.get("provideClusterInfo") else None,
    )
