"""The local control plane's offline parts: where it finds its binaries, and its command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.paths import REPO
from vmo_operator.localenv import __main__ as cli
from vmo_operator.localenv import commands
from vmo_operator.localenv.controlplane import BIN_DIR_VARIABLE, ControlPlane, default_bin_dir
from vmo_operator.localenv.processes import ControlPlaneError


def test_binaries_come_from_the_checkout_unless_the_variable_says_otherwise(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(BIN_DIR_VARIABLE, raising=False)
    assert default_bin_dir() == REPO / ".bin"
    monkeypatch.setenv(BIN_DIR_VARIABLE, str(tmp_path))
    assert default_bin_dir() == tmp_path
    assert ControlPlane().bin_dir == tmp_path


def test_a_missing_binary_names_the_ways_to_provide_it(tmp_path: Path) -> None:
    with pytest.raises(ControlPlaneError, match="--bin-dir") as missing:
        ControlPlane(bin_dir=tmp_path).binary("kube-apiserver")
    assert BIN_DIR_VARIABLE in str(missing.value)


def test_every_path_flag_lies_under_the_work_directory(tmp_path: Path) -> None:
    # leftover_processes() recognises a control plane's processes by its work directory.
    args = commands.kube_apiserver(
        "kube-apiserver",
        etcd_port=1,
        port=2,
        pki=tmp_path / "pki",
        audit_policy=tmp_path / "audit-policy.yaml",
        audit_log=tmp_path / "logs" / "audit.log",
        admission_config=tmp_path / "pki" / "admission-config.yaml",
    )
    paths = [arg.split("=", 1)[1] for arg in args if arg.startswith("--") and "=/" in arg]
    assert paths
    assert all(path.startswith(str(tmp_path)) for path in paths), paths
    assert f"--audit-log-path={tmp_path / 'logs' / 'audit.log'}" in args
    unaudited = commands.kube_apiserver(
        "kube-apiserver", etcd_port=1, port=2, pki=tmp_path, audit_policy=None, audit_log=tmp_path / "a.log"
    )
    assert not [arg for arg in unaudited if arg.startswith("--audit")]
    assert not [arg for arg in unaudited if arg.startswith("--admission-control-config-file")]


def test_the_api_server_presents_its_webhook_client_certificate_to_every_webhook(tmp_path: Path) -> None:
    kubeconfig = commands.webhook_client_kubeconfig(tmp_path / "c.crt", tmp_path / "c.key")
    # Local webhooks listen on random ports, so only the `*` entry can match all of them.
    assert kubeconfig["users"] == [
        {
            "name": "*",
            "user": {"client-certificate": str(tmp_path / "c.crt"), "client-key": str(tmp_path / "c.key")},
        }
    ]
    config = commands.admission_configuration(tmp_path / "webhook.kubeconfig")
    assert config["kind"] == "AdmissionConfiguration"
    plugins = {plugin["name"]: plugin["configuration"] for plugin in config["plugins"]}
    assert set(plugins) == {"ValidatingAdmissionWebhook", "MutatingAdmissionWebhook"}
    for plugin in plugins.values():
        assert plugin["kind"] == "WebhookAdmissionConfiguration"
        assert plugin["kubeConfigFile"] == str(tmp_path / "webhook.kubeconfig")


def test_down_on_a_directory_without_a_control_plane_removes_it(tmp_path: Path) -> None:
    workdir = tmp_path / "env"
    workdir.mkdir()
    assert cli.main(["down", "--dir", str(workdir)]) == 0
    assert not workdir.exists()


def test_up_refuses_a_directory_that_already_holds_a_control_plane(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "state.json").write_text("{}")
    assert cli.main(["up", "--dir", str(tmp_path)]) == 1
    assert "already holds a control plane" in capsys.readouterr().err
