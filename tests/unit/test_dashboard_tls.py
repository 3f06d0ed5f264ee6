"""The dashboard's serving certificate: rendered by the component, issued and renewed by the operator
with the webhook's machinery, mounted without the CA key, re-read by the dashboard when renewed."""

from __future__ import annotations

import asyncio
import base64
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


OPERATOR_NS = "vmo-system"


class Secrets:
    """The API server's part: get, create-if-absent, replace at resourceVersion, apply, delete."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.writes: list[str] = []
        self.version = 0

    def get(self, kind: Kind, name: str, namespace: str = "") -> dict[str, Any] | None:
        assert kind == kinds.SECRET
        assert namespace == OPERATOR_NS, "the operator reads Secrets only in its own namespace"
        found = self.objects.get((namespace, name))
        return copy.deepcopy(found) if found else None

    def _store(self, verb: str, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj["metadata"]
        self.version += 1
        stored = copy.deepcopy(obj)
        stored["metadata"]["resourceVersion"] = str(self.version)
        self.objects[(meta["namespace"], meta["name"])] = stored
        self.writes.append(f"{verb} {meta['namespace']}/{meta['name']}")
        return stored

    def create(self, kind: Kind, obj: dict[str, Any]) -> dict[str, Any]:
        if (obj["metadata"]["namespace"], obj["metadata"]["name"]) in self.objects:
            raise KubeError(409, "AlreadyExists", "exists")
        return self._store("create", obj)

    def replace(self, kind: Kind, obj: dict[str, Any]) -> dict[str, Any]:
        live = self.objects[(obj["metadata"]["namespace"], obj["metadata"]["name"])]
        if live["metadata"]["resourceVersion"] != obj["metadata"]["resourceVersion"]:
            raise KubeError(409, "Conflict", "the object has been modified")
        return self._store("replace", obj)

    def apply(self, kind: Kind, obj: dict[str, Any], **_: Any) -> dict[str, Any]:
        return self._store("apply", obj)

    def delete(self, kind: Kind, name: str, namespace: str = "", **_: Any) -> bool:
        self.writes.append(f"delete {namespace}/{name}")
        return self.objects.pop((namespace, name), None) is not None


PUBLISHED = f"{dashboard.NAMESPACE}/{dashboard.TLS_SECRET}"
CA = f"{OPERATOR_NS}/{dashboard_tls.CA_SECRET}"


def kept(api: Secrets) -> certs.CertBundle:
    bundle = certs.stored_bundle(api.objects[(OPERATOR_NS, dashboard_tls.CA_SECRET)])
    assert bundle is not None
    return bundle


def published(api: Secrets) -> dict[str, bytes]:
    secret = api.objects[(dashboard.NAMESPACE, dashboard.TLS_SECRET)]
    return {key: base64.b64decode(value) for key, value in secret["data"].items()}


def settle(api: Secrets, state: dashboard_tls.Published, enabled: bool = True, **kw: Any) -> Any:
    return dashboard_tls.settle(api, OPERATOR_NS, enabled, state, **kw)  # type: ignore[arg-type]


def test_the_operator_issues_a_certificate_for_the_service_names_under_a_ca_of_the_dashboards_own() -> None:
    api, state = Secrets(), dashboard_tls.Published()
    issued = settle(api, state, now=NOW)
    assert issued is not None
    assert api.writes == [f"create {CA}", f"apply {PUBLISHED}"]
    bundle = kept(api)
    assert certs.sans_of(bundle.serving.cert) == set(dashboard.service_names())
    assert certs.signed_by(bundle.serving.cert, bundle.ca.cert)
    # Its CA can sign for the dashboard's names only (not the webhook's, nor anything else).
    constraints = certs.constraints_of(bundle.ca.cert)
    assert constraints is not None
    assert {n.value for n in constraints.permitted_subtrees or ()} == set(dashboard.service_names())
    # What the dashboard's namespace gets: the serving pair and the CA bundle, never the CA key.
    assert published(api) == {
        "tls.crt": bundle.serving.cert_pem,
        "tls.key": bundle.serving.key_pem,
        "ca-bundle.crt": bundle.ca.cert_pem,
    }

    again = settle(api, state, now=NOW + timedelta(days=1))
    assert again == bundle
    assert api.writes == [f"create {CA}", f"apply {PUBLISHED}"]  # nothing due: one read, no write
    # A new operator process cannot read the published copy: it publishes once, then rests.
    restarted = dashboard_tls.Published()
    settle(api, restarted, now=NOW + timedelta(days=1))
    settle(api, restarted, now=NOW + timedelta(days=2))
    assert api.writes[2:] == [f"apply {PUBLISHED}"]


def test_the_serving_certificate_is_renewed_like_the_webhooks_under_the_same_ca() -> None:
    api, state = Secrets(), dashboard_tls.Published()
    settle(api, state, now=NOW)
    first = kept(api)
    later = NOW + certs.SERVING_VALIDITY * certs.RENEW_AT + timedelta(hours=1)
    settle(api, state, now=later)
    renewed = kept(api)
    assert renewed.serving.cert_pem != first.serving.cert_pem
    assert renewed.ca == first.ca  # browsers told to trust the CA keep trusting
    assert certs.signed_by(renewed.serving.cert, first.ca.cert)
    assert renewed.serving.cert.not_valid_after_utc > first.serving.cert.not_valid_after_utc
    assert published(api)["tls.crt"] == renewed.serving.cert_pem
    assert api.writes[2:] == [f"replace {CA}", f"apply {PUBLISHED}"]


def test_turning_the_dashboard_off_removes_the_published_pair_once_and_keeps_the_ca() -> None:
    api, state = Secrets(), dashboard_tls.Published()
    settle(api, state, now=NOW)
    ca = kept(api).ca
    assert settle(api, state, False, now=NOW) is None
    assert settle(api, state, False, now=NOW) is None
    assert api.writes[2:] == [f"delete {PUBLISHED}"]  # once, not at every round
    assert (dashboard.NAMESPACE, dashboard.TLS_SECRET) not in api.objects
    settle(api, state, now=NOW)
    assert kept(api).ca == ca  # on again: the same CA, so browsers still trust it
    assert published(api)["ca-bundle.crt"] == ca.cert_pem


def test_a_corrupt_bundle_is_issued_again_and_an_invalid_spec_changes_nothing() -> None:
    api, state = Secrets(), dashboard_tls.Published()
    settle(api, state, now=NOW)
    api.objects[(OPERATOR_NS, dashboard_tls.CA_SECRET)]["data"]["tls.key"] = "not base64!"
    settle(api, state, now=NOW)
    assert kept(api).serving.key_pem.startswith(b"-----BEGIN PRIVATE KEY")  # regenerated whole
    writes = list(api.writes)
    profile = {"spec": {"dashboard": {"enabled": "perhaps", "replicas": -1}}}
    dashboard_tls.settle_for(api, OPERATOR_NS, profile, state)  # type: ignore[arg-type]
    assert api.writes == writes
    dashboard_tls.settle_for(api, OPERATOR_NS, {"spec": {}}, state)  # type: ignore[arg-type]
    assert api.writes[-1] == f"delete {PUBLISHED}"  # off by default


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
            "verbs": ["create", "patch", "delete"],  # no read of any Secret outside its namespace
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
