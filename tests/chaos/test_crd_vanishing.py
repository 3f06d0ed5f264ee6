"""(Flaky on a loaded 2-core machine: CRD deletion can outlast the waits; kept with make chaos.)

The operator outlives the CRDs it watches: KubeVirt's VM CRDs vanish whenever KubeVirt is
removed, and kopf's watchers fail on that 404. `vmo run` must keep serving afterwards."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from hack import kubevirt_api
from hack.simulators.operands import crds_established, install_crds
from tests.support.kube import manifest
from tests.support.operator import OPERATOR_NAMESPACE, OperatorProcess, bind_operator_identity
from tests.support.waiting import eventually
from vmo_operator.localenv.controlplane import ControlPlane
from vmo_operator.localenv.processes import free_port
from vmo_operator.macpool import admission_config

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def webhook_operator(
    control_plane: ControlPlane, api_client: Any, project_crds: list[str], tmp_path: Path
) -> Iterator[OperatorProcess]:
    port = free_port()
    proc = OperatorProcess(
        kubeconfig=bind_operator_identity(control_plane),
        log_path=tmp_path / "operator.log",
        extra_args=["--webhook-mode=url", "--webhook-host=127.0.0.1", f"--webhook-port={port}"],
        env={"VMO_NAMESPACE": OPERATOR_NAMESPACE},
    ).start()
    yield proc
    proc.stop()
    admission = client.AdmissionregistrationV1Api(api_client)
    with contextlib.suppress(ApiException):
        admission.delete_mutating_webhook_configuration(admission_config.CONFIGURATION_NAME)
    with contextlib.suppress(ApiException):
        admission.delete_validating_webhook_configuration(admission_config.CONFIGURATION_NAME)


def _vm_macs(api: Any, namespace: str, name: str) -> list[str]:
    vm = yaml.safe_load((REPO / "examples/vm.yaml").read_text())
    vm["metadata"] = {"name": name, "namespace": namespace}
    created = manifest(
        client.CustomObjectsApi(api).create_namespaced_custom_object(
            "kubevirt.io", "v1", namespace, "virtualmachines", vm
        )
    )
    interfaces = created["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"]
    return [i.get("macAddress", "") for i in interfaces]


@pytest.fixture(scope="module")
def vm_crds(control_plane: ControlPlane) -> list[dict[str, Any]]:
    return kubevirt_api.workload_crds(control_plane.kubeconfig)


def test_operator_survives_vm_crds_vanishing_and_serves_admission_after(
    api_client: Any, webhook_operator: OperatorProcess, namespace: str, vm_crds: list[dict[str, Any]]
) -> None:
    ext = client.ApiextensionsV1Api(api_client)

    def installed() -> bool:
        # A CRD still terminating from the last round answers 409 to create: keep trying.
        install_crds(api_client, vm_crds)
        return crds_established(api_client, vm_crds)

    def gone() -> bool:
        for crd in vm_crds:
            try:
                ext.read_custom_resource_definition(crd["metadata"]["name"])
            except ApiException as exc:
                if exc.status != 404:
                    raise
            else:
                return False
        return True

    for _ in range(3):
        eventually(installed, timeout=60, what="VM CRDs installed")
        for crd in vm_crds:
            with contextlib.suppress(ApiException):
                ext.delete_custom_resource_definition(crd["metadata"]["name"])
        eventually(gone, timeout=60, what="VM CRDs gone")
        assert webhook_operator.alive(), webhook_operator.log_tail()


def test_admission_works_again_after_the_vm_crds_come_back(
    api_client: Any, webhook_operator: OperatorProcess, namespace: str, vm_crds: list[dict[str, Any]]
) -> None:
    ext = client.ApiextensionsV1Api(api_client)
    install_crds(api_client, vm_crds)
    eventually(lambda: crds_established(api_client, vm_crds), timeout=60, what="VM CRDs")
    for crd in vm_crds:
        with contextlib.suppress(ApiException):
            ext.delete_custom_resource_definition(crd["metadata"]["name"])

    def installed() -> bool:
        install_crds(api_client, vm_crds)
        return crds_established(api_client, vm_crds)

    eventually(installed, timeout=60, what="VM CRDs installed again")
    macs = eventually(
        lambda: all(_vm_macs(api_client, namespace, f"vm-{free_port()}")) or None,
        timeout=60,
        what="a VM admitted with MACs",
    )
    assert macs is True
    assert webhook_operator.alive(), webhook_operator.log_tail()
