"""`vmo render` and `vmo crd`: output, stdin, and clear errors with exit code 1."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import yaml

from vmo_operator import cli
from vmo_operator.api import crd

PROFILE = """\
apiVersion: vmo.dev/v1alpha1
kind: VMOProfile
metadata:
  name: lab
spec:
  multus:
    networks:
    - name: vlan-20
      vlan: 20
"""


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_render_yaml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "profile.yaml"
    path.write_text(PROFILE)
    code, out, err = run(["render", "-f", str(path)], capsys)
    assert (code, err) == (0, "")
    docs = list(yaml.safe_load_all(out))
    assert all(d["metadata"]["labels"]["vmo.dev/profile"] == "lab" for d in docs)
    assert any(
        d["kind"] == "NetworkAttachmentDefinition" and d["metadata"]["name"] == "vlan-20" for d in docs
    )


def test_render_json_from_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(PROFILE))
    code, out, _ = run(["render", "-f", "-", "-o", "json"], capsys)
    assert code == 0
    listing = json.loads(out)
    assert listing["kind"] == "List"
    assert any(item["kind"] == "KubeVirt" for item in listing["items"])


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (
            PROFILE.replace("vlan: 20", "vlan: 5000"),
            "spec.multus.networks[0].vlan: Input should be less than or equal to 4094",
        ),
        (PROFILE.replace("kind: VMOProfile", "kind: Other"), "kind: Input should be 'VMOProfile'"),
        (PROFILE + "  bogus: 1\n", "spec.bogus: Extra inputs are not permitted"),
        ("a: [", "not valid YAML"),
        ("", "expected exactly one VMOProfile document, found 0"),
        ("- 1\n", "expected a VMOProfile object, found list"),
    ],
)
def test_render_rejects_bad_input_naming_the_field(
    text: str, words: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    code, out, err = run(["render", "-f", "-"], capsys)
    assert code == 1
    assert out == ""
    assert err.startswith("error: ")
    assert words in err


def test_render_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["render", "-f", str(tmp_path / "nope.yaml")], capsys)
    assert code == 1
    assert "cannot read" in err


def test_crd_subcommand_prints_the_generated_crd(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["crd"], capsys)
    assert code == 0
    assert out == crd.crd_yaml()


def test_subcommands_are_a_table() -> None:
    assert set(cli.SUBCOMMANDS) >= {"render", "crd"}
    with pytest.raises(SystemExit):
        cli.main([])
