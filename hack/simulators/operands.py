"""Stand-ins for virt-operator and cdi-operator, which cannot run without a container runtime.

SIMULATORS, used by the tests, the benchmarks and `make demo KUBEVIRT=simulated` (plain `make demo`
runs the real virt-operator); never shipped (they live in hack/, not src/, and nothing in src/
imports them). Each simulator does the small part of the real operator's job that vmo-operator can
observe: once its operator Deployment (rendered by vmo-operator, made Ready by kwok) is ready, it
marks the KubeVirt or CDI custom resource Deployed/Available with the version from the operator
image, installs the workload CRDs the real operator would, and on deletion removes them and its
finalizer, as the real operators do. KubeVirt's CRDs are upstream's own, dumped by the real
virt-operator binary (hack/kubevirt_api.py); CDI's DataVolume, DataSource and DataImportCron CRDs
are schema-less stand-ins. While a real operator holds its leader Lease (tests/operands runs the
real virt-operator), the simulator leaves that operand alone.

`keep_workload_crds` departs from upstream on purpose, for the test session: KubeVirt's CRDs are
megabytes of schema, and each removal and re-install costs the API server about 9 s of CPU and a
profile install about 20 s of waiting on a loaded 2-core machine. The test session's simulator
keeps them across profiles (a profile installed after the first finds the VM API served); the
tests about KubeVirt's removal taking the VM API away turn it off
(tests/integration/test_kubevirt_removal.py).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from hack import kubevirt_api
from hack.official_client import official_client
from vmo_operator.kube.client import KubeClient, KubeError
from vmo_operator.kube.kinds import CRD, DEPLOYMENT, LEASE
from vmo_operator.kube.objects import Manifest


def _crd(group: str, version: str, kind: str, plural: str, short: list[str], owner: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}", "labels": {"app.kubernetes.io/managed-by": owner}},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": short,
                "listKind": f"{kind}List",
            },
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                    },
                }
            ],
        },
    }


# The kinds cdi-operator installs that the operator uses: DataVolumes (the uninstall guard; golden
# images) and the golden images' DataSources and DataImportCrons.
CDI_WORKLOAD_CRDS = [
    _crd("cdi.kubevirt.io", "v1beta1", "DataVolume", "datavolumes", ["dv", "dvs"], "cdi-operator"),
    _crd("cdi.kubevirt.io", "v1beta1", "DataSource", "datasources", ["das"], "cdi-operator"),
    _crd("cdi.kubevirt.io", "v1beta1", "DataImportCron", "dataimportcrons", ["dic", "dics"], "cdi-operator"),
]


def _live_crds(api: Any, crds: list[dict[str, Any]]) -> dict[str, Manifest | None]:
    """Each CRD as the API server holds it, as plain JSON, None where it does not exist.

    KubeVirt's CRDs are megabytes of schema: decoding them into the generated client's typed models,
    or sending one in a create that is refused as AlreadyExists, costs the API server and this
    process far more than reading the JSON.
    """
    kube = KubeClient(api)
    return {crd["metadata"]["name"]: kube.get(CRD, crd["metadata"]["name"]) for crd in crds}


def install_crds(api: Any, crds: list[dict[str, Any]]) -> None:
    """Create those of `crds` that do not exist (as the real operators do, never replacing one)."""
    live = _live_crds(api, crds)
    kube = KubeClient(api)
    for crd in crds:
        if live[crd["metadata"]["name"]] is None:
            with contextlib.suppress(KubeError):
                kube.create(CRD, crd)


def _established(live: Manifest | None) -> bool:
    if live is None or live["metadata"].get("deletionTimestamp"):
        return False  # a CRD being deleted is still Established, but about to stop being served
    conditions = (live.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


def crds_established(api: Any, crds: list[dict[str, Any]]) -> bool:
    return all(_established(live) for live in _live_crds(api, crds).values())


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Operand:
    """How one operator's custom resource, Deployment and workload CRDs are laid out."""

    group: str
    version: str
    plural: str
    namespaced: bool
    deployment: str
    deployment_namespace: str  # for cluster-scoped CRs
    finalizer: str
    version_field: str
    workload_crds: list[dict[str, Any]]
    # The real operator's leader-election Lease (in the deployment namespace): while one holds it,
    # a real operator runs (tests/operands) and the simulator stands aside.
    leader_lease: str = ""


def kubevirt_operand(workload_crds: list[dict[str, Any]]) -> Operand:
    """virt-operator's part, with the CRDs the real one registers (hack/kubevirt_api.py)."""
    return Operand(
        "kubevirt.io",
        "v1",
        "kubevirts",
        True,
        "virt-operator",
        "kubevirt",
        "foregroundDeleteKubeVirt",
        "observedKubeVirtVersion",
        workload_crds,
        leader_lease="virt-operator",
    )


CDI = Operand(
    "cdi.kubevirt.io",
    "v1beta1",
    "cdis",
    False,
    "cdi-operator",
    "cdi",
    "operator.cdi.kubevirt.io",
    "observedVersion",
    CDI_WORKLOAD_CRDS,
    leader_lease="cdi-operator-leader-election-helper",
)


CRD_RECHECK_SECONDS = 5.0


class OperandSimulator:
    """Polls the custom resources of KubeVirt and CDI and plays their operators' part."""

    def __init__(
        self,
        api: Any,
        operands: tuple[Operand, ...],
        interval: float = 0.3,
        *,
        keep_workload_crds: bool = False,
    ) -> None:
        self.api = api
        self.operands = operands
        self.interval = interval
        self.keep_workload_crds = keep_workload_crds
        """When a custom resource is deleted, leave its workload CRDs (see the module's docstring)."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors: list[str] = []
        self._crds_served_until: dict[str, float] = {}

    def start(self) -> OperandSimulator:
        self._thread = threading.Thread(target=self._loop, name="operand-simulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            for operand in self.operands:
                try:
                    self.step(operand)
                except ApiException as exc:
                    if exc.status not in (404, 409):
                        self.errors.append(f"{operand.plural}: {exc.status} {exc.reason}")
                except Exception as exc:  # a simulator must not die on a transient API error
                    self.errors.append(f"{operand.plural}: {exc!r}")
            self._stop.wait(self.interval)

    def step(self, operand: Operand) -> None:
        custom = client.CustomObjectsApi(self.api)
        try:
            # The generated client types a custom-object list as `object`; it is the decoded JSON list.
            listed = cast(
                dict[str, Any],
                custom.list_cluster_custom_object(operand.group, operand.version, operand.plural),
            )
            items = listed["items"]
        except ApiException as exc:
            if exc.status == 404:
                return  # vmo-operator has not installed this operand's CRD (yet)
            raise
        for cr in items:
            self._handle(operand, cr)

    def _handle(self, operand: Operand, cr: dict[str, Any]) -> None:
        custom = client.CustomObjectsApi(self.api)
        meta = cr["metadata"]
        name, namespace = meta["name"], meta.get("namespace", "")
        if self._real_operator_leads(operand, namespace or operand.deployment_namespace):
            return
        finalizers = list(meta.get("finalizers") or [])
        if meta.get("deletionTimestamp"):
            self._crds_served_until.pop(operand.plural, None)
            ext = client.ApiextensionsV1Api(self.api)
            for crd in [] if self.keep_workload_crds else operand.workload_crds:
                with contextlib.suppress(ApiException):
                    ext.delete_custom_resource_definition(crd["metadata"]["name"])
            if operand.finalizer in finalizers:
                finalizers.remove(operand.finalizer)
                self._patch(operand, name, namespace, {"metadata": {"finalizers": finalizers}})
            return
        if operand.finalizer not in finalizers:
            self._patch(
                operand, name, namespace, {"metadata": {"finalizers": [*finalizers, operand.finalizer]}}
            )
        deploy_ns = namespace or operand.deployment_namespace
        deployed, image_tag = self._operator_ready(operand.deployment, deploy_ns)
        if deployed:
            deployed = self._workload_crds_served(operand)
        status = cr.get("status") or {}
        wanted_phase = "Deployed" if deployed else "Deploying"
        if status.get("phase") == wanted_phase and (
            not deployed or status.get(operand.version_field) == image_tag
        ):
            return
        now = _now()
        flag = "True" if deployed else "False"
        new_status = {
            "phase": wanted_phase,
            operand.version_field: image_tag if deployed else status.get(operand.version_field, ""),
            "conditions": [
                {
                    "type": "Available",
                    "status": flag,
                    "reason": "AllComponentsReady" if deployed else "Deploying",
                    "message": "simulated operator",
                    "lastTransitionTime": now,
                    "lastProbeTime": now,
                },
                {
                    "type": "Progressing",
                    "status": "False" if deployed else "True",
                    "reason": "AllComponentsReady" if deployed else "Deploying",
                    "message": "simulated operator",
                    "lastTransitionTime": now,
                    "lastProbeTime": now,
                },
                {
                    "type": "Degraded",
                    "status": "False",
                    "reason": "AllComponentsReady",
                    "message": "simulated operator",
                    "lastTransitionTime": now,
                    "lastProbeTime": now,
                },
            ],
        }
        if operand.namespaced:
            custom.patch_namespaced_custom_object_status(
                operand.group, operand.version, namespace, operand.plural, name, {"status": new_status}
            )
        else:
            # The CDI CRD has no status subresource (as upstream's): cdi-operator writes status with
            # a plain update of the CR, and so does this stand-in.
            custom.patch_cluster_custom_object(
                operand.group, operand.version, operand.plural, name, {"status": new_status}
            )

    def _workload_crds_served(self, operand: Operand) -> bool:
        """Create the operand's missing workload CRDs; whether all of them are served.

        Once they are, they are checked again only every CRD_RECHECK_SECONDS (so CRDs deleted behind
        the operator's back come back, as with the real one, which reconciles them on its resyncs):
        each check reads megabytes of KubeVirt schema, too much for every 0.3-second step.
        """
        now = time.monotonic()
        if now < self._crds_served_until.get(operand.plural, 0.0):
            return True
        live = _live_crds(self.api, operand.workload_crds)
        missing = [crd for crd in operand.workload_crds if live[crd["metadata"]["name"]] is None]
        if missing:
            install_crds(self.api, missing)
            return False
        served = all(_established(crd) for crd in live.values())
        if served:
            self._crds_served_until[operand.plural] = now + CRD_RECHECK_SECONDS
        return served

    def _real_operator_leads(self, operand: Operand, namespace: str) -> bool:
        if not operand.leader_lease:
            return False
        # Read as JSON, like everything this loop reads every step: decoding into the generated
        # client's typed models cost more CPU than the API server's answer.
        lease = KubeClient(self.api).get(LEASE, operand.leader_lease, namespace)
        return bool(lease and (lease.get("spec") or {}).get("holderIdentity"))

    def _patch(self, operand: Operand, name: str, namespace: str, body: dict[str, Any]) -> None:
        custom = client.CustomObjectsApi(self.api)
        if operand.namespaced:
            custom.patch_namespaced_custom_object(
                operand.group, operand.version, namespace, operand.plural, name, body
            )
        else:
            custom.patch_cluster_custom_object(operand.group, operand.version, operand.plural, name, body)

    def _operator_ready(self, name: str, namespace: str) -> tuple[bool, str]:
        deployment = KubeClient(self.api).get(DEPLOYMENT, name, namespace)
        if deployment is None:
            return False, ""
        # Every operator Deployment vmo-operator renders has one container with an image.
        image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
        ready = ((deployment.get("status") or {}).get("readyReplicas") or 0) >= 1
        return ready, tag


SIMULATED = {"kubevirt": "virt-operator", "cdi": "cdi-operator"}


def simulated_operands(kubeconfig: Path, only: Sequence[str] = tuple(SIMULATED)) -> tuple[Operand, ...]:
    """The operands to simulate; `kubeconfig` (an admin's) serves the one-time dump of KubeVirt's
    CRDs from the real virt-operator binary."""
    table = {"cdi": lambda: CDI, "kubevirt": lambda: kubevirt_operand(kubevirt_api.workload_crds(kubeconfig))}
    return tuple(table[name]() for name in only)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Simulate virt-operator and cdi-operator (hack/simulators, not the product)"
    )
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(SIMULATED),
        help="simulate only this operand (repeatable; default: all). `make demo KUBEVIRT=simulated` runs "
        "the real cdi-operator, so it simulates only kubevirt: two operators writing one CR would fight.",
    )
    args = parser.parse_args(argv)
    chosen = args.only or list(SIMULATED)
    api = official_client(args.kubeconfig)
    sim = OperandSimulator(api, simulated_operands(Path(args.kubeconfig), chosen))
    names = " and ".join(SIMULATED[name] for name in chosen)
    print(f"simulating {names}; Ctrl-C to stop", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        sim._loop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
