"""Shared fixtures: one real control plane per test session, one namespace per test.

Set VMO_TESTENV_KUBECONFIG to run the suite against an already running dev control plane
(`make testenv-up`) instead of starting a fresh one.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from hack.official_client import official_client
from vmo_operator.localenv.controlplane import ControlPlane
from vmo_operator.localenv.processes import leftover_processes

# Hypothesis's per-example deadline and its too-slow health check are timing assertions: on a loaded
# 2-core machine they fail tests whose behaviour is fine. Performance is measured in `make bench`.
settings.register_profile("vmo", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("vmo")


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    existing = os.environ.get("VMO_TESTENV_KUBECONFIG")
    if existing:
        plane = ControlPlane.attach(Path(existing))
        yield plane
        return
    # A fresh control plane must start where no dial can leave the machine: the API server dials
    # ClusterIPs whenever it calls a Service-backed webhook or aggregated API (issue 11).
    interfaces = sorted(name for _, name in socket.if_nameindex())
    if interfaces != ["lo"]:
        pytest.exit(
            "refusing to start the control plane: this process can reach networks other than "
            f"loopback (interfaces: {', '.join(interfaces)}). Run the tests under hack/netns-run, "
            "e.g. `hack/netns-run .venv/bin/python -m pytest tests/...`, or attach to a running "
            "control plane with VMO_TESTENV_KUBECONFIG.",
            returncode=3,
        )
    plane = ControlPlane(audit_writes=True)  # the idle-resync tests count writes in the audit log
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
    return official_client(control_plane.kubeconfig)


@pytest.fixture
def namespace(api_client: Any) -> Iterator[str]:
    """A fresh namespace per test, so tests never see each other's objects."""
    from kubernetes import client

    name = f"t-{uuid.uuid4().hex[:10]}"
    core = client.CoreV1Api(api_client)
    core.create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels={"vmo.dev/test": "true"}))
    )
    yield name
    core.delete_namespace(name)


@pytest.fixture(scope="session")
def project_crds(api_client: Any) -> list[str]:
    """The CRDs the chart installs (generated into crds/), Established on the control plane."""
    from tests.support.kube import apply_crd_files

    return apply_crd_files(api_client, sorted(Path(__file__).parents[1].glob("crds/*.yaml")))


@pytest.fixture(scope="session")
def simulator(control_plane: ControlPlane, api_client: Any) -> Iterator[Any]:
    """virt-operator and cdi-operator stand-ins (test scaffolding, see hack/simulators).

    They keep the workload CRDs across profiles: re-installing KubeVirt's after every module's
    profile was the costliest routine work of the session (hack/simulators/operands.py says why
    and which tests turn it off)."""
    from hack.simulators.operands import OperandSimulator, simulated_operands

    operands = simulated_operands(control_plane.kubeconfig)
    sim = OperandSimulator(api_client, operands, keep_workload_crds=True).start()
    yield sim
    sim.stop()


@pytest.fixture(scope="session")
def operator(
    control_plane: ControlPlane,
    project_crds: list[str],
    simulator: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Any]:
    """One `vmo run` process for the session, with short resync intervals."""
    from tests.support.operator import OperatorProcess, bind_operator_identity

    kubeconfig = bind_operator_identity(control_plane)
    log_path = tmp_path_factory.mktemp("operator") / "operator.log"
    proc = OperatorProcess(kubeconfig=kubeconfig, log_path=log_path).start()
    yield proc
    proc.stop()
    print(f"\n--- operator log tail ({log_path}) ---\n{proc.log_tail(40)}")
