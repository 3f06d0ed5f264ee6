"""How the demo and the operand tests launch the real operands (hack/operands.py), without a cluster."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from hack import operands
from tests.support.paths import REPO
from vmo_operator.api import models
from vmo_operator.components import registry
from vmo_operator.components.base import ClusterFacts, render_labelled
from vmo_operator.kube.objects import Manifest

BUILT = operands.VIRT_OPERATOR.built_version()


def _rendered(kind: str, name: str, spec: dict[str, Any]) -> Manifest:
    rendered = render_labelled(registry.by_name("kubevirt"), models.parse_spec(spec), ClusterFacts(), "unit")
    (found,) = [o for o in rendered if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def _job(command: list[str]) -> Manifest:
    return {
        "metadata": {"name": "virt-install-strategy-job-x", "namespace": "kubevirt"},
        "spec": {
            "template": {
                "metadata": {"annotations": {"a": "b"}},
                "spec": {
                    "serviceAccountName": "kubevirt-operator",
                    "containers": [
                        {
                            "name": "install-strategy-upload",
                            "command": command,
                            "env": [
                                {
                                    "name": "VIRT_OPERATOR_IMAGE",
                                    "value": f"quay.io/kubevirt/virt-operator:{BUILT}",
                                },
                                {
                                    "name": "TARGET_NAMESPACE",
                                    "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
                                },
                            ],
                        }
                    ],
                },
            }
        },
    }


def test_virt_operator_runs_with_the_rendered_args_and_env_on_loopback() -> None:
    deployment = _rendered("Deployment", "virt-operator", {"kubevirt": {"version": BUILT}})
    launch = operands.virt_operator_launch(deployment, "/k")
    assert launch.args == ["--port", "8443", "-v", "2", "--kubeconfig", "/k", "--listen", "127.0.0.1"]
    # WATCH_NAMESPACE comes from an OLM annotation the pod lacks: empty, as the kubelet makes it.
    assert launch.env == {
        "VIRT_OPERATOR_IMAGE": f"quay.io/kubevirt/virt-operator:{BUILT}",
        "WATCH_NAMESPACE": "",
        "KUBEVIRT_VERSION": BUILT,
    }
    shared = operands.virt_operator_launch(deployment, "/k", port=12345)
    assert shared.args[:2] == ["--port", "12345"]


def test_the_install_strategy_dump_gets_the_jobs_environment_and_service_account() -> None:
    job = _job(["virt-operator", "--dump-install-strategy"])
    launch = operands.install_strategy_dump(job, "/k")
    assert launch.args == ["--kubeconfig", "/k", "--dump-install-strategy"]
    assert launch.env["TARGET_NAMESPACE"] == "kubevirt"
    assert operands.service_account_of(job) == ("kubevirt", "kubevirt-operator")
    with pytest.raises(ValueError, match="unexpected"):
        operands.install_strategy_dump(_job(["virt-operator"]), "/k")


def test_container_env_resolves_what_a_kubelet_would_and_refuses_the_rest() -> None:
    workload: Manifest = {
        "metadata": {"name": "d", "namespace": "ns"},
        "spec": {
            "template": {
                "metadata": {"name": "p"},
                "spec": {
                    "serviceAccountName": "sa",
                    "containers": [
                        {
                            "name": "c",
                            "env": [
                                {"name": "A", "value": "1"},
                                {
                                    "name": "NS",
                                    "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
                                },
                                {
                                    "name": "SA",
                                    "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}},
                                },
                                {
                                    "name": "ANN",
                                    "valueFrom": {"fieldRef": {"fieldPath": "metadata.annotations['x']"}},
                                },
                            ],
                        }
                    ],
                },
            }
        },
    }
    assert operands.container_env(workload) == {"A": "1", "NS": "ns", "SA": "sa", "ANN": ""}
    containers = workload["spec"]["template"]["spec"]["containers"]
    containers[0]["env"].append({"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}})
    with pytest.raises(ValueError, match="NODE"):
        operands.container_env(workload)
    with pytest.raises(KeyError):
        operands.container_env(workload, "missing")


def test_the_demo_profile_is_the_example_asking_for_the_built_kubevirt() -> None:
    example = REPO / "examples" / "vmoprofile.yaml"
    text = operands.real_kubevirt_profile(example)
    profile = yaml.safe_load(text)
    original = yaml.safe_load(example.read_text())
    assert profile["spec"]["kubevirt"]["version"] == BUILT
    del profile["spec"]["kubevirt"]["version"]
    assert profile == original
    models.parse_spec(yaml.safe_load(text)["spec"])  # a valid profile


def test_virt_operator_is_refused_for_a_kubevirt_it_was_not_built_as(tmp_path: Path) -> None:
    default = _rendered("Deployment", "virt-operator", {})
    assert not operands._image(default).endswith(f":{BUILT}")
    with pytest.raises(operands.VersionMismatchError, match=f"spec.kubevirt.version to {BUILT}"):
        operands._launch(operands.VIRT_OPERATOR, default, None, None, tmp_path)  # type: ignore[arg-type]


def test_check_covers_what_start_launched_and_the_install_strategy_dump(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / operands.STARTED).write_text("virt-operator\n")
    (tmp_path / "virt-operator.pid").write_text(f"{os.getpid()}\n")
    (tmp_path / "virt-operator.log").write_text("Started leading\n")
    assert operands.check(tmp_path) == 1  # the dump never ran
    assert "NEVER RUN" in capsys.readouterr().out

    (tmp_path / f"{operands.DUMP_NAME}.exit").write_text("0\n")
    (tmp_path / f"{operands.DUMP_NAME}.log").write_text("install strategy dumped\n")
    assert operands.check(tmp_path) == 0
    out = capsys.readouterr().out
    assert f"virt-operator {BUILT}: running" in out
    assert "--dump-install-strategy: exited 0, 0 forbidden/403 lines" in out

    (tmp_path / "virt-operator.log").write_text('E1130 "kubevirts" is forbidden: User cannot list\n')
    assert operands.check(tmp_path) == 1
    assert "1 forbidden/403 lines" in capsys.readouterr().out
