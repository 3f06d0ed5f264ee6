"""A client of the official `kubernetes` package from a kubeconfig, for the tests, benchmarks and
simulators, which use its typed APIs. The product does not: it speaks through `kube.transport`, and
its `KubeClient` accepts either kind of client."""

from __future__ import annotations

import os
from typing import Any


def official_client(kubeconfig: str | os.PathLike[str]) -> Any:
    from kubernetes import config

    return config.new_client_from_config(config_file=os.fspath(kubeconfig))  # type: ignore[no-untyped-call]
