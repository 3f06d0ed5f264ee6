"""The fault suites' cluster, and the invariants every fault must leave intact.

A control plane of their own, not the session's: these tests SIGKILL the operator, restart
kube-apiserver and stop every webhook replica. On the shared plane that would hit the session
operator and simulator too, and a second operator reconciling the same profile would finish the
work of a killed one and hide exactly what these tests look for. Here exactly one operator
process (or the replicas a test starts on purpose) acts on the cluster at any time.

The operator runs as the production shape: `vmo run` with the profile handlers and the MAC
webhook (by URL on one loopback port), under the chart's least-privilege RBAC.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from hack.simulators.operands import OperandSimulator
from tests.support.kube import PROFILE, condition, get_profile, manifest, owned_objects, rendered
from tests.support.operator import OperatorProcess
from tests.support.vms import create_with_retry, list_vms, webhook_operator
from tests.support.waiting import WaitTimeoutError, eventually
from vmo_operator.kube.objects import PROFILE_LABEL, ObjectKey
from vmo_operator.localenv.controlplane import ControlPlane
from vmo_operator.macpool import mac as macs
from vmo_operator.macpool.reservation import GROUP, PLURAL, VERSION, Reservation

PROFILE_NAME = "vmo"
FINALIZER = "vmo.dev/teardown"
WORKLOAD_NAMESPACE = "chaos-workloads"
DATAVOLUMES = ("cdi.kubevirt.io", "v1beta1", "datavolumes")
KUBEVIRTS = ("kubevirt.io", "v1", "kubevirts")
CDIS = ("cdi.kubevirt.io", "v1beta1", "cdis")

# The snapshot controller is off: upstream's minReadySeconds (35 s) would dominate every install
# round without exercising anything the other components do not. A short MAC grace period lets
# released reservations disappear within a round. The namespace quota is far above what the long
# VM fuzz (`make chaos`, 2,000 VMs in one namespace) reserves: it tests MACs, not the quota.
BASE_SPEC: dict[str, Any] = {
    "snapshotController": {"mode": "Disabled"},
    "multus": {"networks": [{"name": "vlan-10", "vlan": 10, "namespaces": [WORKLOAD_NAMESPACE]}]},
    "macPool": {"releaseGracePeriodSeconds": 3, "maxReservationsPerNamespace": 100_000},
}


def base_spec() -> dict[str, Any]:
    return copy.deepcopy(BASE_SPEC)


@dataclass
class ChaosCluster:
    plane: ControlPlane
    api: Any
    kubeconfig: Path  # the operator's ServiceAccount identity
    port: int  # the MAC webhook's loopback port, shared by every operator process
    logs: Path
    simulator: OperandSimulator
    operators: list[OperatorProcess] = field(default_factory=list)

    @property
    def operator(self) -> OperatorProcess:
        return self.operators[-1]

    def start_operator(self, *, port: int = 0, url_port: int = 0) -> OperatorProcess:
        """A fresh `vmo run` (profile handlers + MAC webhook); it may run beside others.

        By default it serves the shared webhook port; `port` and `url_port` put it on a port of its
        own behind something that forwards the advertised `url_port` to it.
        """
        log = self.logs / f"operator-{len(self.operators):03d}.log"
        proc = webhook_operator(
            self.kubeconfig,
            log,
            port=port or self.port,
            url_port=url_port,
            client_ca=self.plane.webhook_client_ca,
        )
        self.operators.append(proc)
        return proc.start()

    def replace_operator(self) -> OperatorProcess:
        """SIGKILL the current operator (as an OOM kill or node loss would) and start a fresh one."""
        self.operator.kill()
        return self.start_operator()

    def ensure_operator(self) -> OperatorProcess:
        return self.operator if self.operators and self.operator.alive() else self.start_operator()

    def keep_only(self, proc: OperatorProcess) -> None:
        """Stop every operator but `proc`, which becomes the current one again: the one the next
        module's `ensure_operator` finds alive, instead of stopping it and starting another."""
        for other in self.operators:
            if other is not proc and other.alive():
                other.stop()
        self.operators.remove(proc)
        self.operators.append(proc)

    def stop_operators(self) -> None:
        for proc in self.operators:
            if proc.alive():
                proc.stop()

    def unexpected_errors(self, proc: OperatorProcess | None = None) -> float:
        """Reconciles that raised something the engine did not expect (logged as "reconcile crashed")."""
        samples = (proc or self.operator).metrics()
        return sum(
            v for k, v in samples.items() if k.startswith("vmo_reconcile_errors_total") and "Unexpected" in k
        )


# ---- waiting with a reason --------------------------------------------------------------------


def settle(check: Callable[[], list[str]], *, timeout: float, what: str) -> None:
    """Wait until `check` reports no problems; on timeout fail with the problems it last saw."""
    last: list[str] = []

    def probe() -> bool:
        nonlocal last
        last = check()
        return not last

    try:
        eventually(probe, timeout=timeout, what=what)
    except WaitTimeoutError as exc:
        raise AssertionError(f"{what}: {last or exc}") from None


# ---- the profile ------------------------------------------------------------------------------


def put_profile(api: Any, spec: dict[str, Any]) -> int:
    """Create the profile, or replace its whole spec; returns the generation to wait for."""
    custom = client.CustomObjectsApi(api)
    body = {
        "apiVersion": "vmo.dev/v1alpha1",
        "kind": "VMOProfile",
        "metadata": {"name": PROFILE_NAME},
        "spec": spec,
    }
    try:
        created = manifest(custom.create_cluster_custom_object(*PROFILE, body))
        return int(created["metadata"]["generation"])
    except ApiException as exc:
        if exc.status != 409:
            raise
    for _attempt in range(10):  # the operator writes annotations and status concurrently
        live = manifest(custom.get_cluster_custom_object(*PROFILE, PROFILE_NAME))
        live["spec"] = spec
        try:
            replaced = manifest(custom.replace_cluster_custom_object(*PROFILE, PROFILE_NAME, live))
        except ApiException as exc:
            if exc.status == 409:
                continue
            raise
        return int(replaced["metadata"]["generation"])
    raise AssertionError("could not replace the profile spec after 10 conflicts")


def delete_profile(api: Any) -> None:
    with contextlib.suppress(ApiException):
        client.CustomObjectsApi(api).delete_cluster_custom_object(*PROFILE, PROFILE_NAME)


def current_condition(api: Any, type_: str) -> dict[str, Any] | None:
    """The profile's condition `type_` if it was computed for the current generation."""
    profile = get_profile(api, PROFILE_NAME)
    cond = condition(profile, type_)
    if profile is None or cond is None:
        return None
    return cond if cond.get("observedGeneration") == profile["metadata"]["generation"] else None


def wait_available(api: Any, *, timeout: float = 120) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        cond = current_condition(api, "Available")
        return cond if cond and cond["status"] == "True" else None

    try:
        return eventually(probe, timeout=timeout, interval=0.2, what="profile Available")
    except WaitTimeoutError as exc:
        profile = get_profile(api, PROFILE_NAME) or {}
        conditions = [
            f"{c['type']}={c['status']} ({c.get('reason')}: {c.get('message', '')[:200]})"
            for c in (profile.get("status") or {}).get("conditions", [])
        ]
        raise AssertionError(f"{exc}; conditions: {conditions}") from None


def inventory_problems(api: Any, spec: dict[str, Any]) -> list[str]:
    """Owned objects equal to what the spec renders: nothing missing, orphaned, doubled or dying."""
    want = {ObjectKey.of(o) for o in rendered(spec, PROFILE_NAME)}
    live = owned_objects(api)
    problems = [f"missing {k.kind} {k.namespace}/{k.name}" for k in want - live.keys()]
    problems += [f"orphaned {k.kind} {k.namespace}/{k.name}" for k in live.keys() - want]
    for key, obj in live.items():
        meta = obj["metadata"]
        if meta.get("deletionTimestamp"):
            problems.append(f"stuck deleting {key.kind} {key.namespace}/{key.name}: {meta.get('finalizers')}")
        if (meta.get("labels") or {}).get(PROFILE_LABEL) != PROFILE_NAME:
            problems.append(f"{key.kind} {key.namespace}/{key.name} labelled for another profile")
    return problems + _operand_cr_problems(api, spec)


def _operand_cr_problems(api: Any, spec: dict[str, Any]) -> list[str]:
    """Exactly one KubeVirt and one CDI resource when enabled, owned or not (no duplicate installs)."""
    custom = client.CustomObjectsApi(api)
    problems = []
    for coordinates, enabled in (
        (KUBEVIRTS, spec.get("kubevirt", {}).get("enabled", True)),
        (CDIS, spec.get("cdi", {}).get("enabled", True)),
    ):
        try:
            count = len(manifest(custom.list_cluster_custom_object(*coordinates))["items"])
        except ApiException as exc:
            if exc.status != 404:
                raise
            count = 0
        if count != (1 if enabled else 0):
            problems.append(f"{count} {coordinates[2]} exist, want {1 if enabled else 0}")
    return problems


def profile_problems(api: Any) -> list[str]:
    profile = get_profile(api, PROFILE_NAME)
    if profile is None:
        return ["profile is gone"]
    meta = profile["metadata"]
    problems = []
    if meta.get("deletionTimestamp"):
        problems.append("profile is being deleted")
    finalizers = meta.get("finalizers") or []
    if finalizers.count(FINALIZER) != 1 or len(finalizers) != 1:
        problems.append(f"finalizers {finalizers}, want exactly [{FINALIZER}]")
    return problems


def assert_removed(api: Any, *, timeout: float = 120) -> None:
    """The profile is gone, with every object it owned: nothing orphaned, no finalizer stuck."""
    settle(
        lambda: [] if get_profile(api, PROFILE_NAME) is None else [f"profile still there: {_summary(api)}"],
        timeout=timeout,
        what="profile deleted",
    )
    settle(
        lambda: [f"{k.kind} {k.namespace}/{k.name}" for k in owned_objects(api)],
        timeout=60,
        what="no owned objects left",
    )


def _summary(api: Any) -> str:
    profile = get_profile(api, PROFILE_NAME) or {}
    meta = profile.get("metadata", {})
    conditions = {
        c["type"]: f"{c['status']} {c.get('reason')}: {c.get('message', '')[:160]}"
        for c in (profile.get("status") or {}).get("conditions", [])
    }
    return f"finalizers={meta.get('finalizers')} deleting={bool(meta.get('deletionTimestamp'))} {conditions}"


# ---- workloads: VMs and DataVolumes the operator must never delete ----------------------------


def reservations(api: Any) -> list[Reservation]:
    try:
        items = manifest(client.CustomObjectsApi(api).list_cluster_custom_object(GROUP, VERSION, PLURAL))[
            "items"
        ]
    except ApiException as exc:
        if exc.status == 404:
            return []
        raise
    return [Reservation.from_object(item) for item in items]


def carried_macs(vm: dict[str, Any]) -> dict[str, Any]:
    """Interface name -> macAddress as stored, tolerating the odd shapes hostile tests create."""
    node: Any = vm
    for key in ("spec", "template", "spec", "domain", "devices", "interfaces"):
        node = node.get(key) if isinstance(node, dict) else None
    items = node if isinstance(node, list) else []
    return {str(i.get("name", "")): i.get("macAddress") for i in items if isinstance(i, dict)}


def mac_problems(api: Any) -> list[str]:
    """Every VM interface carries a valid MAC and no MAC is carried twice in the cluster."""
    problems = []
    seen: dict[macs.Mac, str] = {}
    for vm in list_vms(api):
        where = f"{vm['metadata']['namespace']}/{vm['metadata']['name']}"
        for interface, text in carried_macs(vm).items():
            parsed = macs.check(text) if isinstance(text, str) and text else None
            if not isinstance(parsed, macs.Mac):
                problems.append(f"{where} interface {interface} has no valid MAC: {text!r}")
                continue
            if parsed in seen:
                problems.append(f"duplicate MAC {parsed}: {seen[parsed]} and {where}/{interface}")
            seen[parsed] = f"{where}/{interface}"
    return problems


def uncommitted_macs(api: Any) -> list[str]:
    """MACs of live VMs whose reservation is not Committed to that VM (the truth lives in the API)."""
    held = {r.mac: r for r in reservations(api)}
    problems = []
    for vm in list_vms(api):
        for text in carried_macs(vm).values():
            valid = isinstance(text, str) and isinstance(macs.check(text), macs.Mac)
            found = held.get(macs.parse(text)) if valid else None
            if found is None or found.state != "Committed" or found.holder.uid != vm["metadata"]["uid"]:
                state = "none" if found is None else f"{found.state} for {found.holder.uid}"
                problems.append(f"{vm['metadata']['name']} {text}: reservation {state}")
    return problems


def leaked_reservations(api: Any) -> list[str]:
    """Held reservations whose holder no longer exists (a replica's spares have no holder yet)."""
    live = {vm["metadata"]["uid"] for vm in list_vms(api)}
    return [
        f"{r.mac} {r.state} for {r.holder.namespace}/{r.holder.name}"
        for r in reservations(api)
        if r.held and r.state != "Spare" and r.holder.uid not in live
    ]


@dataclass
class Workloads:
    """VMs and DataVolumes created by the tests; only the tests may delete them."""

    api: Any
    namespace: str = WORKLOAD_NAMESPACE
    vms: dict[str, str] = field(default_factory=dict)  # name -> uid
    dvs: dict[str, str] = field(default_factory=dict)
    serial: int = 0

    def add_vm(self, nics: int = 2) -> dict[str, Any]:
        """A VM through the MAC webhook (retrying while a fresh operator starts serving)."""
        self.serial += 1
        name = f"vm-{self.serial:04d}"
        vm = create_with_retry(self.api, self.namespace, name, {f"nic{n}": None for n in range(nics)})
        self.vms[name] = vm["metadata"]["uid"]
        return vm

    def add_dv(self) -> None:
        self.serial += 1
        name = f"dv-{self.serial:04d}"
        body = {
            "apiVersion": "cdi.kubevirt.io/v1beta1",
            "kind": "DataVolume",
            "metadata": {"name": name},
            "spec": {"source": {"blank": {}}, "storage": {"resources": {"requests": {"storage": "1Gi"}}}},
        }
        custom = client.CustomObjectsApi(self.api)
        created = eventually(
            lambda: custom.create_namespaced_custom_object(
                DATAVOLUMES[0], DATAVOLUMES[1], self.namespace, DATAVOLUMES[2], body
            ),
            timeout=60,
            what="DataVolume API installed",
        )
        self.dvs[name] = manifest(created)["metadata"]["uid"]

    def problems(self) -> list[str]:
        """Workloads deleted or replaced behind the tests' back, and MAC problems."""
        custom = client.CustomObjectsApi(self.api)
        problems = []
        for name, uid in self.vms.items():
            problems += self._check(
                partial(
                    custom.get_namespaced_custom_object,
                    "kubevirt.io",
                    "v1",
                    self.namespace,
                    "virtualmachines",
                    name,
                ),
                f"VirtualMachine {name}",
                uid,
            )
        for name, uid in self.dvs.items():
            problems += self._check(
                partial(
                    custom.get_namespaced_custom_object,
                    DATAVOLUMES[0],
                    DATAVOLUMES[1],
                    self.namespace,
                    DATAVOLUMES[2],
                    name,
                ),
                f"DataVolume {name}",
                uid,
            )
        return problems + mac_problems(self.api)

    @staticmethod
    def _check(read: Callable[[], object], what: str, uid: str) -> list[str]:
        try:
            live = manifest(read())
        except ApiException as exc:
            if exc.status == 404:
                return [f"{what} was deleted"]
            raise
        if live["metadata"]["uid"] != uid:
            return [f"{what} was deleted and recreated"]
        if live["metadata"].get("deletionTimestamp"):
            return [f"{what} is being deleted"]
        return []

    def remove_all(self) -> None:
        """The user's own deletes (never the operator's), e.g. to let a blocked uninstall go on."""
        delete_all_workloads(self.api)
        self.vms.clear()
        self.dvs.clear()


def delete_all_workloads(api: Any) -> None:
    """Delete every VM and DataVolume in the cluster (all of them are the tests'), and wait."""
    custom = client.CustomObjectsApi(api)

    def listed() -> list[tuple[tuple[str, str, str], dict[str, Any]]]:
        found = [(("kubevirt.io", "v1", "virtualmachines"), vm) for vm in list_vms(api)]
        with contextlib.suppress(ApiException):
            found += [
                (DATAVOLUMES, dv) for dv in manifest(custom.list_cluster_custom_object(*DATAVOLUMES))["items"]
            ]
        return found

    for (group, version, plural), obj in listed():
        with contextlib.suppress(ApiException):
            custom.delete_namespaced_custom_object(
                group, version, obj["metadata"]["namespace"], plural, obj["metadata"]["name"]
            )
    settle(
        lambda: [f"{o['kind']} {o['metadata']['namespace']}/{o['metadata']['name']}" for _, o in listed()],
        timeout=60,
        what="workloads deleted",
    )


def assert_converged(chaos: ChaosCluster, spec: dict[str, Any], workloads: Workloads) -> float:
    """Available for the current generation with exactly the rendered objects and every workload
    intact; returns how long it took."""
    started = time.monotonic()
    wait_available(chaos.api)
    settle(
        lambda: inventory_problems(chaos.api, spec) + profile_problems(chaos.api),
        timeout=60,
        what="inventory",
    )
    settle(workloads.problems, timeout=30, what="workloads intact, MACs valid and unique")
    took = time.monotonic() - started
    assert chaos.operator.alive(), chaos.operator.log_tail()
    return took


def reset(chaos: ChaosCluster, workloads: Workloads | None = None) -> None:
    """No workloads, no profile, nothing owned: the state every module starts from."""
    chaos.ensure_operator()
    (workloads or Workloads(chaos.api)).remove_all()
    delete_profile(chaos.api)
    assert_removed(chaos.api)


def reset_to_base(chaos: ChaosCluster) -> dict[str, Any]:
    """No workloads, and the base profile converged (installed if absent); one live operator.

    What a module that starts from an installed base needs, without the removal and the fresh
    install `reset` costs: whatever an earlier module changed is converged back to the base spec
    and checked exactly as after an install (`assert_converged`). A profile being deleted is let
    go first.
    """
    chaos.ensure_operator()
    workloads = Workloads(chaos.api)
    workloads.remove_all()
    profile = get_profile(chaos.api, PROFILE_NAME)
    if profile is not None and profile["metadata"].get("deletionTimestamp"):
        assert_removed(chaos.api)
    return install_base(chaos, workloads)


def ensure_namespace(api: Any, name: str, labels: dict[str, str] | None = None) -> None:
    try:
        client.CoreV1Api(api).create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels=labels or {}))
        )
    except ApiException as exc:
        if exc.status != 409:
            raise


def install_base(chaos: ChaosCluster, workloads: Workloads) -> dict[str, Any]:
    """Apply the base profile and wait until it has converged; the spec, for later edits."""
    spec = base_spec()
    put_profile(chaos.api, spec)
    assert_converged(chaos, spec, workloads)
    return spec
