"""How a client of the API server is made: in a pod, from a kubeconfig, or with a user's token alone.

With `kube.client`, the only module that imports `kubernetes`. Each function returns the official
client's `ApiClient` (or, for `server_only`/`server_at`, its `Configuration` without credentials),
which `kube.client.KubeClient` wraps.
"""

from __future__ import annotations

import copy
import os
from typing import Any

from vmo_operator.kube.errors import KubeError


def no_configuration(exc: Exception) -> str:
    """One line for "there is no cluster to talk to", instead of the client's two tracebacks."""
    where = os.environ.get("KUBECONFIG") or "~/.kube/config"
    return (
        f"no Kubernetes configuration: not running in a cluster, and no usable kubeconfig at {where} "
        f"({exc}); set KUBECONFIG to a kubeconfig file"
    )


def connect(*, pool_size: int = 32) -> Any:
    """An API client from the in-cluster service account, else from the kubeconfig."""
    from kubernetes import client, config

    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except config.ConfigException:
        try:
            config.load_kube_config()  # type: ignore[no-untyped-call]
        except (config.ConfigException, OSError) as exc:
            raise KubeError(0, "NoConfiguration", no_configuration(exc)) from None
    configuration = client.Configuration.get_default_copy()
    # Callers run requests from a thread pool; give each worker a connection instead of queueing.
    configuration.connection_pool_maxsize = pool_size
    return client.ApiClient(configuration)


def server_only(kubeconfig: str | os.PathLike[str] | None = None) -> Any:
    """Where the API server is and how to trust it, and nobody's credentials (the dashboard's base).

    In a pod: the service host and the cluster CA; else from `kubeconfig` (or $KUBECONFIG). Only
    the server's address, CA and TLS name are kept, so a client made from it (`connect_as`) can
    authenticate only with what its caller hands it.
    """
    from kubernetes import client, config

    loaded = client.Configuration()
    try:
        if kubeconfig is not None:
            raise config.ConfigException("a kubeconfig was named")
        config.load_incluster_config(client_configuration=loaded)  # type: ignore[no-untyped-call]
    except config.ConfigException:
        try:
            path = None if kubeconfig is None else os.fspath(kubeconfig)
            config.load_kube_config(config_file=path, client_configuration=loaded)  # type: ignore[no-untyped-call]
        except (config.ConfigException, OSError) as exc:
            raise KubeError(0, "NoConfiguration", no_configuration(exc)) from None
    bare = client.Configuration(host=loaded.host)
    bare.ssl_ca_cert = loaded.ssl_ca_cert
    bare.verify_ssl = loaded.verify_ssl
    bare.tls_server_name = getattr(loaded, "tls_server_name", None)
    return bare


def server_at(host: str, ca_file: str | os.PathLike[str]) -> Any:
    """The same as `server_only`, from an address and a CA file: a pod that mounts only the cluster's
    CA (the kube-root-ca.crt ConfigMap) holds no credential at all."""
    from kubernetes import client

    bare = client.Configuration(host=host)
    bare.ssl_ca_cert = os.fspath(ca_file)
    return bare


def connect_as(server: Any, token: str, *, pool_size: int = 4) -> Any:
    """An API client that authenticates with `token` alone, to the server described by `server_only`."""
    from kubernetes import client

    configuration = copy.deepcopy(server)
    configuration.api_key = {"BearerToken": token}
    configuration.api_key_prefix = {"BearerToken": "Bearer"}
    configuration.connection_pool_maxsize = pool_size
    return client.ApiClient(configuration)


def connect_kubeconfig(path: str | os.PathLike[str]) -> Any:
    """An API client from one kubeconfig file, e.g. of the local control plane (`vmo_operator.localenv`)."""
    from kubernetes import config

    return config.new_client_from_config(config_file=os.fspath(path))  # type: ignore[no-untyped-call]
