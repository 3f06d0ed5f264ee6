"""Small helpers tests use to drive the API: apply files, read conditions, wait for them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import Any, Protocol, cast

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.support.waiting import eventually
from vmo_operator.components.base import ClusterFacts
from vmo_operator.engine.apply import KindIndex
from vmo_operator.kube.client import KubeClient
from vmo_operator.kube.objects import ObjectKey

PROFILE = ("vmo.dev", "v1alpha1", "vmoprofiles")


def manifest(result: object) -> dict[str, Any]:
    """A CustomObjectsApi answer as the JSON object it is.

    The generated client types every custom-object call as returning `object`; what it returns is
    the decoded JSON body, an object (a dict) for get/list/create/replace/patch.
    """
    return cast(dict[str, Any], result)


class HasMetadata(Protocol):
    @property
    def metadata(self) -> client.V1ObjectMeta | None: ...


def metadata(obj: HasMetadata) -> client.V1ObjectMeta:
    """The metadata of an object read from the API server, which always sets it (the models type it
    Optional because a body being built may not have it yet)."""
    assert obj.metadata is not None
    return obj.metadata


def status_body(exc: ApiException) -> dict[str, Any]:
    """The Status object the API server answered a refused request with."""
    assert exc.body is not None, f"no response body: {exc}"
    body: dict[str, Any] = json.loads(exc.body)
    return body


def refusal(api: Any, spec: dict[str, Any]) -> str:
    """The API server's message refusing a new profile with `spec` (a 422 is the only answer accepted)."""
    body = {
        "apiVersion": "vmo.dev/v1alpha1",
        "kind": "VMOProfile",
        "metadata": {"name": f"bad-{uuid.uuid4().hex[:6]}"},
        "spec": spec,
    }
    with pytest.raises(ApiException) as refused:
        client.CustomObjectsApi(api).create_cluster_custom_object(*PROFILE, body)
    assert refused.value.status == 422
    message: str = status_body(refused.value)["message"]
    return message


def cluster_uid(api: Any) -> str:
    """The kube-system namespace's UID: the cluster identity the MAC allocator derives its octets from."""
    uid = metadata(client.CoreV1Api(api).read_namespace("kube-system")).uid
    assert uid
    return uid


def apply_crd_files(api: Any, paths: Iterable[Path]) -> list[str]:
    ext = client.ApiextensionsV1Api(api)
    names = []
    for path in paths:
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc:
                continue
            name = doc["metadata"]["name"]
            try:
                ext.create_custom_resource_definition(doc)
            except ApiException as exc:
                if exc.status != 409:
                    raise
                live = ext.read_custom_resource_definition(name)
                doc["metadata"]["resourceVersion"] = metadata(live).resource_version
                ext.replace_custom_resource_definition(name, doc)
            names.append(name)
    for name in names:
        eventually(partial(_established, ext, name), timeout=30, what=f"CRD {name} Established")
    return names


def _established(ext: Any, name: str) -> bool:
    crd = ext.read_custom_resource_definition(name)
    return any(c.type == "Established" and c.status == "True" for c in (crd.status.conditions or []))


def get_profile(api: Any, name: str) -> dict[str, Any] | None:
    try:
        result = manifest(client.CustomObjectsApi(api).get_cluster_custom_object(*PROFILE, name))
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return result


def condition(obj: dict[str, Any] | None, type_: str) -> dict[str, Any] | None:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return None


def condition_of(obj: dict[str, Any] | None, type_: str) -> dict[str, Any]:
    """The condition the test expects `obj` to have."""
    found = condition(obj, type_)
    assert found is not None, f"no {type_} condition in {obj}"
    return found


def wait_condition(
    api: Any, name: str, type_: str, status: str = "True", *, timeout: float = 90, current: bool = True
) -> dict[str, Any]:
    """Wait until the profile's condition has `status` (and, with `current`, the latest generation)."""

    def probe() -> dict[str, Any] | None:
        profile = get_profile(api, name)
        cond = condition(profile, type_)
        if profile is None or cond is None or cond.get("status") != status:
            return None
        if current and cond.get("observedGeneration") != profile["metadata"]["generation"]:
            return None
        return profile

    return eventually(probe, timeout=timeout, what=f"{name} {type_}={status}")


def owned_index() -> KindIndex:
    """REST coordinates of every kind a component may own (plus Namespaces and CRDs)."""
    from vmo_operator.components import registry

    return KindIndex(k for c in registry.components() for k in c.owned_kinds)


def rendered(spec: dict[str, Any], name: str, facts: ClusterFacts | None = None) -> list[dict[str, Any]]:
    """What the operator should apply for `spec`, as `vmo render` prints it; with `facts`, what it
    applies on a cluster where the components find those (a PrometheusRule CRD a test installed)."""
    from vmo_operator.api.models import VMOProfileSpec
    from vmo_operator.components import registry

    return registry.render_all(VMOProfileSpec.model_validate(spec), facts or ClusterFacts(), name)


def owned_objects(api: Any) -> dict[ObjectKey, dict[str, Any]]:
    """Every live object carrying the operator's managed-by label, of every kind it may own."""
    from vmo_operator.engine.apply import observe_owned

    return observe_owned(KubeClient(api), owned_index().all)
