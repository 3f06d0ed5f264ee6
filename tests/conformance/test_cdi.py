"""CDI conformance: what the cdi component renders, checked against CDI's own source per release.

CDI generates its operator's RBAC, the roles of the components the operator deploys, the
operator Deployment and the CDI CRD in Go (`pkg/operator/resources/`); the suite reads those facts
from the module cache at every proven release (`versions.CDI.proven`). It fails when cdi-operator
would lack a permission upstream's holds (including, by the escalation rule, any permission of a
role cdi-operator itself creates), when anything rendered is broader or shaped differently
without a reviewed entry in `allowlist/cdi.yaml`, and when the rendered CDI CR does not conform to
upstream's CRD schema with unknown fields rejected.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conformance import allowlists, gosource, rbac, render, schema, upstream
from vmo_operator.api import versions

RELEASES = [pytest.param(release, id=release) for release in versions.CDI.proven.values()]
ALLOWLIST = allowlists.load("cdi")
NAMESPACE = "cdi"
CLUSTER_ROLE = ("ClusterRole", "cdi-operator-cluster")
ROLE = ("Role", "cdi-operator")
DEPLOYMENT = ("Deployment", "cdi-operator")
CRD = ("CustomResourceDefinition", "cdis.cdi.kubevirt.io")
# A profile that sets every CDI field the project renders into the CDI CR.
FULL_CDI: dict[str, Any] = {
    "uploadProxyURLOverride": "https://cdi-uploadproxy.example.com",
    "scratchSpaceStorageClass": "local-path",
    "filesystemOverhead": {"global": "0.08", "storageClass": {"ceph-block": "0.1"}},
    "featureGates": ["HonorWaitForFirstConsumer", "DataVolumeClaimAdoption"],
    "infra": {
        "nodeSelector": {"node-role.kubernetes.io/infra": ""},
        "tolerations": [{"key": "infra", "operator": "Exists", "effect": "NoSchedule"}],
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}
                    ]
                }
            }
        },
    },
    "workloads": {"nodeSelector": {"kubernetes.io/os": "linux"}},
    "insecureRegistries": ["registry.lab:5000", "10.0.0.5"],
    "importProxy": {
        "httpProxy": "http://proxy.lab:3128",
        "httpsProxy": "http://proxy.lab:3128",
        "noProxy": ".cluster.local,10.0.0.0/8",
        "trustedCAConfigMap": "private-ca",
    },
    "importerResources": {
        "requests": {"cpu": "500m", "memory": "600M"},
        "limits": {"cpu": "2", "memory": "2Gi"},
    },
}

Rules = list[dict[str, Any]]
Differences = dict[tuple[str, str, str], str]


@dataclass(frozen=True)
class Upstream:
    """CDI's facts at one release, read from its source."""

    operator_cluster_rules: Rules  # cdi-operator's ClusterRole
    operator_role_rules: Rules  # cdi-operator's Role in its namespace
    granted_cluster_rules: Rules  # every rule of a ClusterRole cdi-operator creates
    granted_namespaced_rules: Rules  # every rule of a Role cdi-operator creates
    crd: dict[str, Any]
    deployment: dict[str, Any]


def _operator_deployment(root: Path) -> dict[str, Any]:
    """The operator Deployment's facts: ports, probes, env, security context, placement, labels."""
    operator = root / "pkg/operator/resources/operator"
    utils = root / "pkg/operator/resources/utils"
    common = gosource.constants(root / "pkg/common")
    create = gosource.function_source(operator, "createOperatorDeployment")

    ports_function = re.search(r"CreatePortsContainer\([^\n]*?(\w+)\(\)\)", create)
    if ports_function is None:
        raise gosource.GoSourceError("createOperatorDeployment: no ports function")
    ports = [
        {"name": name, "containerPort": int(port), "protocol": protocol}
        for name, port, protocol in re.findall(
            r'Name:\s*"([^"]+)",\s*ContainerPort:\s*(\d+),\s*Protocol:\s*"(\w+)"',
            gosource.function_source(operator, ports_function.group(1)),
        )
    ]
    probes: dict[str, Any] = {}
    for field, body in re.findall(r"container\.(\w+Probe) = &corev1\.Probe\{(.*?)\n\t\}", create, re.DOTALL):
        handler = {
            "scheme": _one(r"URIScheme(\w+)", body).upper(),
            "port": int(_one(r"IntVal:\s*(\d+)", body)),
            "path": _one(r'Path:\s*"([^"]+)"', body),
        }
        probes[field[0].lower() + field[1:]] = {
            "httpGet": handler,
            "initialDelaySeconds": int(_one(r"InitialDelaySeconds:\s*(\d+)", body)),
            "timeoutSeconds": int(_one(r"TimeoutSeconds:\s*(\d+)", body)),
        }
    requests = {
        "cpu": _one(r'ResourceCPU:\s*resource\.MustParse\("([^"]+)"\)', create),
        "memory": _one(r'ResourceMemory:\s*resource\.MustParse\("([^"]+)"\)', create),
    }
    env = re.findall(r'Name:\s*"([A-Z_]+)"', gosource.function_source(operator, "createOperatorEnvVar"))

    container = gosource.function_source(utils, "CreatePortsContainer")
    policy = _one(r"corev1\.TerminationMessage(ReadFile|FallbackToLogsOnError)\b", container)
    security = {
        "allowPrivilegeEscalation": _one(r"AllowPrivilegeEscalation:\s*ptr\.To\[bool\]\((\w+)\)", container)
        == "true",
        "capabilities": {"drop": re.findall(r'Drop:\s*\[\]corev1\.Capability\{\s*"(\w+)"', container)},
        "runAsNonRoot": _one(r"RunAsNonRoot:\s*ptr\.To\[bool\]\((\w+)\)", container) == "true",
        "seccompProfile": {"type": _one(r"SeccompProfileType(\w+)", container)},
    }

    pod = gosource.function_source(utils, "CreateOperatorDeployment")
    selector = dict(re.findall(r'NodeSelector:\s*map\[string\]string\{"([^"]+)":\s*"([^"]*)"\}', pod))
    tolerations = [
        {"key": key, "operator": operator_}
        for key, operator_ in re.findall(r'Key:\s*"([^"]+)",\s*Operator:\s*corev1\.TolerationOp(\w+)', pod)
    ]
    labels: dict[str, str] = {}
    merged = re.search(
        r"MergeLabels\(deployment\.Spec\.Template\.GetLabels\(\), map\[string\]string\{(.*?)\}\)",
        pod,
        re.DOTALL,
    )
    if merged is None:
        raise gosource.GoSourceError("CreateOperatorDeployment: no pod labels")
    for key, value in re.findall(r"common\.(\w+):\s*(common\.\w+|\"[^\"]*\")", merged.group(1)):
        labels[common[key]] = value.strip('"') if value.startswith('"') else common[value.split(".", 1)[1]]
    affinity_kind = _one(r"Affinity:\s*&corev1\.Affinity\{\s*(\w+):", pod)
    term_key = _one(r'Key:\s*"([^"]+)",\s*Operator:\s*metav1\.LabelSelectorOpIn', pod)
    affinity = {
        affinity_kind[0].lower() + affinity_kind[1:]: {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": int(_one(r"Weight:\s*int32\((\d+)\)", pod)),
                    "podAffinityTerm": {
                        "labelSelector": {
                            "matchExpressions": [
                                {"key": term_key, "operator": "In", "values": ["cdi-operator"]}
                            ]
                        },
                        "topologyKey": _one(r'TopologyKey:\s*"([^"]+)"', pod),
                    },
                }
            ]
        }
    }
    if not (ports and env and selector):
        raise gosource.GoSourceError("cdi-operator Deployment: ports, env or node selector not found")
    return {
        "ports": ports,
        "probes": probes,
        "requests": requests,
        "env": sorted(env),
        "terminationMessagePolicy": "File" if policy == "ReadFile" else policy,
        "securityContext": security,
        "podSecurityContext": {"runAsNonRoot": "RunAsNonRoot: &[]bool{true}[0]" in pod},
        "nodeSelector": selector,
        "tolerations": tolerations,
        "labels": labels,
        "affinity": affinity,
    }


def _one(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    if match is None:
        raise gosource.GoSourceError(f"upstream source has no {pattern!r}")
    return match.group(1)


def _flatten(literals: list[list[dict[str, list[str]]]]) -> Rules:
    return [dict(rule) for rules in literals for rule in rules]


@functools.cache
def facts(release: str) -> Upstream:
    root = upstream.module_dir(upstream.CDI, release)
    resources = root / "pkg/operator/resources"
    operator = resources / "operator"
    crd_text = gosource.string_map_entry(resources / "crds_generated.go", "CDICRDs", "cdi")
    return Upstream(
        operator_cluster_rules=[
            dict(r) for r in gosource.policy_rules(operator, "getClusterPolicyRules", root)
        ],
        operator_role_rules=[
            dict(r) for r in gosource.policy_rules(operator, "getNamespacedPolicyRules", root)
        ],
        granted_cluster_rules=_flatten(gosource.rule_literals(resources / "cluster")),
        granted_namespaced_rules=_flatten(gosource.rule_literals(resources / "namespaced")),
        crd=yaml.safe_load(crd_text),
        deployment=_operator_deployment(root),
    )


def ours(release: str, cdi: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    return render.rendered("cdi", {"cdi": {"version": release, **(cdi or {})}})


def _rules(objects: list[dict[str, Any]], kind: str, name: str) -> Rules:
    return list(render.find(objects, kind, name).get("rules") or [])


# ------------------------------------------------------------------------------------------ differences


def rbac_broader(release: str) -> Differences:
    """Atoms of cdi-operator's roles that upstream's roles do not grant."""
    up, objects = facts(release), ours(release)
    found: Differences = {}
    for (kind, name), theirs in ((CLUSTER_ROLE, up.operator_cluster_rules), (ROLE, up.operator_role_rules)):
        for atom in rbac.broader(_rules(objects, kind, name), theirs):
            found[(kind, name, str(atom))] = "not granted by upstream's role"
    return found


def _differ(found: Differences, key: tuple[str, str], field: str, rendered: Any, theirs: Any) -> None:
    if rendered != theirs:
        found[(key[0], key[1], field)] = f"rendered {rendered!r}, upstream {theirs!r}"


def deployment_differences(release: str) -> Differences:
    up = facts(release).deployment
    deployment = render.find(ours(release), *DEPLOYMENT)
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    found: Differences = {}
    _differ(found, DEPLOYMENT, "ports", container.get("ports"), up["ports"])
    for probe in ("livenessProbe", "readinessProbe"):
        _differ(found, DEPLOYMENT, probe, container.get(probe), up["probes"].get(probe))
    _differ(found, DEPLOYMENT, "resources.requests", container["resources"].get("requests"), up["requests"])
    _differ(found, DEPLOYMENT, "env", sorted(e["name"] for e in container["env"]), up["env"])
    _differ(
        found,
        DEPLOYMENT,
        "terminationMessagePolicy",
        container.get("terminationMessagePolicy", "File"),
        up["terminationMessagePolicy"],
    )
    _differ(found, DEPLOYMENT, "securityContext", container.get("securityContext"), up["securityContext"])
    _differ(found, DEPLOYMENT, "pod securityContext", pod.get("securityContext"), up["podSecurityContext"])
    _differ(found, DEPLOYMENT, "nodeSelector", pod.get("nodeSelector"), up["nodeSelector"])
    _differ(found, DEPLOYMENT, "tolerations", pod.get("tolerations"), up["tolerations"] or None)
    _differ(found, DEPLOYMENT, "affinity", pod.get("affinity"), up["affinity"])
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    lacking = {k: v for k, v in up["labels"].items() if labels.get(k) != v}
    if lacking:
        found[(*DEPLOYMENT, "pod labels")] = f"lacks upstream's {lacking}"
    return found


def crd_differences(release: str) -> Differences:
    theirs = facts(release).crd
    rendered = render.find(ours(release), *CRD)
    found: Differences = {}
    _differ(found, CRD, "group", rendered["spec"]["group"], theirs["spec"]["group"])
    _differ(found, CRD, "scope", rendered["spec"]["scope"], theirs["spec"]["scope"])
    _differ(found, CRD, "names", rendered["spec"]["names"], theirs["spec"]["names"])
    rendered_versions = {v["name"]: v for v in rendered["spec"]["versions"]}
    for version in theirs["spec"]["versions"]:
        name = version["name"]
        mine = rendered_versions.pop(name, None)
        if mine is None:
            found[(*CRD, f"versions[{name}]")] = "not served"
            continue
        for field in ("served", "storage", "deprecated"):
            _differ(found, CRD, f"versions[{name}].{field}", mine.get(field), version.get(field))
        _differ(
            found,
            CRD,
            f"versions[{name}].subresources",
            mine.get("subresources") or {},
            version.get("subresources") or {},
        )
        _differ(
            found,
            CRD,
            f"versions[{name}].additionalPrinterColumns",
            mine.get("additionalPrinterColumns"),
            version.get("additionalPrinterColumns"),
        )
        if mine["schema"]["openAPIV3Schema"] != version["schema"]["openAPIV3Schema"]:
            found[(*CRD, f"versions[{name}].schema")] = "differs from upstream's generated schema"
    for name in rendered_versions:
        found[(*CRD, f"versions[{name}]")] = "served here, not upstream"
    return found


def all_differences(release: str) -> Differences:
    return {**rbac_broader(release), **deployment_differences(release), **crd_differences(release)}


def _unexcused(found: Differences, release: str) -> list[str]:
    keys = set(allowlists.unexcused(set(found), ALLOWLIST, release))
    return sorted(
        f"{k[0]}/{k[1]}: {k[2]} ({v})" for k, v in found.items() if f"{k[0]}/{k[1]}: {k[2]}" in keys
    )


# ---------------------------------------------------------------------------------------------- checks


@pytest.mark.parametrize("release", RELEASES)
def test_operator_cluster_role_holds_upstream_rules(release: str) -> None:
    lacking = rbac.missing(_rules(ours(release), *CLUSTER_ROLE), facts(release).operator_cluster_rules)
    assert not lacking, f"cdi-operator's ClusterRole lacks upstream's {[str(a) for a in lacking]}"


@pytest.mark.parametrize("release", RELEASES)
def test_operator_role_holds_upstream_rules(release: str) -> None:
    lacking = rbac.missing(_rules(ours(release), *ROLE), facts(release).operator_role_rules)
    assert not lacking, f"cdi-operator's Role lacks upstream's {[str(a) for a in lacking]}"


@pytest.mark.parametrize("release", RELEASES)
def test_operator_holds_every_rule_it_grants(release: str) -> None:
    """The escalation rule: cdi-operator may only create roles whose every permission it holds."""
    objects, up = ours(release), facts(release)
    cluster = _rules(objects, *CLUSTER_ROLE)
    in_namespace = cluster + _rules(objects, *ROLE)
    lacking = [f"ClusterRole: {a}" for a in rbac.missing(cluster, up.granted_cluster_rules)]
    lacking += [f"Role in {NAMESPACE}: {a}" for a in rbac.missing(in_namespace, up.granted_namespaced_rules)]
    assert not lacking, f"cdi-operator cannot create the roles of its components; it lacks {lacking}"


@pytest.mark.parametrize("release", RELEASES)
def test_operator_rbac_no_broader_than_upstream(release: str) -> None:
    found = _unexcused(rbac_broader(release), release)
    assert not found, "\n".join(found)


@pytest.mark.parametrize("release", RELEASES)
def test_operator_deployment_matches_upstream(release: str) -> None:
    found = _unexcused(deployment_differences(release), release)
    assert not found, "\n".join(found)


@pytest.mark.parametrize("release", RELEASES)
def test_cdi_crd_matches_upstream(release: str) -> None:
    found = _unexcused(crd_differences(release), release)
    assert not found, "\n".join(found)


@pytest.mark.parametrize("cdi", [pytest.param({}, id="default"), pytest.param(FULL_CDI, id="full")])
@pytest.mark.parametrize("release", RELEASES)
def test_cdi_cr_conforms_to_upstream_schema(release: str, cdi: dict[str, Any]) -> None:
    cr = render.find(ours(release, cdi), "CDI", "cdi")
    group, _, version = cr["apiVersion"].partition("/")
    crd = facts(release).crd
    assert group == crd["spec"]["group"]
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version and v["served"]]
    wrong = schema.violations(cr, served["schema"]["openAPIV3Schema"])
    assert not wrong, f"the CDI CR does not conform to upstream's {version} schema: {wrong}"


@pytest.mark.parametrize("release", RELEASES)
def test_allowlist_has_no_stale_entries(release: str) -> None:
    stale = allowlists.stale(set(all_differences(release)), ALLOWLIST, release)
    assert not stale, f"allowlist/cdi.yaml entries that match nothing: {stale}"


def test_allowlist_names_only_proven_minors() -> None:
    proven = {allowlists.minor_of(release) for release in versions.CDI.proven.values()}
    assert not [e for e in ALLOWLIST if not set(e.versions) <= proven]
