"""The dashboard's serving certificate: rendered by the component, issued and renewed by the operator
with the webhook's machinery, mounted without the CA key, re-read by the dashboard when renewed."""

from __future__ import annotations

import asyncio
import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from vmo_operator.api import models
from vmo_operator.components import dashboard
from vmo_operator.components.base import ClusterFacts
from vmo_operator.dashboard import main
from vmo_operator.kube import kinds
from vmo_operator.kube.client import KubeError
from vmo_operator.kube.kinds import Kind
from vmo_operator.macpool import certs
from vmo_operator.operator import dashboard_tls, guards, rbac

NOW = datetime(2026, 3, 1, tzinfo=UTC)


class Secrets:
    """The API server's part in this: get, server-side apply with a resourceVersion precondition, delete."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.writes: list[str] = []
        self.version = 0

    def get(self, kind: Kind, name: str, namespace: str = "") -> dict[str, Any] | None:
        assert kind == kinds.SECRET
        found = self.objects.get((namespace, name))
        return copy.deepcopy(found) if found else None

    def apply(self, kind: Kind, obj: dict[str, Any], **_: Any) -> dict[str, Any]:
        meta = obj["metadata"]
        key = (meta["namespace"], meta["name"])
        live = self.objects.get(key)
        wanted = meta.get("resourceVersion")
        if wanted and (live is None or live["metadata"]["resourceVersion"] != wanted):
            raise KubeError(409, "Conflict", "the object has been modified")
        self.version += 1
        stored = copy.deepcopy(obj)
        stored["metadata"]["resourceVersion"] = str(self.version)
        self.objects[key] = stored
        self.writes.append(f"apply {meta['name']}")
        return stored

    def delete(self, kind: Kind, name: str, namespace: str = "", **_: Any) -> bool:
        self.writes.append(f"delete {name}")
        return self.objects.pop((namespace, name), None) is not None


def stored(api: Secrets) -> certs.CertBundle:
    bundle = certs.stored_bundle(api.get(kinds.SECRET, dashboard.TLS_SECRET, dashboard.NAMESPACE))
    assert bundle is not None
    return bundle


def test_the_operator_issues_a_certificate_for_the_service_names_under_a_ca_of_the_dashboards_own() -> None:
    api = Secrets()
    issued = dashboard_tls.settle(api, True, now=NOW)  # type: ignore[arg-type]
    assert issued is not None
    assert api.writes == ["apply vmo-dashboard-tls"]
    bundle = stored(api)
    assert certs.sans_of(bundle.serving.cert) == set(dashboard.service_names())
    assert certs.signed_by(bundle.serving.cert, bundle.ca.cert)
    # Its CA can sign for the dashboard's names only (not the webhook's, nor anything else).
    constraints = certs.constraints_of(bundle.ca.cert)
    assert constraints is not None
    assert {n.value for n in constraints.permitted_subtrees or ()} == set(dashboard.service_names())
    assert bundle.ca_bundle == bundle.ca.cert_pem

    again = dashboard_tls.settle(api, True, now=NOW + timedelta(days=1))  # type: ignore[arg-type]
    assert again == bundle
    assert api.writes == ["apply vmo-dashboard-tls"]  # nothing due: no write


def test_the_serving_certificate_is_renewed_like_the_webhooks_under_the_same_ca() -> None:
    api = Secrets()
    dashboard_tls.settle(api, True, now=NOW)  # type: ignore[arg-type]
    first = stored(api)
    later = NOW + certs.SERVING_VALIDITY * certs.RENEW_AT + timedelta(hours=1)
    dashboard_tls.settle(api, True, now=later)  # type: ignore[arg-type]
    renewed = stored(api)
    assert renewed.serving.cert_pem != first.serving.cert_pem
    assert renewed.ca == first.ca  # browsers told to trust the CA keep trusting
    assert certs.signed_by(renewed.serving.cert, first.ca.cert)
    assert renewed.serving.cert.not_valid_after_utc > first.serving.cert.not_valid_after_utc


def test_a_writer_that_lost_a_race_keeps_the_winners_certificate() -> None:
    api = Secrets()
    dashboard_tls.settle(api, True, now=NOW)  # type: ignore[arg-type]
    winner = stored(api)

    class Racing(Secrets):
        """Another replica renews between our read and our write."""

        def get(self, kind: Kind, name: str, namespace: str = "") -> dict[str, Any] | None:
            found = api.get(kind, name, namespace)
            api.objects[(namespace, name)]["metadata"]["resourceVersion"] = "elsewhere"
            return found

        def apply(self, kind: Kind, obj: dict[str, Any], **kw: Any) -> dict[str, Any]:
            return api.apply(kind, obj, **kw)

    due = NOW + timedelta(days=80)
    assert dashboard_tls.settle(Racing(), True, now=due) == winner  # type: ignore[arg-type]
    assert stored(api) == winner


def test_turning_the_dashboard_off_or_a_corrupt_secret() -> None:
    api = Secrets()
    assert dashboard_tls.settle(api, False, now=NOW) is None  # type: ignore[arg-type]
    assert api.writes == []  # nothing there, nothing written
    dashboard_tls.settle(api, True, now=NOW)  # type: ignore[arg-type]
    api.objects[(dashboard.NAMESPACE, dashboard.TLS_SECRET)]["data"]["tls.key"] = "not base64!"
    dashboard_tls.settle(api, True, now=NOW)  # type: ignore[arg-type]
    assert stored(api).serving.key_pem.startswith(b"-----BEGIN PRIVATE KEY")  # regenerated whole
    dashboard_tls.settle(api, False, now=NOW)  # type: ignore[arg-type]
    assert api.objects == {}
    assert api.writes[-1] == "delete vmo-dashboard-tls"


def test_an_invalid_spec_leaves_the_certificate_alone() -> None:
    api = Secrets()
    dashboard_tls.settle(api, True, now=NOW)  # type: ignore[arg-type]
    dashboard_tls.settle_for(api, {"spec": {"dashboard": {"enabled": "perhaps", "replicas": -1}}})  # type: ignore[arg-type]
    assert api.writes == ["apply vmo-dashboard-tls"]
    dashboard_tls.settle_for(api, {"spec": {}})  # type: ignore[arg-type]
    assert api.writes[-1] == "delete vmo-dashboard-tls"  # off by default


def test_the_pod_mounts_the_serving_pair_and_never_the_ca_key() -> None:
    spec = models.parse_spec({"dashboard": {"enabled": True}})
    _, deployment, _ = dashboard.DASHBOARD.render(spec, ClusterFacts())
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert f"--certs-dir={dashboard.TLS_DIR}" in container["args"]
    assert not [a for a in container["args"] if a.startswith("--tls-name")]  # nothing generated in the pod
    mounted = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounted["tls"] == dashboard.TLS_DIR
    (volume,) = [v for v in pod["volumes"] if v["name"] == "tls"]
    assert volume["secret"]["secretName"] == dashboard.TLS_SECRET
    assert [item["key"] for item in volume["secret"]["items"]] == [certs.TLS_CERT, certs.TLS_KEY]


def test_the_operator_may_write_that_one_secret_by_name_and_only_in_kube_system() -> None:
    secret_rules = [r for r in rbac.cluster_role_rules() if "secrets" in r["resources"]]
    assert secret_rules == [
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": [dashboard.TLS_SECRET],
            "verbs": ["get", "create", "patch", "delete"],
        }
    ]
    identity = guards.Identity("vmo", "vmo-system", "vmo")
    (policy, _binding) = guards.dashboard_tls_policy(identity)
    (validation,) = policy["spec"]["validations"]
    expected = "request.name != 'vmo-dashboard-tls' || request.namespace == 'kube-system'"
    assert validation["expression"] == expected
    assert policy in guards.admission_policies(identity)


def _pair(directory: Path, now: datetime) -> None:
    ca = certs.generate_ca("test", ["localhost"], now=now)
    serving = certs.issue_serving(ca, ["localhost"], now=now)
    (directory / certs.TLS_CERT).write_bytes(serving.cert_pem)
    (directory / certs.TLS_KEY).write_bytes(serving.key_pem)


def test_the_dashboard_loads_a_renewed_pair_into_its_live_context(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _pair(tmp_path, NOW)
    monkeypatch.setattr(main, "CHECK_SECONDS", 0.01)
    loaded: list[bytes] = []

    class Context:
        def load_cert_chain(self, cert: Path, key: Path) -> None:
            loaded.append(Path(cert).read_bytes())

    async def scenario() -> None:
        task = asyncio.create_task(main._reload_on_change(Context(), tmp_path))  # type: ignore[arg-type]
        await asyncio.sleep(0)  # let it take its first digest of the files
        assert loaded == []  # unchanged files are not reloaded
        _pair(tmp_path, NOW + timedelta(days=60))
        for _ in range(1000):
            if loaded:
                break
            await asyncio.sleep(0.01)
        task.cancel()

    asyncio.run(scenario())
    assert loaded == [(tmp_path / certs.TLS_CERT).read_bytes()]
