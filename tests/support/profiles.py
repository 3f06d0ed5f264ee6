"""The one cluster-wide profile integration tests share, and small readers of what it installed."""

from __future__ import annotations

import functools
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.support.kube import (
    PROFILE,
    get_profile,
    manifest,
    owned_index,
    owned_objects,
    rendered,
    wait_condition,
)
from tests.support.waiting import eventually
from vmo_operator.components.base import ClusterFacts
from vmo_operator.kube import kinds
from vmo_operator.kube.client import KubeClient, KubeError
from vmo_operator.kube.objects import ObjectKey

KUBEVIRT_CR = ("kubevirt.io", "v1", "kubevirt", "kubevirts", "kubevirt")


def kube_of(api: Any) -> KubeClient:
    return KubeClient(api)


def live(api: Any, obj: dict[str, Any]) -> dict[str, Any] | None:
    key = ObjectKey.of(obj)
    return kube_of(api).get(owned_index().of(obj), key.name, key.namespace)


def kubevirt_cr(api: Any) -> dict[str, Any]:
    group, version, namespace, plural, name = KUBEVIRT_CR
    result = manifest(
        client.CustomObjectsApi(api).get_namespaced_custom_object(group, version, namespace, plural, name)
    )
    return result


def without_snapshot_wait(spec: dict[str, Any]) -> dict[str, Any]:
    """`spec` with `snapshotController.minReadySeconds: 0`, unless it sets the field itself.

    Upstream's 35 s would be waited out by every install before Available; only the tests about a
    default install keep it (`snapshot_wait=True`).
    """
    snapshot = spec.get("snapshotController") or {}
    if "minReadySeconds" in snapshot:
        return spec
    return {**spec, "snapshotController": {**snapshot, "minReadySeconds": 0}}


class SharedProfile:
    """The one cluster-wide profile "vmo", installed once per module and re-specified by each test.

    Tearing everything down and installing it again costs far more than a spec change, so tests
    converge the shared profile to the spec they need instead of installing their own. Every spec
    written here has the snapshot controller's readiness wait off (see `without_snapshot_wait`),
    unless the test asks for upstream's.
    """

    def __init__(self, api: Any) -> None:
        self.api = api
        self.custom = client.CustomObjectsApi(api)

    def create(
        self, spec: dict[str, Any], name: str = "vmo", *, snapshot_wait: bool = False
    ) -> dict[str, Any]:
        body = {
            "apiVersion": "vmo.dev/v1alpha1",
            "kind": "VMOProfile",
            "metadata": {"name": name},
            "spec": spec if snapshot_wait else without_snapshot_wait(spec),
        }
        result = manifest(self.custom.create_cluster_custom_object(*PROFILE, body))
        return result

    def converge(self, spec: dict[str, Any], facts: ClusterFacts | None = None) -> dict[str, Any]:
        """Make `spec` the profile's whole spec (creating it if absent) and wait until it is Available.

        `facts`: what the components find on this cluster beyond a bare one (see `rendered`)."""
        current = get_profile(self.api, "vmo")
        if current is not None and current["metadata"].get("deletionTimestamp"):
            eventually(lambda: get_profile(self.api, "vmo") is None, timeout=120, what="old profile gone")
            current = None
        if current is None:
            self.create(spec)
        else:
            eventually(functools.partial(self._replace_spec, spec), timeout=60, what="spec written")
        converged = wait_condition(self.api, "vmo", "Available", timeout=240 if current is None else 120)
        # What an earlier spec (or an earlier test's namespace) left behind must be gone too, so the
        # test starts from exactly what a fresh profile with `spec` would own.
        wanted = {ObjectKey.of(obj) for obj in rendered(spec, "vmo", facts)}
        eventually(
            lambda: owned_objects(self.api).keys() <= wanted, timeout=60, what="nothing owned beyond the spec"
        )
        return converged

    def _replace_spec(self, spec: dict[str, Any]) -> bool:
        """Write `spec` over the profile's; False when the operator wrote it in between (409)."""
        current = get_profile(self.api, "vmo")
        assert current is not None
        current["spec"] = without_snapshot_wait(spec)
        try:
            kube_of(self.api).replace(kinds.PROFILE, current)
        except KubeError as exc:
            if exc.status == 409:
                return False
            raise
        return True

    def fresh(self, spec: dict[str, Any], *, snapshot_wait: bool = False) -> dict[str, Any]:
        """A newly created profile: remove any profile first (nothing to do as the module's first test).

        `snapshot_wait`: keep upstream's readiness wait of the snapshot controller (a default install).
        """
        self.remove()
        self.create(spec, snapshot_wait=snapshot_wait)
        return wait_condition(self.api, "vmo", "Available", timeout=240)

    def remove(self, *, keep: str = "") -> None:
        """Delete every profile but `keep`; without `keep`, wait until nothing we own remains."""
        names = [
            item["metadata"]["name"]
            for item in manifest(self.custom.list_cluster_custom_object(*PROFILE))["items"]
        ]
        for name in names:
            if name != keep:
                self.custom.delete_cluster_custom_object(*PROFILE, name)
        eventually(
            lambda: all(get_profile(self.api, name) is None for name in names if name != keep),
            timeout=120,
            what="profiles gone",
        )
        if not keep:
            eventually(lambda: not owned_objects(self.api), timeout=60, what="no owned objects left")


def delete_vms(api: Any) -> None:
    custom = client.CustomObjectsApi(api)
    try:
        vms = manifest(custom.list_cluster_custom_object("kubevirt.io", "v1", "virtualmachines"))["items"]
    except ApiException:
        return
    for vm in vms:
        meta = vm["metadata"]
        custom.delete_namespaced_custom_object(
            "kubevirt.io", "v1", meta["namespace"], "virtualmachines", meta["name"]
        )


def profile_events(api: Any, reason: str = "", name: str = "vmo") -> list[dict[str, Any]]:
    """events.k8s.io/v1 Events regarding the current profile `name` (its uid), optionally of one reason."""
    profile = get_profile(api, name)
    if profile is None:
        return []
    uid = profile["metadata"]["uid"]
    found = manifest(
        client.CustomObjectsApi(api).list_namespaced_custom_object("events.k8s.io", "v1", "default", "events")
    )
    return [
        e
        for e in found["items"]
        if (e.get("regarding") or {}).get("uid") == uid and (not reason or e.get("reason") == reason)
    ]


def kubectl(plane_kubeconfig: Any, *args: str) -> str:
    """What `kubectl` prints for `args` against the test control plane (an admin's view)."""
    import shutil
    import subprocess

    binary = shutil.which("kubectl")
    assert binary, "kubectl is not on PATH"
    done = subprocess.run(
        [binary, f"--kubeconfig={plane_kubeconfig}", *args], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def vm_on_network(name: str, network: str) -> dict[str, Any]:
    """A halted VM with one bridge interface on the Multus network `network` ("name" or "ns/name")."""
    from tests.support.vms import vm_body

    body = vm_body(name, {"vlan": None})
    body["spec"]["template"]["spec"]["networks"][0]["multus"]["networkName"] = network
    return body


def create_vm_once_served(api: Any, namespace: str, body: dict[str, Any]) -> None:
    """Create `body` as soon as the (simulated) KubeVirt serves the VirtualMachine API."""
    custom = client.CustomObjectsApi(api)
    eventually(
        lambda: custom.create_namespaced_custom_object(
            "kubevirt.io", "v1", namespace, "virtualmachines", body
        ),
        timeout=60,
        what=f"VirtualMachine {body['metadata']['name']} created",
    )


class LogMark:
    """The operator log from the moment of the mark on."""

    def __init__(self, path: Any) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0

    def text(self) -> str:
        with open(self.path, "rb") as handle:
            handle.seek(self.offset)
            return handle.read().decode(errors="replace")
