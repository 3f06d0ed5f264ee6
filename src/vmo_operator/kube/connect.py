"""How a client of the API server is made: in a pod, from a kubeconfig, or with a user's token alone.

Each function returns a `kube.transport.Transport` (or, for `server_only`/`server_at`, an `Endpoint`
without credentials), which `kube.client.KubeClient` wraps.
"""

from __future__ import annotations

import os
from pathlib import Path

from vmo_operator.kube import kubeconfig
from vmo_operator.kube.errors import KubeError
from vmo_operator.kube.kubeconfig import Endpoint, Identity
from vmo_operator.kube.transport import Transport


def no_configuration(exc: Exception) -> str:
    """One line for "there is no cluster to talk to", instead of the client's two tracebacks."""
    where = os.environ.get("KUBECONFIG") or "~/.kube/config"
    return (
        f"no Kubernetes configuration: not running in a cluster, and no usable kubeconfig at {where} "
        f"({exc}); set KUBECONFIG to a kubeconfig file"
    )


def locate(path: str | os.PathLike[str] | None = None) -> tuple[Endpoint, Identity]:
    """In a pod (unless a kubeconfig is named): its service account; else the kubeconfig."""
    if path is None:
        try:
            return kubeconfig.in_cluster()
        except kubeconfig.NotInClusterError:
            pass
    try:
        return kubeconfig.from_kubeconfig(None if path is None else [Path(path)])
    except KubeError as exc:
        if path is None:
            raise KubeError(0, "NoConfiguration", no_configuration(exc)) from None
        raise


def connect(*, pool_size: int = 32) -> Transport:
    """A client from the in-cluster service account, else from the kubeconfig."""
    # Callers run requests from a thread pool; give each worker a connection instead of queueing.
    return Transport(*locate(), pool_size=pool_size)


def server_only(path: str | os.PathLike[str] | None = None) -> Endpoint:
    """Where the API server is and how to trust it, and nobody's credentials (the dashboard's base).

    In a pod: the service host and the cluster CA; else from the kubeconfig at `path` (or
    $KUBECONFIG). A client made from it (`connect_as`) can authenticate only with what its caller
    hands it.
    """
    endpoint, _ = locate(path)
    return endpoint


def server_at(host: str, ca_file: str | os.PathLike[str]) -> Endpoint:
    """The same as `server_only`, from an address and a CA file: a pod that mounts only the cluster's
    CA (the kube-root-ca.crt ConfigMap) holds no credential at all."""
    return Endpoint(host=host, ca_file=os.fspath(ca_file))


def connect_as(server: Endpoint, token: str, *, pool_size: int = 4) -> Transport:
    """A client that authenticates with `token` alone, to the server described by `server_only`."""
    return Transport(server, Identity(token=token), pool_size=pool_size)


def connect_kubeconfig(path: str | os.PathLike[str], *, pool_size: int = 8) -> Transport:
    """A client from one kubeconfig file, e.g. of the local control plane (`vmo_operator.localenv`)."""
    return Transport(*kubeconfig.from_kubeconfig([Path(path)]), pool_size=pool_size)
