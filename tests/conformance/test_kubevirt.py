"""KubeVirt conformance: what the kubevirt component renders, against upstream's source at every
release that proves a supported minor (`versions.KUBEVIRT.proven`).

A check fails when the rendering lacks something upstream has (virt-operator would be denied, or
could not grant its components what they need), or when it is broader or different than upstream
without an entry in `allowlist/kubevirt.yaml` that gives the reason. An allowlist entry that
matches nothing fails too. Upstream's own sources are read from the Go module cache
(`kubevirt_upstream`); if the proxy refuses a version the test fails with the reason.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conformance import kubevirt_upstream as up
from tests.conformance import rbac, render, schema
from vmo_operator.api import featuregates, kubevirtfields, versions

RELEASES = list(versions.KUBEVIRT.proven.values())
ALLOWLIST = Path(__file__).parent / "allowlist" / "kubevirt.yaml"
OPERATOR = "kubevirt-operator"

# A profile that exercises every optional field the component writes into the KubeVirt CR.
FULL: dict[str, Any] = {
    "infra": {
        "nodeSelector": {"node-role.kubernetes.io/control-plane": ""},
        "tolerations": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"}],
        "affinity": {"podAntiAffinity": {}},
    },
    "workloads": {
        "nodeSelector": {"kubevirt.io/schedulable": "true"},
        "tolerations": [
            {"key": "maintenance", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60}
        ],
    },
    "featureGates": {"add": ["CPUManager", "NotAGate"], "remove": ["Snapshot", "AlsoNotAGate"]},
    "migrations": {"bandwidthPerMigration": "64Mi", "allowAutoConverge": True},
    "liveUpdate": {"maxCpuSockets": 8},
    "vmStateStorageClass": "rwx-state",
    "useEmulation": True,
    "density": {
        "memoryOvercommitPercent": 150,
        "cpuAllocationRatio": 4,
        "ksm": {
            "enabled": True,
            "nodeLabelSelector": {
                "matchLabels": {"ksm": "on"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["dense"]}],
            },
        },
    },
}


def rendered(release: str, extra: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    return render.rendered("kubevirt", {"kubevirt": {"version": release, **(extra or {})}})


# ------------------------------------------------------------------------------------ allowlist


@dataclass(frozen=True)
class Finding:
    """One way the rendering is broader than, or differs from, upstream's."""

    object: str  # "Kind/name"
    item: str  # an RBAC atom or a field path
    release: str


def _allowlist() -> list[dict[str, Any]]:
    entries = yaml.safe_load(ALLOWLIST.read_text()) or []
    for entry in entries:
        missing = {"object", "item", "versions", "reason"} - set(entry)
        assert not missing, f"allowlist entry {entry} lacks {sorted(missing)}"
        assert str(entry["reason"]).strip(), f"allowlist entry {entry} gives no reason"
    return list(entries)


def _allowed(finding: Finding, entry: dict[str, Any]) -> bool:
    applies = entry["versions"] == "all" or finding.release in entry["versions"]
    return applies and entry["object"] == finding.object and entry["item"] == finding.item


def unexplained(findings: list[Finding]) -> list[str]:
    entries = _allowlist()
    return [f"{f.object}: {f.item}" for f in findings if not any(_allowed(f, e) for e in entries)]


# ----------------------------------------------------------------------------------------- RBAC


def _rbac_findings(release: str) -> tuple[list[str], list[Finding]]:
    """(what upstream's operator holds that ours lacks, what ours holds beyond upstream's)."""
    ours = rendered(release)
    theirs = up.rbac(release)
    lacking: list[str] = []
    broader: list[Finding] = []
    for kind in ("ClusterRole", "Role"):
        mine = render.find(ours, kind, OPERATOR)["rules"]
        upstream_rules = rbac.rules_of(theirs, kind, OPERATOR)
        lacking += [f"{kind}/{OPERATOR}: {a}" for a in rbac.missing(mine, upstream_rules)]
        broader += [
            Finding(f"{kind}/{OPERATOR}", str(a), release) for a in rbac.broader(mine, upstream_rules)
        ]
    admin = up.release_object(release, "ClusterRole", "kubevirt.io:operator")["rules"]
    mine = render.find(ours, "ClusterRole", "kubevirt.io:operator")["rules"]
    lacking += [f"ClusterRole/kubevirt.io:operator: {a}" for a in rbac.missing(mine, admin)]
    broader += [
        Finding("ClusterRole/kubevirt.io:operator", str(a), release) for a in rbac.broader(mine, admin)
    ]
    return lacking, broader


@pytest.mark.parametrize("release", RELEASES)
def test_operator_rbac_lacks_nothing_upstream_holds(release: str) -> None:
    lacking, _ = _rbac_findings(release)
    assert lacking == []


@pytest.mark.parametrize("release", RELEASES)
def test_operator_rbac_is_no_broader_than_upstream(release: str) -> None:
    _, broader = _rbac_findings(release)
    assert unexplained(broader) == []


@pytest.mark.parametrize("release", RELEASES)
def test_operator_can_grant_what_its_components_need(release: str) -> None:
    """The escalation rule: virt-operator creates roles for virt-api, virt-controller, virt-handler,
    the export proxy, the synchronization controller and the aggregated cluster roles, and may
    grant only what it holds. Upstream's generator appends exactly that union to the operator's
    ClusterRole (cluster-wide rules) and Role (namespaced rules); the generated file is checked to
    still be built that way, and ours must cover all of it."""
    source = up.generator_source(release)
    assert "getKubeVirtComponentsClusterRules()..." in source, (
        "operator ClusterRole no longer carries the union"
    )
    assert "getKubeVirtComponentsRules()..." in source, "operator Role no longer carries the union"
    ours = rendered(release)
    held = render.find(ours, "ClusterRole", OPERATOR)["rules"] + render.find(ours, "Role", OPERATOR)["rules"]
    theirs = up.rbac(release)
    union = rbac.rules_of(theirs, "ClusterRole", OPERATOR) + rbac.rules_of(theirs, "Role", OPERATOR)
    assert [str(a) for a in rbac.missing(held, union)] == []


@pytest.mark.parametrize("release", RELEASES)
def test_service_account_and_bindings_match_upstream(release: str) -> None:
    ours = rendered(release)
    theirs = up.rbac(release)
    for kind in ("ClusterRoleBinding", "RoleBinding"):
        upstream_binding = next(d for d in theirs if d["kind"] == kind)
        name = upstream_binding["metadata"]["name"]
        mine = render.find(ours, kind, name)
        assert mine["roleRef"] == upstream_binding["roleRef"], kind
        assert mine["subjects"] == upstream_binding["subjects"], kind
    render.find(ours, "ServiceAccount", OPERATOR)


# ---------------------------------------------------------------------------- workload objects


def _named(items: list[Any]) -> dict[str, Any] | None:
    keys = ("name", "mountPath", "containerPort")
    if items and all(isinstance(i, dict) for i in items):
        for key in keys:
            if all(key in i for i in items):
                return {str(i[key]): i for i in items}
    return None


def differences(ours: Any, theirs: Any, path: str = "") -> tuple[list[str], list[str]]:
    """(paths upstream sets that ours lacks or sets differently, paths only ours sets)."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        lacking: list[str] = []
        extra: list[str] = []
        for key in theirs:
            if key not in ours:
                lacking.append(f"{path}.{key}")
            else:
                sub_lacking, sub_extra = differences(ours[key], theirs[key], f"{path}.{key}")
                lacking += sub_lacking
                extra += sub_extra
        extra += [f"{path}.{key}" for key in ours if key not in theirs]
        return lacking, extra
    if isinstance(ours, list) and isinstance(theirs, list):
        mine, upstream_items = _named(ours), _named(theirs)
        if mine is not None and upstream_items is not None:
            return differences(mine, upstream_items, path)
    if ours != theirs:
        return [f"{path} = {theirs!r} (ours {ours!r})"], []
    return [], []


def _api_defaults(spec: dict[str, Any]) -> dict[str, Any]:
    """Fields the API server fills in and the component writes out (to keep applies no-ops)."""
    spec = copy.deepcopy(spec)
    for container in spec["template"]["spec"]["containers"]:
        for env in container.get("env", []):
            field_ref = (env.get("valueFrom") or {}).get("fieldRef")
            if field_ref is not None:
                field_ref.setdefault("apiVersion", "v1")
    return spec


@pytest.mark.parametrize("release", RELEASES)
def test_deployment_matches_upstream(release: str) -> None:
    mine = render.find(rendered(release), "Deployment", "virt-operator")
    lacking, extra = differences(mine["spec"], _api_defaults(up.deployment_spec(release)), "spec")
    assert lacking == []
    assert unexplained([Finding("Deployment/virt-operator", p, release) for p in extra]) == []


def _lacking_labels(ours: dict[str, str], theirs: dict[str, str]) -> dict[str, str]:
    """Upstream's labels ours lacks; ours adds only the operator's own bookkeeping labels."""
    return {k: v for k, v in theirs.items() if ours.get(k) != v}


@pytest.mark.parametrize("release", RELEASES)
def test_namespace_and_priority_class_match_upstream(release: str) -> None:
    ours = rendered(release)
    theirs = up.release_object(release, "PriorityClass", "kubevirt-cluster-critical")
    mine = render.find(ours, "PriorityClass", "kubevirt-cluster-critical")
    assert (mine["value"], mine["description"]) == (theirs["value"], theirs["description"])
    assert not theirs.get("globalDefault")
    namespace = up.release_object(release, "Namespace", up.NAMESPACE)
    labels = render.find(ours, "Namespace", up.NAMESPACE)["metadata"]["labels"]
    assert _lacking_labels(labels, namespace["metadata"]["labels"]) == {}


# ------------------------------------------------------------------------------ CRD and the CR


def _versions(crd: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in crd["spec"]["versions"]}


@pytest.mark.parametrize("release", RELEASES)
def test_crd_matches_upstream_outside_the_schema(release: str) -> None:
    mine = render.find(rendered(release), "CustomResourceDefinition", "kubevirts.kubevirt.io")
    theirs = up.crd(release)
    names = {"listKind": f"{theirs['spec']['names']['kind']}List", **theirs["spec"]["names"]}  # API default
    assert mine["spec"]["names"] == names
    assert mine["spec"]["scope"] == theirs["spec"]["scope"]
    assert mine["spec"]["group"] == theirs["spec"]["group"]
    assert _lacking_labels(mine["metadata"]["labels"], theirs["metadata"]["labels"]) == {}
    assert set(_versions(mine)) == set(_versions(theirs))
    for name, upstream_version in _versions(theirs).items():
        ours = {k: v for k, v in _versions(mine)[name].items() if k != "schema"}
        assert ours == {k: v for k, v in upstream_version.items() if k != "schema"}, name


@pytest.mark.parametrize("release", RELEASES)
def test_crd_schema_is_real_and_agrees_with_upstream(release: str) -> None:
    """Our CRD declares the fields we write, typed as upstream types them, and keeps the rest."""
    mine = _versions(render.find(rendered(release), "CustomResourceDefinition", "kubevirts.kubevirt.io"))
    for name, upstream_version in _versions(up.crd(release)).items():
        ours = mine[name]["schema"]["openAPIV3Schema"]
        assert "spec" in (ours.get("properties") or {}), f"{name}: the schema declares no spec fields"
        theirs = upstream_version["schema"]["openAPIV3Schema"]
        assert schema.incompatibilities(ours, theirs) == [], name


@pytest.mark.parametrize("profile", ["default", "full"])
@pytest.mark.parametrize("release", RELEASES)
def test_kubevirt_cr_decodes_strictly_with_upstream_schema(release: str, profile: str) -> None:
    objects = rendered(release, FULL if profile == "full" else None)
    cr = render.find(objects, "KubeVirt", "kubevirt")
    theirs = _versions(up.crd(release))["v1"]["schema"]["openAPIV3Schema"]
    assert schema.violations(cr, theirs) == []
    ours = _versions(render.find(objects, "CustomResourceDefinition", "kubevirts.kubevirt.io"))["v1"]
    assert schema.violations(cr, ours["schema"]["openAPIV3Schema"]) == []


@pytest.mark.parametrize("release", RELEASES)
def test_config_field_table_matches_upstream(release: str) -> None:
    """`api.kubevirtfields` says from which release each optional setting's CR field exists;
    upstream's own CRD schema at every proven release agrees."""
    theirs = _versions(up.crd(release))["v1"]["schema"]["openAPIV3Schema"]
    for field in kubevirtfields.FIELDS:
        node = theirs["properties"]["spec"]
        present = True
        for key in field.path:
            node = (node.get("properties") or {}).get(key)
            if node is None:
                present = False
                break
        assert present == kubevirtfields.has(field, release), f"{field.cr_path} at {release}"


@pytest.mark.parametrize("release", RELEASES)
def test_a_misspelled_field_is_caught(release: str) -> None:
    cr = copy.deepcopy(render.find(rendered(release), "KubeVirt", "kubevirt"))
    cr["spec"]["configuration"]["developerConfiguration"]["featureGate"] = ["Snapshot"]
    cr["spec"]["imageTag"] = 1
    theirs = _versions(up.crd(release))["v1"]["schema"]["openAPIV3Schema"]
    found = schema.violations(cr, theirs)
    assert any("featureGate: unknown field" in v for v in found)
    assert any(".spec.imageTag" in v for v in found)


# ------------------------------------------------------------------------------- feature gates

_PHASES = {"Alpha": "Alpha", "Beta": "Beta", "GA": "GA", "General Availability": "GA"}


@pytest.mark.parametrize("release", RELEASES)
def test_feature_gate_table_matches_upstream(release: str) -> None:
    version = featuregates.minor_version(release)
    theirs = up.gate_states(release)
    wrong: list[str] = []
    for gate, state in sorted(theirs.items()):
        stage = featuregates.phase_at(gate, version)
        ours = stage.phase.value if stage else "unknown"
        if state == up.UNREGISTERED:
            if ours not in ("Alpha", "Beta"):
                wrong.append(f"{gate}: upstream off unless listed, ours {ours}")
        elif _PHASES.get(state, state) != ours:
            wrong.append(f"{gate}: upstream {state}, ours {ours}")
    for gate in sorted(featuregates.GATES):
        if gate not in theirs and featuregates.phase_at(gate, version) is not None:
            wrong.append(f"{gate}: upstream does not know it, ours {featuregates.phase_at(gate, version)}")
    assert wrong == []


@pytest.mark.parametrize("release", RELEASES)
def test_feature_gate_semantics_match_upstream(release: str) -> None:
    """disabledFeatureGates exists, and unlisted Beta gates are on, from the versions the resolver assumes."""
    version = featuregates.minor_version(release)
    developer = _versions(up.crd(release))["v1"]["schema"]["openAPIV3Schema"]["properties"]["spec"][
        "properties"
    ]["configuration"]["properties"]["developerConfiguration"]["properties"]
    assert ("disabledFeatureGates" in developer) == (version >= featuregates.DISABLED_GATES_SINCE)
    assert up.beta_on_by_default(release) == (version >= featuregates.BETA_ON_BY_DEFAULT_SINCE)


@pytest.mark.parametrize("release", RELEASES)
def test_removing_an_on_by_default_gate_reaches_disabled_feature_gates(release: str) -> None:
    """Where unlisted Beta gates are on, removing one must list it in disabledFeatureGates;
    before that, leaving it out is enough and nothing is written."""
    beta = sorted(g for g, s in up.gate_states(release).items() if s == "Beta")
    resolution = featuregates.resolve(release, remove=beta)
    if up.beta_on_by_default(release):
        # DeclarativeHotplugVolumes stays on: the default HotplugVolumes translates to it.
        assert set(beta) - {"DeclarativeHotplugVolumes"} <= set(resolution.disabled)
    else:
        assert set(beta) & set(resolution.disabled) == set()
        assert set(beta) & set(resolution.enabled) <= {"DeclarativeHotplugVolumes"}


# -------------------------------------------------------------------------------------- allowlist


def test_allowlist_has_no_stale_entries() -> None:
    findings: list[Finding] = []
    for release in RELEASES:
        findings += _rbac_findings(release)[1]
        mine = render.find(rendered(release), "Deployment", "virt-operator")
        _, extra = differences(mine["spec"], _api_defaults(up.deployment_spec(release)), "spec")
        findings += [Finding("Deployment/virt-operator", p, release) for p in extra]
    stale = [e for e in _allowlist() if not any(_allowed(f, e) for f in findings)]
    assert stale == []
