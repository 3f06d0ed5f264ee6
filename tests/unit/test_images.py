"""`vmo images`: every image `vmo render` names, plus what the operators start themselves; --registry."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.test_components_render import FULL_SPEC, OLD_SPEC
from vmo_operator import cli
from vmo_operator.components import images

MIRROR = "mirror.example.com:5000"
CASES: dict[str, dict[str, Any]] = {"default": {}, "full": FULL_SPEC, "old-versions": OLD_SPEC}


def profile_text(spec: dict[str, Any]) -> str:
    return yaml.safe_dump(
        {"apiVersion": "vmo.dev/v1alpha1", "kind": "VMOProfile", "metadata": {"name": "p"}, "spec": spec}
    )


def run(
    argv: list[str], text: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def image_fields(node: Any) -> set[str]:
    """Every value of an `image` key anywhere in `node`, the way `grep image:` would find them."""
    if isinstance(node, dict):
        found = {node["image"]} if isinstance(node.get("image"), str) else set()
        return found.union(*(image_fields(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(image_fields(v) for v in node))
    return set()


@pytest.mark.parametrize("case", sorted(CASES))
def test_covers_every_image_vmo_render_prints(
    case: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = profile_text(CASES[case])
    code, rendered, _ = run(["render", "-f", "-"], text, capsys, monkeypatch)
    assert code == 0
    code, out, err = run(["images", "-f", "-"], text, capsys, monkeypatch)
    assert (code, err) == (0, "")
    listed = out.splitlines()
    assert listed == sorted(set(listed))
    assert image_fields(list(yaml.safe_load_all(rendered))) <= set(listed)


def test_lists_what_the_operators_start_with_their_registry_and_tag(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, out, _ = run(["images", "-f", "-"], profile_text(FULL_SPEC), capsys, monkeypatch)
    listed = set(out.splitlines())
    kv = "registry.example.com:5000/mirror"
    for name in (
        "virt-api",
        "virt-controller",
        "virt-handler",
        "virt-launcher",
        "virt-exportproxy",
        "virt-exportserver",
        "virt-synchronization-controller",
    ):
        assert f"{kv}/{name}:v1.9.0" in listed
    for name in images.CDI_OPERANDS:
        assert f"quay.io/kubevirt/{name}:v1.65.0" in listed


def test_versions_without_an_image_do_not_list_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, out, _ = run(["images", "-f", "-"], profile_text(OLD_SPEC), capsys, monkeypatch)
    assert "quay.io/kubevirt/virt-launcher:v1.4.0" in out
    assert "virt-synchronization-controller" not in out
    assert images.kubevirt_operands("v1.6.1")[-1] == "virt-synchronization-controller"


def test_a_disabled_operator_lists_nothing_of_its_own(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = {"kubevirt": {"enabled": False}, "cdi": {"enabled": False}}
    _, out, _ = run(["images", "-f", "-"], profile_text(spec), capsys, monkeypatch)
    assert "virt-" not in out
    assert "cdi-" not in out


@pytest.mark.parametrize("case", sorted(CASES))
def test_registry_rewrites_every_name(
    case: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = profile_text(CASES[case])
    _, plain, _ = run(["images", "-f", "-"], text, capsys, monkeypatch)
    code, out, _ = run(["images", "-f", "-", "--registry", MIRROR + "/"], text, capsys, monkeypatch)
    assert code == 0
    rewritten = out.splitlines()
    assert len(rewritten) == len(plain.splitlines())
    assert all(line.startswith(MIRROR + "/") for line in rewritten)
    assert "quay.io" not in out
    assert "registry.k8s.io" not in out
    assert "ghcr.io" not in out


def test_registry_matches_what_the_profiles_registry_fields_pull(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mirroring with --registry R, then pointing each component's `registry` at R plus the old path,
    pulls exactly the mirrored names."""
    _, mirrored, _ = run(["images", "-f", "-", "--registry", MIRROR], profile_text({}), capsys, monkeypatch)
    agent = next(line for line in mirrored.splitlines() if "vmo-operator" in line)
    spec = {
        "kubevirt": {"registry": f"{MIRROR}/kubevirt"},
        "cdi": {"registry": f"{MIRROR}/kubevirt"},
        "multus": {
            "registry": f"{MIRROR}/k8snetworkplumbingwg",
            "cniPlugins": {"registry": f"{MIRROR}/kubevirt"},
            "nodeAgent": {"image": agent},
        },
        "descheduler": {"registry": f"{MIRROR}/descheduler"},
        "snapshotController": {"registry": f"{MIRROR}/sig-storage"},
    }
    _, pointed, _ = run(["images", "-f", "-"], profile_text(spec), capsys, monkeypatch)
    assert pointed == mirrored


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("quay.io/kubevirt/virt-api:v1.9.0", "m:5000/kubevirt/virt-api:v1.9.0"),
        ("localhost/a/b:1", "m:5000/a/b:1"),
        ("r.example.com/x@sha256:" + "ab" * 32, "m:5000/x@sha256:" + "ab" * 32),
        ("someone/tool:1", "m:5000/someone/tool:1"),
        ("busybox:1", "m:5000/library/busybox:1"),
    ],
)
def test_rewrite(image: str, expected: str) -> None:
    assert images.rewrite(image, "m:5000") == expected


@pytest.mark.parametrize(
    ("argv", "text", "words"),
    [
        (["images", "-f", "-"], profile_text({"cdi": {"version": "v9.0.0"}}), "spec.cdi.version"),
        (["images", "-f", "-"], profile_text({"bogus": 1}), "spec.bogus: Extra inputs are not permitted"),
        (["images", "-f", "-", "--registry", "Not A Host"], profile_text({}), "--registry"),
    ],
)
def test_bad_input_is_one_clear_error(
    argv: list[str],
    text: str,
    words: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, out, err = run(argv, text, capsys, monkeypatch)
    assert (code, out) == (1, "")
    assert err.startswith("error: ")
    assert words in err
    assert len(err.strip().splitlines()) == 1


def test_missing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = run(["images", "-f", str(tmp_path / "nope.yaml")], "", capsys, monkeypatch)
    assert code == 1
    assert "cannot read" in err
    assert "nope.yaml" in err


def test_an_override_of_the_image_registry_is_what_gets_listed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """virt-operator reads imageRegistry from the CR it is given, so the list follows an override."""
    override = {"op": "replace", "path": "/spec/imageRegistry", "value": "other.example/kv"}
    _, out, _ = run(
        ["images", "-f", "-"], profile_text({"kubevirt": {"overrides": [override]}}), capsys, monkeypatch
    )
    assert "other.example/kv/virt-launcher:v1.9.0" in out
    assert "quay.io/kubevirt/virt-launcher" not in out
    assert "quay.io/kubevirt/virt-operator:v1.9.0" in out  # the operator's own image is not in the CR
