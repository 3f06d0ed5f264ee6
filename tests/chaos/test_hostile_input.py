"""Oversized and hostile values: huge lists, long names, unicode, YAML aliases, broken files.

`vmo render -f` must answer every one with output or a one-line error (exit 1), never a traceback
or a hang. The API server must reject what the schema forbids naming the field; what it accepts
must leave the running operator alive and the profile's conditions telling what went wrong; the
MAC webhook must admit or refuse odd VMs with a reason, never a server error.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.chaos.harness import (
    PROFILE_NAME,
    ChaosCluster,
    Workloads,
    assert_converged,
    base_spec,
    ensure_namespace,
    mac_problems,
    put_profile,
)
from tests.support.kube import PROFILE, condition, get_profile, manifest, status_body
from tests.support.vms import VM_API
from vmo_operator.macpool import mac as macs

pytestmark = pytest.mark.integration

VMO = Path(sys.executable).with_name("vmo")
VM_NAMESPACE = "hostile-vms"
HEADER = "apiVersion: vmo.dev/v1alpha1\nkind: VMOProfile\nmetadata: {name: vmo}\n"


def _laughs(indent: str, levels: int) -> str:
    lines = [f"{indent}x0: &x0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"{indent}x{i}: &x{i} [" + ", ".join([f"*x{i - 1}"] * 10) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


HOSTILE_FILES: dict[str, bytes] = {
    # 10^9 values once expanded, aimed at `affinity`, which is rendered into every Deployment.
    "alias-bomb-affinity": (
        HEADER + "spec:\n  kubevirt:\n    infra:\n      affinity:\n" + _laughs("        ", 9)
    ).encode(),
    "alias-bomb-unused": (HEADER + _laughs("", 9) + "spec: {}\n").encode(),
    "deep-nesting": (HEADER + "spec: " + "[" * 20000 + "]" * 20000 + "\n").encode(),
    "not-utf8": b"\xff\xfe\x00garbage\x80\x81",
    "bom": ("\ufeff" + HEADER + "spec: {}\n").encode(),
    "huge-network-list": (
        HEADER
        + "spec:\n  multus:\n    networks:\n"
        + "".join(f"      - {{name: n{i}, vlan: {i % 4000 + 1}}}\n" for i in range(20000))
    ).encode(),
    "long-name": HEADER.replace("{name: vmo}", "{name: " + "a" * 5000 + "}").encode() + b"spec: {}\n",
    "long-gate": (HEADER + "spec: {kubevirt: {featureGates: {add: [" + "G" * 100000 + "]}}}\n").encode(),
    "unicode": (HEADER + 'spec: {multus: {networks: [{name: "réseau-😀", vlan: 10}]}}\n').encode(),
    "python-tag": (HEADER + "spec: !!python/object/apply:os.system [echo pwned]\n").encode(),
    "two-documents": (HEADER + "spec: {}\n---\n" + HEADER + "spec: {}\n").encode(),
    "empty": b"",
    "a-list": b"- 1\n- 2\n",
}


@pytest.mark.parametrize("name", sorted(HOSTILE_FILES))
def test_vmo_render_answers_hostile_files_without_a_traceback_or_a_hang(tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(HOSTILE_FILES[name])
    done = subprocess.run(
        [str(VMO), "render", "-f", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.returncode in (0, 1), done.stderr[-2000:]
    if done.returncode == 1:
        assert done.stderr.startswith("error: "), done.stderr[:500]
        assert len(done.stderr) < 20000, "one line per problem, not an echo of the input"
    print(f"\n{name}: exit {done.returncode}: {done.stderr.strip()[:160]}")


def _rejected(api: Any, spec: Any, name: str = "hostile") -> str:
    body = {"apiVersion": "vmo.dev/v1alpha1", "kind": "VMOProfile", "metadata": {"name": name}, "spec": spec}
    with pytest.raises(ApiException) as refused:
        client.CustomObjectsApi(api).create_cluster_custom_object(*PROFILE, body, field_validation="Strict")
    assert refused.value.status in (400, 422), str(refused.value.body)[:500]
    return str(status_body(refused.value)["message"])


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (
            {"multus": {"networks": [{"name": f"n{i}", "vlan": 1 + i % 4000} for i in range(5000)]}},
            "spec.multus.networks",
        ),
        ({"multus": {"networks": [{"name": "n" * 10000, "vlan": 10}]}}, "spec.multus.networks[0].name"),
        ({"multus": {"networks": [{"name": "réseau", "vlan": 10}]}}, "spec.multus.networks[0].name"),
        (
            {"kubevirt": {"featureGates": {"add": [f"Gate{i}" for i in range(10000)]}}},
            "spec.kubevirt.featureGates.add",
        ),
        ({"kubevirt": {"infra": {"nodeSelector": {"zone": "ü" * 70}}}}, "spec.kubevirt.infra.nodeSelector"),
        ({"kubevirt": {"version": "v1.9.0" + "0" * 100}}, "spec.kubevirt.version"),
        ({"macPool": {"clusterId": "\u0000\u202e"}}, "spec.macPool.clusterId"),
    ],
    ids=[
        "5000-networks",
        "10k-char-name",
        "unicode-name",
        "10k-gates",
        "unicode-label",
        "long-version",
        "nul",
    ],
)
def test_the_api_server_rejects_oversized_and_hostile_specs_naming_the_field(
    chaos: ChaosCluster, spec: dict[str, Any], field: str
) -> None:
    message = _rejected(chaos.api, spec)
    assert field in message, message[:1000]


def test_a_long_profile_name_is_rejected_naming_metadata_name(chaos: ChaosCluster) -> None:
    assert "metadata.name" in _rejected(chaos.api, {}, name="a" * 200)


@pytest.fixture(scope="module")
def installed(based: ChaosCluster) -> ChaosCluster:
    """The base profile Available (so the VirtualMachine API and the webhook are there)."""
    ensure_namespace(based.api, VM_NAMESPACE)
    return based


def test_a_hostile_affinity_is_refused_at_admission_and_the_running_profile_is_untouched(
    installed: ChaosCluster, workloads: Workloads
) -> None:
    """`affinity` is the Kubernetes type now: junk there is refused when it is written, naming the
    field, instead of reaching the Deployments and failing at apply."""
    chaos = installed
    spec = base_spec()
    unexpected = chaos.unexpected_errors()
    generation = int((get_profile(chaos.api, PROFILE_NAME) or {})["metadata"]["generation"])
    junk = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": "ünïcødé " * 20000}}
    with pytest.raises(ApiException) as refused:
        put_profile(chaos.api, {**spec, "descheduler": {"infra": {"affinity": junk}}})
    message = status_body(refused.value)["message"]
    assert refused.value.status == 422, message[:500]
    assert (
        "spec.descheduler.infra.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
        in message
    )
    assert len(message) < 100_000, "the refusal must not echo the hostile value in full"
    profile = get_profile(chaos.api, PROFILE_NAME) or {}
    assert int(profile["metadata"]["generation"]) == generation
    assert condition(profile, "Available") is not None
    assert chaos.operator.alive(), chaos.operator.log_tail()
    assert chaos.unexpected_errors() == unexpected
    assert_converged(chaos, spec, workloads)


def _create_vm(api: Any, namespace: str, name: str, interfaces: Any) -> dict[str, Any]:
    body = {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachine",
        "metadata": {"name": name},
        "spec": {"template": {"spec": {"domain": {"devices": {"interfaces": interfaces}}}}},
    }
    created = manifest(
        client.CustomObjectsApi(api).create_namespaced_custom_object(
            *VM_API, namespace, "virtualmachines", body
        )
    )
    return created


@pytest.mark.parametrize(
    "interfaces",
    [
        [{"name": f"nic{i}", "bridge": {}} for i in range(64)],
        ["junk", 42, None, {"name": "real", "bridge": {}}],
        [{"name": "x" * 5000, "bridge": {}}],
        [{"name": "\u202enic\u0000", "bridge": {}, "macAddress": "02:12:34:56:78:9A"}],
        [{"bridge": {}}, {"bridge": {}}],
        {"name": "not-a-list"},
        "interfaces",
    ],
    ids=["64-nics", "non-object-items", "5000-char-name", "control-chars", "no-names", "a-map", "a-string"],
)
def test_the_webhook_admits_or_refuses_odd_vms_with_a_reason(
    installed: ChaosCluster, interfaces: Any
) -> None:
    chaos = installed
    try:
        vm = _create_vm(chaos.api, VM_NAMESPACE, f"odd-{uuid.uuid4().hex[:8]}", interfaces)
    except ApiException as exc:
        status, message = exc.status, status_body(exc).get("message", "")
    else:
        status, message = 201, ""
    if status != 201:
        print(f"\nrefused {status}: {message[:300]}")
        assert 400 <= status < 500, f"{status}: {message[:1000]}"
        assert "interface" in message
        return
    items = vm["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"]
    objects = [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []
    for item in objects:
        assert isinstance(macs.check(str(item.get("macAddress", ""))), macs.Mac), item
    assert mac_problems(chaos.api) == []
    print(f"\nadmitted with {len(objects)} MACs")
