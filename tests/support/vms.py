"""VirtualMachines as tests and benchmarks drive them: bodies, creates, the MACs they carry.

The VirtualMachine API is upstream's: the CRDs the real virt-operator registers (hack/kubevirt_api.py
dumps them from the binary), installed by `install_vm_api` or the operand simulator. virt-api,
which would also judge VMs, cannot run here (its pods need a container runtime) and nothing stands
in for it: the tests here are about the MAC webhooks, and upstream's schema still applies.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from hack import kubevirt_api
from hack.simulators.operands import crds_established, install_crds
from tests.support.kube import manifest
from tests.support.operator import OPERATOR_NAMESPACE, OperatorProcess
from tests.support.waiting import eventually
from vmo_operator.localenv.processes import free_port

VM_API = ("kubevirt.io", "v1")


def install_vm_api(api: Any, kubeconfig: Path) -> list[dict[str, Any]]:
    """Register virt-operator's CRDs (as the real one would) and wait until they are served.

    `kubeconfig` is an admin's, for the one-time dump of the CRDs from the binary. Returns them.
    """
    crds = kubevirt_api.workload_crds(kubeconfig)

    def served() -> bool:
        # Created again each round: an earlier module's KubeVirt removal may still be deleting them.
        install_crds(api, crds)
        return crds_established(api, crds)

    eventually(served, timeout=120, interval=0.5, what="the VirtualMachine API")
    return crds


def vm_body(
    name: str, interfaces: Mapping[str, str | None], annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    """A halted VM with one bridge interface per entry; a value is the user-set MAC, None asks for one."""
    ifaces = [{"name": n, "bridge": {}} | ({"macAddress": m} if m else {}) for n, m in interfaces.items()]
    networks = [{"name": n, "multus": {"networkName": "default/br"}} for n in interfaces]
    meta: dict[str, Any] = {"name": name}
    if annotations:
        meta["annotations"] = annotations
    return {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachine",
        "metadata": meta,
        "spec": {
            "runStrategy": "Halted",
            "template": {"spec": {"domain": {"devices": {"interfaces": ifaces}}, "networks": networks}},
        },
    }


def vmi_body(
    name: str,
    interfaces: Mapping[str, str | None],
    *,
    owner: tuple[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A VMI with one bridge interface per entry (a value is its MAC, None asks for one).

    `owner` is the (name, uid) of the VirtualMachine its controller ownerReference names, as
    virt-controller writes it when it starts a VM, or as anybody may write it by hand.
    """
    meta: dict[str, Any] = {"name": name}
    if owner is not None:
        meta["ownerReferences"] = [
            {
                "apiVersion": "kubevirt.io/v1",
                "kind": "VirtualMachine",
                "controller": True,
                "name": owner[0],
                "uid": owner[1],
            }
        ]
    if annotations:
        meta["annotations"] = annotations
    ifaces = [{"name": n, "bridge": {}} | ({"macAddress": m} if m else {}) for n, m in interfaces.items()]
    return {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachineInstance",
        "metadata": meta,
        "spec": {
            "domain": {"devices": {"interfaces": ifaces}},
            "networks": [{"name": n, "multus": {"networkName": "default/br"}} for n in interfaces],
        },
    }


def create_vmi(api: Any, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
    created = client.CustomObjectsApi(api).create_namespaced_custom_object(
        *VM_API, namespace, "virtualmachineinstances", body
    )
    return manifest(created)


def vmi_macs(vmi: dict[str, Any]) -> dict[str, str]:
    return {i["name"]: i.get("macAddress", "") for i in vmi["spec"]["domain"]["devices"]["interfaces"]}


def delete_vm(api: Any, namespace: str, name: str) -> None:
    client.CustomObjectsApi(api).delete_namespaced_custom_object(*VM_API, namespace, "virtualmachines", name)


def create_vm(
    api: Any,
    namespace: str,
    name: str,
    interfaces: Mapping[str, str | None],
    *,
    dry_run: bool = False,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    # The client leaves a None query parameter out of the request.
    created = client.CustomObjectsApi(api).create_namespaced_custom_object(
        *VM_API,
        namespace,
        "virtualmachines",
        vm_body(name, interfaces, annotations),
        dry_run="All" if dry_run else None,
    )
    return manifest(created)


def get_vm(api: Any, namespace: str, name: str) -> dict[str, Any]:
    return manifest(
        client.CustomObjectsApi(api).get_namespaced_custom_object(*VM_API, namespace, "virtualmachines", name)
    )


def list_vms(api: Any) -> list[dict[str, Any]]:
    """Every VM in the cluster; empty while the VirtualMachine API is not installed."""
    try:
        items: list[dict[str, Any]] = manifest(
            client.CustomObjectsApi(api).list_cluster_custom_object(*VM_API, "virtualmachines")
        )["items"]
    except ApiException as exc:
        if exc.status == 404:
            return []
        raise
    return items


def vm_macs(vm: dict[str, Any]) -> dict[str, str]:
    interfaces = vm["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"]
    return {i["name"]: i.get("macAddress", "") for i in interfaces}


def denial(exc: ApiException) -> str:
    """The message of a refused request (an admission denial or the API server's own error)."""
    try:
        return str(json.loads(exc.body or "")["message"])  # no body: not JSON, as below
    except (TypeError, ValueError, KeyError):
        return str(exc.body)


def create_with_retry(
    api: Any, namespace: str, name: str, interfaces: dict[str, str | None], *, timeout: float = 60
) -> dict[str, Any]:
    """Create, retrying the transient failures a client sees while a webhook replica dies."""

    def attempt() -> dict[str, Any] | None:
        try:
            return create_vm(api, namespace, name, interfaces)
        except ApiException as exc:
            if exc.status == 409 and "already exists" in denial(exc):
                return get_vm(api, namespace, name)  # an earlier attempt got through
            if exc.status >= 500 or exc.status == 429:
                return None
            raise

    return eventually(attempt, timeout=timeout, interval=0.1, what=f"create {namespace}/{name}")


def webhook_operator(
    kubeconfig: Path,
    log_path: Path,
    *,
    port: int = 0,
    resync_seconds: float = 2.0,
    client_ca: Path | None = None,
    url_port: int = 0,
    audit_seconds: float = 0.0,
) -> OperatorProcess:
    """A `vmo run` process that also serves the MAC webhooks by URL on 127.0.0.1:`port`.

    Several of them may share one port (SO_REUSEPORT), as replicas behind one Service would.
    With `client_ca` (the control plane's `webhook_client_ca`) only the API server may call them;
    with `url_port` the API server dials that port, where something in front forwards to `port`.
    `audit_seconds` (0: every resync) is how often it audits the reservations.
    Not started; call `.start()`.
    """
    return OperatorProcess(
        kubeconfig=kubeconfig,
        log_path=log_path,
        resync_seconds=resync_seconds,
        extra_args=[
            "--webhook-mode=url",
            "--webhook-host=127.0.0.1",
            f"--webhook-port={port or free_port()}",
            *([f"--webhook-client-ca={client_ca}"] if client_ca else []),
            *([f"--webhook-url-port={url_port}"] if url_port else []),
            *([f"--macpool-audit-seconds={audit_seconds}"] if audit_seconds else []),
        ],
        env={"VMO_NAMESPACE": OPERATOR_NAMESPACE},
    )
