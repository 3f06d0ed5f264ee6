"""The CSI snapshot controller, the three VolumeSnapshot CRDs and an optional VolumeSnapshotClass.

Clusters often have a snapshot controller already (Palette's backup feature installs one, and so do
many distributions). Two controllers fight over the same objects, so whenever the engine finds
snapshot CRDs or a snapshot-controller Deployment that is not labelled as ours, this component
renders nothing at all, in Auto and in Enabled mode alike, and says what it found.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vmo_operator.api import versions
from vmo_operator.api.models import SnapshotControllerSpec, VMOProfileSpec
from vmo_operator.components import _workloads as w
from vmo_operator.components.base import ClusterFacts, ComponentHealth, Observed
from vmo_operator.kube import kinds
from vmo_operator.kube.kinds import Kind
from vmo_operator.kube.objects import Manifest, ObjectKey

NAMESPACE = "kube-system"
DEFAULT_REGISTRY = "registry.k8s.io/sig-storage"
NAME = "snapshot-controller"
GROUP = "snapshot.storage.k8s.io"
# CRDs in *.k8s.io groups must point at their API review, or the API server flags them.
API_APPROVED = {
    "api-approved.kubernetes.io": "https://github.com/kubernetes-csi/external-snapshotter/pull/419"
}
# Upstream waits this long before a new replica counts as available, so leader election settles.
MIN_READY_SECONDS = 35
DEFAULT_CLASS_ANNOTATION = "snapshot.storage.kubernetes.io/is-default-class"


def foreign_installation(facts: ClusterFacts) -> str:
    """What someone else installed, in words; "" when nothing."""
    found = []
    if facts.foreign_snapshot_crds:
        found.append("VolumeSnapshot CRDs")
    if facts.foreign_snapshot_controller:
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
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": w.meta(NAME, NAMESPACE, labels),
        "spec": {
            "replicas": 2,
            "minReadySeconds": MIN_READY_SECONDS,
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


def _snapshot_class(spec: SnapshotControllerSpec) -> list[Manifest]:
    vsc = spec.volume_snapshot_class
    if vsc is None:
        return []
    annotations = {DEFAULT_CLASS_ANNOTATION: "true"} if vsc.is_default else None
    obj: dict[str, Any] = {
        "apiVersion": f"{GROUP}/v1",
        "kind": "VolumeSnapshotClass",
        "metadata": w.meta(vsc.name, annotations=annotations),
        "driver": vsc.driver,
        "deletionPolicy": vsc.deletion_policy,
    }
    if vsc.parameters:
        obj["parameters"] = dict(sorted(vsc.parameters.items()))
    return [obj]


@dataclass(frozen=True)
class SnapshotControllerComponent:
    name: str = "snapshotController"
    title: str = "SnapshotController"
    owned_kinds: tuple[Kind, ...] = (
        kinds.CRD,
        kinds.SERVICE_ACCOUNT,
        kinds.CLUSTER_ROLE,
        kinds.CLUSTER_ROLE_BINDING,
        kinds.ROLE,
        kinds.ROLE_BINDING,
        kinds.DEPLOYMENT,
        kinds.VOLUME_SNAPSHOT_CLASS,
    )

    def enabled(self, spec: VMOProfileSpec, facts: ClusterFacts) -> bool:
        return spec.snapshot_controller.mode != "Disabled" and not foreign_installation(facts)

    def render(self, spec: VMOProfileSpec, facts: ClusterFacts) -> list[Manifest]:
        if not self.enabled(spec, facts):
            return []
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
            *_snapshot_class(spec.snapshot_controller),
        ]

    def assess(self, spec: VMOProfileSpec, facts: ClusterFacts, observed: Observed) -> ComponentHealth:
        mode = spec.snapshot_controller.mode
        if mode == "Disabled":
            return w.disabled(self.name)
        found = foreign_installation(facts)
        if found:
            wanted = " although mode is Enabled" if mode == "Enabled" else ""
            return w.disabled(
                self.name,
                f"skipped{wanted}: found {found} not installed by vmo-operator; "
                "leaving the existing installation alone",
                skipped=True,
                reason="ForeignSnapshotController",
            )
        live = observed.get(ObjectKey("apps/v1", "Deployment", NAMESPACE, NAME))
        return w.assess_rendered(
            self.name, self.render(spec, facts), observed, version=w.container_image_tag(live, NAME)
        )


SNAPSHOT_CONTROLLER = SnapshotControllerComponent()
