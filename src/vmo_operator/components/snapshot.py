"""The CSI snapshot controller, the three VolumeSnapshot CRDs and the profile's VolumeSnapshotClasses.

Clusters often have a snapshot controller already (Palette's backup feature installs one, and so do
many distributions). Two controllers fight over the same objects, so this component asks the engine
to look for them (`fact_queries`), and whenever snapshot CRDs or a snapshot-controller Deployment
exist that are not labelled as ours, it installs neither controller nor CRDs, in Auto and in Enabled
mode alike, and says what it found. The profile's VolumeSnapshotClasses are still written where
someone else's CRDs serve them: backups need them most where a backup product brought its own
controller. The component also reads the VolumeSnapshotClasses and StorageClasses, to leave a
foreign class of a listed name alone and to report the storage classes no class serves
(`snapshot_classes`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from vmo_operator.api import versions
from vmo_operator.api.models import SnapshotControllerSpec, VMOProfileSpec
from vmo_operator.components import _health as health
from vmo_operator.components import _workloads as w
from vmo_operator.components import snapshot_classes as classes
from vmo_operator.components.base import ClusterFacts, ComponentHealth, ConditionSpec, FactQuery, Observed
from vmo_operator.kube import kinds
from vmo_operator.kube.kinds import Kind
from vmo_operator.kube.objects import Manifest, ObjectKey, is_ours

NAMESPACE = "kube-system"
DEFAULT_REGISTRY = "registry.k8s.io/sig-storage"
NAME = "snapshot-controller"
GROUP = "snapshot.storage.k8s.io"
# CRDs in *.k8s.io groups must point at their API review, or the API server flags them.
API_APPROVED = {
    "api-approved.kubernetes.io": "https://github.com/kubernetes-csi/external-snapshotter/pull/419"
}
DEFAULT_CLASS_ANNOTATION = classes.DEFAULT_CLASS_ANNOTATION
UNCOVERED_FIELD = "storageClassesWithoutSnapshotClass"
COMPONENT_NAME = "snapshotController"

# What another installation looks like: the CRD every snapshot controller needs, and its
# Deployment under the labels upstream and the common distributions give it.
SNAPSHOT_CRD_NAME = f"volumesnapshots.{GROUP}"
CLASS_CRD_NAME = f"volumesnapshotclasses.{GROUP}"
FOREIGN_CONTROLLER_SELECTORS = ("app=snapshot-controller", "app.kubernetes.io/name=snapshot-controller")
FACT_QUERIES = (
    FactQuery(kinds.CRD, name=SNAPSHOT_CRD_NAME),
    *(FactQuery(kinds.DEPLOYMENT, label_selector=selector) for selector in FOREIGN_CONTROLLER_SELECTORS),
    FactQuery(kinds.CRD, name=CLASS_CRD_NAME),
    FactQuery(kinds.VOLUME_SNAPSHOT_CLASS),
    FactQuery(kinds.STORAGE_CLASS),
)


@dataclass(frozen=True)
class ForeignSnapshotInstallation:
    """This component's facts: what of a snapshot installation exists that is not ours."""

    crds: bool = False  # VolumeSnapshot CRDs exist and are not labelled as ours
    controller: bool = False  # a snapshot-controller Deployment exists that is not ours
    classes_served: bool = False  # the VolumeSnapshotClass CRD exists, whoever installed it
    # Every VolumeSnapshotClass and StorageClass; None when nothing was observed (offline rendering).
    storage: classes.StorageFacts | None = None


def _facts(facts: ClusterFacts) -> ForeignSnapshotInstallation:
    return facts.of(COMPONENT_NAME, ForeignSnapshotInstallation) or ForeignSnapshotInstallation()


def foreign_installation(facts: ClusterFacts) -> str:
    """What someone else installed, in words; "" when nothing."""
    foreign = _facts(facts)
    found = []
    if foreign.crds:
        found.append("VolumeSnapshot CRDs")
    if foreign.controller:
        found.append("a snapshot-controller Deployment")
    return " and ".join(found)


def _crds() -> list[Manifest]:
    out = []
    for entry in w.data("snapshot")["crds"]:
        version = w.crd_version(
            "v1",
            entry["schema"],
            status=entry["kind"] != "VolumeSnapshotClass",
            printer_columns=entry["printerColumns"],
        )
        out.append(
            w.crd(
                group=GROUP,
                kind=entry["kind"],
                plural=entry["plural"],
                singular=entry["singular"],
                scope=entry["scope"],
                short_names=entry["shortNames"],
                annotations=API_APPROVED,
                versions=[version],
            )
        )
    return out


def _cluster_role_rules(spec: SnapshotControllerSpec, data: dict[str, Any]) -> list[dict[str, Any]]:
    """Upstream's rules for the configured release: the common ones plus those added by later minors."""
    minor = versions.parse(spec.version)[:2]
    rules = list(data["clusterRoleRules"])
    for step in data["clusterRoleRulesSince"]:
        if minor >= tuple(step["since"]):
            rules.extend(step["rules"])
    return rules


def _deployment(spec: SnapshotControllerSpec) -> Manifest:
    labels = {"app.kubernetes.io/name": NAME}
    deployment: Manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": w.meta(NAME, NAMESPACE, labels),
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": NAME,
                    **w.pod_placement(spec.infra),
                    "containers": [
                        {
                            "name": NAME,
                            "image": w.image(spec.registry, DEFAULT_REGISTRY, NAME, spec.version),
                            "imagePullPolicy": "IfNotPresent",
                            "args": ["--v=5", "--leader-election=true"],
                        }
                    ],
                },
            },
        },
    }
    # 0 is the API's default, and the API server omits a zero minReadySeconds from the stored
    # object; writing it would make the live object never contain the rendered one, so every
    # idle resync would patch the Deployment again.
    if spec.min_ready_seconds:
        deployment["spec"]["minReadySeconds"] = spec.min_ready_seconds
    return deployment


@dataclass(frozen=True)
class SnapshotControllerComponent:
    name: str = COMPONENT_NAME
    title: str = "SnapshotController"
    owned_kinds: tuple[Kind, ...] = (
        kinds.CRD,
        *kinds.OPERATOR_IDENTITY,
        kinds.DEPLOYMENT,
        kinds.VOLUME_SNAPSHOT_CLASS,
    )
    # Looks for another snapshot installation before rendering (see base.ObservesCluster).
    fact_queries: tuple[FactQuery, ...] = FACT_QUERIES

    def facts_from(self, found: Sequence[Sequence[Manifest]]) -> ForeignSnapshotInstallation:
        """What `FACT_QUERIES` found: the CRD and the controllers (one list per selector) that are
        not ours, whether the VolumeSnapshotClass CRD exists, every VolumeSnapshotClass and
        StorageClass."""
        crds, by_app, by_name, class_crd, snapshot_classes, storage_classes = found
        return ForeignSnapshotInstallation(
            crds=any(not is_ours(crd) for crd in crds),
            controller=any(not is_ours(deployment) for deployment in [*by_app, *by_name]),
            classes_served=bool(class_crd),
            storage=classes.storage_facts(snapshot_classes, storage_classes),
        )

    def enabled(self, spec: VMOProfileSpec, facts: ClusterFacts) -> bool:
        return spec.snapshot_controller.mode != "Disabled" and not foreign_installation(facts)

    def render(self, spec: VMOProfileSpec, facts: ClusterFacts) -> list[Manifest]:
        if spec.snapshot_controller.mode == "Disabled":
            return []
        if foreign_installation(facts):
            # Another installation's CRDs serve the classes, which are still the profile's to write.
            found = _facts(facts)
            return classes.render(spec.snapshot_controller, found.storage) if found.classes_served else []
        rules = w.data("snapshot")
        return [
            *_crds(),
            w.service_account(NAME, NAMESPACE),
            w.cluster_role(
                "snapshot-controller-runner", _cluster_role_rules(spec.snapshot_controller, rules)
            ),
            w.cluster_role_binding("snapshot-controller-role", "snapshot-controller-runner", NAME, NAMESPACE),
            w.role("snapshot-controller-leaderelection", NAMESPACE, rules["leaderElectionRules"]),
            w.role_binding(
                "snapshot-controller-leaderelection", NAMESPACE, "snapshot-controller-leaderelection", NAME
            ),
            _deployment(spec.snapshot_controller),
            *classes.render(spec.snapshot_controller, _facts(facts).storage),
        ]

    def assess(
        self, spec: VMOProfileSpec, facts: ClusterFacts, rendered: Sequence[Manifest], observed: Observed
    ) -> ComponentHealth:
        judged = self._judge(spec, facts, rendered, observed)
        storage = _facts(facts).storage
        if storage is None:
            return judged
        details = {UNCOVERED_FIELD: classes.uncovered(storage, rendered)}
        foreign = classes.foreign_names(spec.snapshot_controller, storage) if rendered else []
        if foreign:
            note = (
                f"VolumeSnapshotClass {', '.join(foreign)} exists and was not created by vmo-operator; "
                "left alone"
            )
            message = f"{judged.message}; {note}" if judged.message else note
            return replace(judged, message=message, details=details)
        return replace(judged, details=details)

    def _judge(
        self, spec: VMOProfileSpec, facts: ClusterFacts, rendered: Sequence[Manifest], observed: Observed
    ) -> ComponentHealth:
        mode = spec.snapshot_controller.mode
        if mode == "Disabled":
            return health.disabled(self.name)
        found = foreign_installation(facts)
        if found:
            wanted = " although mode is Enabled" if mode == "Enabled" else ""
            return health.disabled(
                self.name,
                f"skipped{wanted}: found {found} not installed by vmo-operator; "
                "leaving the existing installation alone",
                skipped=True,
                reason="ForeignSnapshotController",
            )
        deployment = ObjectKey("apps/v1", "Deployment", NAMESPACE, NAME)
        return health.assess_deployed(self.name, rendered, observed, deployment, NAME)

    def status_fields(self, spec: VMOProfileSpec, health: ComponentHealth) -> Mapping[str, Any]:
        """The storage classes whose provisioner no VolumeSnapshotClass serves, once observed."""
        if UNCOVERED_FIELD not in health.details:
            return {}
        return {UNCOVERED_FIELD: list(health.details[UNCOVERED_FIELD])}

    def extra_conditions(self, spec: VMOProfileSpec, health: ComponentHealth) -> Sequence[ConditionSpec]:
        return []


SNAPSHOT_CONTROLLER = SnapshotControllerComponent()
