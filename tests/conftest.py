"""Shared fixtures: one real control plane per test session, one namespace per test.

Set VMO_TESTENV_KUBECONFIG to run the suite against an already running dev control plane
(`make testenv-up`) instead of starting a fresh one.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.controlplane import ControlPlane, leftover_processes


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    existing = os.environ.get("VMO_TESTENV_KUBECONFIG")
    if existing:
        plane = ControlPlane.attach(Path(existing))
        yield plane
        return
    plane = ControlPlane()
    plane.start()
    workdir = plane.workdir
    try:
        yield plane
    finally:
        plane.stop()
        assert workdir is not None
        left = leftover_processes(workdir)
        assert not left, f"control-plane processes left behind: {left}"


@pytest.fixture(scope="session")
def kubeconfig(control_plane: ControlPlane) -> Path:
    return control_plane.kubeconfig


@pytest.fixture(scope="session")
def api_client(control_plane: ControlPlane) -> Any:
    return control_plane.api_client()


@pytest.fixture
def namespace(api_client: Any) -> Iterator[str]:
    """A fresh namespace per test, so tests never see each other's objects."""
    from kubernetes import client

    name = f"t-{uuid.uuid4().hex[:10]}"
    core = client.CoreV1Api(api_client)
    core.create_namespace({"metadata": {"name": name, "labels": {"vmo.dev/test": "true"}}})
    yield name
    core.delete_namespace(name)
