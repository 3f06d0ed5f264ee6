"""CDI: what cdi-operator.yaml installs, plus the cluster-scoped CDI CR configured from the profile.

cdi-operator deploys cdi-apiserver, cdi-deployment and cdi-uploadproxy itself; this component owns
the operator and the CR. Health mirrors KubeVirt: the CR must reach phase Deployed with Available=True.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vmo_operator.api.models import CDISpec, VMOProfileSpec
from vmo_operator.components import _health as health
from vmo_operator.components import _workloads as w
from vmo_operator.components.base import ClusterFacts, ComponentHealth, Observed
from vmo_operator.kube import kinds
from vmo_operator.kube.kinds import Kind
from vmo_operator.kube.objects import Manifest, ObjectKey

NAMESPACE = "cdi"
DEFAULT_REGISTRY = "quay.io/kubevirt"
OPERATOR = "cdi-operator"
CR_NAME = "cdi"
APP_LABEL = {"operator.cdi.kubevirt.io": ""}
# Images cdi-operator deploys, passed by environment as in the upstream manifest.
OPERAND_IMAGES = (
    ("CONTROLLER_IMAGE", "cdi-controller"),
    ("IMPORTER_IMAGE", "cdi-importer"),
    ("CLONER_IMAGE", "cdi-cloner"),
    ("OVIRT_POPULATOR_IMAGE", "cdi-importer"),
    ("APISERVER_IMAGE", "cdi-apiserver"),
    ("UPLOAD_SERVER_IMAGE", "cdi-uploadserver"),
    ("UPLOAD_PROXY_IMAGE", "cdi-uploadproxy"),
)


def _crd() -> Manifest:
    # As upstream's, no status subresource: cdi-operator writes the CR's status with a plain update,
    # which a status subresource would silently drop. Only v1beta1: upstream's manifest serves
    # v1alpha1 too, but cdi-operator removes it from the CRD once it runs (reconcileCDICRD in
    # pkg/operator/controller/cruft.go), so rendering it would fight the operator on every resync.
    columns = [
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    ]
    return w.crd(
        group="cdi.kubevirt.io",
        kind="CDI",
        plural="cdis",
        singular="cdi",
        scope="Cluster",
        short_names=("cdi", "cdis"),
        labels={"operator.cdi.kubevirt.io": ""},
        versions=[
            w.crd_version("v1beta1", w.OPEN_SCHEMA, status=False, printer_columns=columns),
        ],
    )


def _probe(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "httpGet": {"path": entry["path"], "port": entry["port"], "scheme": "HTTP"},
        "initialDelaySeconds": 5,
        "timeoutSeconds": 10,
    }


def _deployment(spec: CDISpec) -> Manifest:
    shape = w.data("cdi")["operatorDeployment"]
    labels = {"name": OPERATOR, **APP_LABEL}
    pod_labels = {
        **labels,
        "cdi.kubevirt.io": OPERATOR,
        "prometheus.cdi.kubevirt.io": "true",
        **{e["key"]: e["value"] for e in w.in_effect(shape["podLabels"], spec.version)},
    }
    env: list[dict[str, Any]] = [
        {"name": "DEPLOY_CLUSTER_RESOURCES", "value": "true"},
        {"name": "OPERATOR_VERSION", "value": spec.version},
    ]
    env += [
        {"name": var, "value": w.image(spec.registry, DEFAULT_REGISTRY, name, spec.version)}
        for var, name in OPERAND_IMAGES
    ]
    env += [
        {"name": "VERBOSITY", "value": "1"},
        {"name": "PULL_POLICY", "value": "IfNotPresent"},
        {"name": "MONITORING_NAMESPACE"},
    ]
    container: dict[str, Any] = {
        "name": OPERATOR,
        "image": w.image(spec.registry, DEFAULT_REGISTRY, OPERATOR, spec.version),
        "imagePullPolicy": "IfNotPresent",
        "env": env,
        "ports": w.in_effect(shape["ports"], spec.version),
        "resources": {"requests": {"cpu": "100m", "memory": "150Mi"}},
        "securityContext": {**w.RESTRICTED_CONTAINER, "runAsNonRoot": True},
    }
    for probe in w.in_effect(shape["probes"], spec.version):
        container[probe["probe"]] = _probe(probe)
    for policy in w.in_effect(shape["terminationMessagePolicy"], spec.version):
        container["terminationMessagePolicy"] = policy["value"]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": w.meta(OPERATOR, NAMESPACE, pod_labels),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {
                    "serviceAccountName": OPERATOR,
                    "securityContext": {"runAsNonRoot": True},
                    **w.pod_placement(
                        spec.infra,
                        node_selector={"kubernetes.io/os": "linux"},
                        base_tolerations=w.in_effect(shape["tolerations"], spec.version),
                        affinity=_prefer_near_cdi(),
                    ),
                    "containers": [container],
                },
            },
        },
    }


def _prefer_near_cdi() -> dict[str, Any]:
    """Upstream's operator affinity: prefer a node that runs a pod labelled cdi.kubevirt.io=cdi-operator."""
    spread = w.prefer_spread("cdi.kubevirt.io", OPERATOR)
    return {"podAffinity": spread["podAntiAffinity"]}


def cdi_cr(spec: VMOProfileSpec) -> Manifest:
    """The CDI CR, with the profile's overrides applied last when they apply (see `override_problem`)."""
    return w.with_overrides(_modelled_cr(spec), spec.cdi.overrides)[0]


def override_problem(spec: VMOProfileSpec) -> str:
    """Why the CDI overrides do not apply to the rendered CR; "" when they do (or there are none)."""
    return w.with_overrides(_modelled_cr(spec), spec.cdi.overrides)[1]


def _modelled_cr(spec: VMOProfileSpec) -> Manifest:
    cdi = spec.cdi
    config: dict[str, Any] = {
        "featureGates": list(cdi.feature_gates),
        "filesystemOverhead": {"global": cdi.filesystem_overhead.global_},
    }
    if cdi.filesystem_overhead.storage_class:
        config["filesystemOverhead"]["storageClass"] = dict(
            sorted(cdi.filesystem_overhead.storage_class.items())
        )
    if cdi.upload_proxy_url_override:
        config["uploadProxyURLOverride"] = cdi.upload_proxy_url_override
    if cdi.scratch_space_storage_class:
        config["scratchSpaceStorageClass"] = cdi.scratch_space_storage_class
    # Both supported minors have these (containerized-data-importer-api v1.61.1 and v1.65.0,
    # pkg/apis/core/v1beta1/types.go, CDIConfigSpec), so no version check is needed.
    if cdi.insecure_registries:
        config["insecureRegistries"] = list(cdi.insecure_registries)
    if cdi.import_proxy and (proxy := cdi.import_proxy.rendered()):
        config["importProxy"] = proxy
    if cdi.importer_resources and (resources := cdi.importer_resources.rendered()):
        config["podResourceRequirements"] = resources
    body: dict[str, Any] = {
        "config": config,
        "imagePullPolicy": "IfNotPresent",
        "uninstallStrategy": spec.uninstall_strategy,
    }
    # CDI spells these `infra` (NodePlacement inline) and `workload` (singular).
    if infra := w.operand_placement(cdi.infra):
        body["infra"] = infra
    if workload := w.operand_placement(cdi.workloads):
        body["workload"] = workload
    return {"apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "CDI", "metadata": w.meta(CR_NAME), "spec": body}


def _judge_cdi(obj: Any) -> health.Verdict:
    return health.judge_operand_cr(obj, "cdi-operator")


@dataclass(frozen=True)
class CDIComponent:
    name: str = "cdi"
    title: str = "CDI"
    owned_kinds: tuple[Kind, ...] = (
        kinds.NAMESPACE,
        kinds.CRD,
        *kinds.OPERATOR_IDENTITY,
        kinds.DEPLOYMENT,
        kinds.CDI,
    )
    workload_kinds: tuple[Kind, ...] = (kinds.DATA_VOLUME,)

    def enabled(self, spec: VMOProfileSpec, facts: ClusterFacts) -> bool:
        return spec.cdi.enabled

    def render(self, spec: VMOProfileSpec, facts: ClusterFacts) -> list[Manifest]:
        if not self.enabled(spec, facts):
            return []
        rules = w.data("cdi")
        version = spec.cdi.version
        labels = {"cdi.kubevirt.io": ""}
        return [
            w.namespace(NAMESPACE, {**labels, "pod-security.kubernetes.io/enforce": "privileged"}),
            _crd(),
            w.service_account(OPERATOR, NAMESPACE, {**labels, **APP_LABEL}),
            w.cluster_role(
                "cdi-operator-cluster",
                w.in_effect(rules["operatorClusterRoleRules"], version),
                {**labels, **APP_LABEL},
            ),
            w.cluster_role_binding(
                "cdi-operator", "cdi-operator-cluster", OPERATOR, NAMESPACE, {**labels, **APP_LABEL}
            ),
            w.role(
                OPERATOR, NAMESPACE, w.in_effect(rules["operatorRoleRules"], version), {**labels, **APP_LABEL}
            ),
            w.role_binding(OPERATOR, NAMESPACE, OPERATOR, OPERATOR, {**labels, **APP_LABEL}),
            _deployment(spec.cdi),
            cdi_cr(spec),
        ]

    def assess(
        self, spec: VMOProfileSpec, facts: ClusterFacts, rendered: Sequence[Manifest], observed: Observed
    ) -> ComponentHealth:
        if not self.enabled(spec, facts):
            return health.disabled(self.name)
        cr = observed.get(ObjectKey("cdi.kubevirt.io/v1beta1", "CDI", "", CR_NAME)) or {}
        version = str((cr.get("status") or {}).get("observedVersion", ""))
        judged = health.assess_rendered(
            self.name,
            rendered,
            observed,
            version=version,
            judges={("cdi.kubevirt.io/v1beta1", "CDI"): _judge_cdi},
        )
        return health.override_failed(judged, override_problem(spec))


CDI = CDIComponent()
