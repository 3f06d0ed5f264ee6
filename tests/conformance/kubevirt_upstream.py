"""KubeVirt's facts at one release, read from its module: virt-operator's manifests and its gates.

- `manifests/generated/rbac-operator.authorization.k8s.yaml.in`: virt-operator's ServiceAccount,
  Role, ClusterRole and bindings. Upstream generates it from
  `pkg/virt-operator/resource/generate/rbac/operator.go`, which appends the rules of every
  component virt-operator deploys (the escalation union) to the operator's own.
- `manifests/release/kubevirt-operator.yaml.in`: namespace, priority class, the aggregated
  `kubevirt.io:operator` role; its Deployment spec is a template filled from Go code, the same
  function (`NewOperatorDeployment`) that renders the deployment in
  `manifests/generated/operator-csv.yaml.in`, so the suite reads it from there.
- `manifests/generated/kv-resource.yaml`: the KubeVirt CRD with its OpenAPI schema.
- `pkg/virt-config/featuregate/*.go` (v1.5+) or `pkg/virt-config/{feature-gates.go,deprecation}`
  (v1.4): the gate names and the state each is registered with.
"""

from __future__ import annotations

import copy
import functools
import re
from pathlib import Path
from typing import Any

import yaml

from tests.conformance import upstream

NAMESPACE = "kubevirt"
# The values a release manifest is rendered with; the tests render the profile the same way.
REGISTRY = "quay.io/kubevirt"
VERBOSITY = '"2"'  # quoted: it fills a YAML list item that must stay a string
PULL_POLICY = "IfNotPresent"


def root(version: str) -> Path:
    return upstream.module_dir(upstream.KUBEVIRT, version)


# ------------------------------------------------------------------------------------ manifests

_IF_ELSE = re.compile(r"{{-?\s*if\s+\.(\w+)\s*-?}}(.*?)(?:{{-?\s*else\s*-?}}(.*?))?{{-?\s*end\s*-?}}", re.S)


def _conditionals(text: str, values: dict[str, str]) -> str:
    """`{{if .X}}a{{else}}b{{end}}`: a when X has a value, else b (else "")."""

    def choose(match: re.Match[str]) -> str:
        return match.group(2) if values.get(match.group(1)) else (match.group(3) or "")

    return _IF_ELSE.sub(choose, text)


def documents(version: str, relative: str) -> list[dict[str, Any]]:
    values = {
        "Namespace": NAMESPACE,
        "DockerPrefix": REGISTRY,
        "DockerTag": version,
        "Verbosity": VERBOSITY,
        "ImagePullPolicy": PULL_POLICY,
    }
    path = root(version) / relative
    text = _conditionals(path.read_text(), values)
    text = upstream.render_template(text, values)
    return [doc for doc in yaml.safe_load_all(text) if isinstance(doc, dict)]


@functools.cache
def rbac(version: str) -> list[dict[str, Any]]:
    return documents(version, "manifests/generated/rbac-operator.authorization.k8s.yaml.in")


_EMBEDDED = re.compile(r"^{{(index |\.OperatorDeploymentSpec).*}}$", re.M)


def release_object(version: str, kind: str, name: str) -> dict[str, Any]:
    # The release file embeds other generated files and a Deployment spec template; only the
    # literal objects before them are read, one document at a time.
    text = (root(version) / "manifests/release/kubevirt-operator.yaml.in").read_text()
    text = _EMBEDDED.sub("", text)
    for chunk in text.split("\n---"):
        if f"kind: {kind}" not in chunk:
            continue
        doc = yaml.safe_load(upstream.render_template(chunk, {"Namespace": NAMESPACE}))
        if isinstance(doc, dict) and doc.get("kind") == kind and doc["metadata"]["name"] == name:
            return doc
    raise LookupError(f"kubevirt-operator.yaml.in of {version} has no {kind} {name}")


@functools.cache
def _deployment_spec(version: str) -> dict[str, Any]:
    """virt-operator's Deployment spec as `NewOperatorDeployment` renders it for a tagged release."""
    csv = documents(version, "manifests/generated/operator-csv.yaml.in")[0]
    deployment = csv["spec"]["install"]["spec"]["deployments"][0]
    spec: dict[str, Any] = deployment["spec"]
    for container in spec["template"]["spec"]["containers"]:
        # Image digests (…_SHASUM) are set only for releases pinned by digest; a tag has none.
        container["env"] = [e for e in container.get("env", []) if e.get("value") or e.get("valueFrom")]
    return spec


def deployment_spec(version: str) -> dict[str, Any]:
    """virt-operator's Deployment spec as `NewOperatorDeployment` renders it for a tagged release."""
    return copy.deepcopy(_deployment_spec(version))


@functools.cache
def _crd(version: str) -> dict[str, Any]:
    docs = upstream.yaml_documents(root(version) / "manifests/generated/kv-resource.yaml")
    return upstream.find(docs, "CustomResourceDefinition", "kubevirts.kubevirt.io")


def crd(version: str) -> dict[str, Any]:
    return copy.deepcopy(_crd(version))


def generator_source(version: str) -> str:
    return (root(version) / "pkg/virt-operator/resource/generate/rbac/operator.go").read_text()


# ---------------------------------------------------------------------------------- feature gates

_CONST = re.compile(r'^\s*(\w+)\s*(?:\w+\s*)?=\s*"([^"]*)"', re.M)
_REGISTER = re.compile(
    r"RegisterFeatureGate\(\s*FeatureGate\{\s*Name:\s*(\w+|\"[^\"]*\")\s*,\s*State:\s*(\w+)"
)
_GATE_NAME = re.compile(r"[A-Z][A-Za-z0-9]+")
_STATES = {"Alpha", "Beta", "GA", "Deprecated", "Discontinued"}  # the State constants themselves
# A gate declared without a registered state: off unless listed (Alpha or Beta alike then).
UNREGISTERED = "Unregistered"


def _go_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*.go") if not p.name.endswith("_test.go"))


def gate_package(version: str) -> Path:
    config = root(version) / "pkg/virt-config"
    for name in ("featuregate", "deprecation"):
        if (config / name).is_dir():
            return config / name
    raise upstream.UpstreamUnavailableError(f"kubevirt {version}: no feature-gate package found")


@functools.cache
def gate_states(version: str) -> dict[str, str]:
    """Gate name -> registered state ("Alpha", "Beta", "GA", "Deprecated", "Discontinued")."""
    config = root(version) / "pkg/virt-config"
    files = _go_files(gate_package(version))
    legacy = config / "feature-gates.go"
    constants: dict[str, str] = {}
    for path in [*files, legacy]:
        constants.update(dict(_CONST.findall(path.read_text())))
    states: dict[str, str] = {}
    for path in files:
        for ident, state in _REGISTER.findall(path.read_text()):
            name = ident.strip('"') if ident.startswith('"') else constants[ident]
            states[name] = state
    if not registration_required(version):
        # Before v1.9 a listed gate is on whether or not it is registered: v1.4 declares most
        # gates in virt-config without a state, later releases declare a few before registering.
        for path in [*files, legacy]:
            for block in re.findall(r"\nconst \((.*?)\n\)", path.read_text(), re.S):
                for _ident, name in _CONST.findall(block):
                    if _GATE_NAME.fullmatch(name) and name not in _STATES:
                        states.setdefault(name, UNREGISTERED)
    if not states:
        raise upstream.UpstreamUnavailableError(f"kubevirt {version}: no feature gates found")
    return states


def registration_required(version: str) -> bool:
    """Whether a gate must be registered to be enabled at all (`IsEnabled`: unknown -> false)."""
    source = (gate_package(version) / "feature-gates.go").read_text()
    return re.search(r"fg\s*==\s*nil\s*\{\s*return\s+false", source) is not None


def beta_on_by_default(version: str) -> bool:
    """Whether an unlisted Beta gate counts as enabled (`IsEnabled` falls back to `State == Beta`)."""
    source = (gate_package(version) / "feature-gates.go").read_text()
    return re.search(r"return\s+fg\.State\s*==\s*Beta", source) is not None
