"""Golden images and common instance types on a real control plane (issue 14, items 2 and 3).

CDI's DataVolume, DataSource and DataImportCron CRDs are served by the CDI simulator (schema-less,
with a status subresource), so the tests write the status CDI's controllers would and read it back
from the profile. The tests run in order against the module's shared profile; a removed source's
DataVolume is released (kept with its spec, never deleted), and the module deletes the released
DataVolumes itself at the end, as an admin would, so the profile can go.
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.support.kube import get_profile, manifest, refusal
from tests.support.profiles import SharedProfile, kubevirt_cr
from tests.support.waiting import eventually
from vmo_operator.api.models import parse_spec
from vmo_operator.components import goldenimages

pytestmark = pytest.mark.integration

GOLDEN = "gi-golden"
MIRROR = "mirror.example.com:5000"
CDI = ("cdi.kubevirt.io", "v1beta1")
FEDORA = {
    "name": "fedora",
    "url": "docker://quay.io/containerdisks/fedora:41",
    "schedule": "0 3 * * 0",
    "importsToKeep": 2,
    "size": "8Gi",
}
CIRROS = {"name": "cirros", "url": "https://example.com/cirros.img", "size": "1Gi"}
ALPINE = {"name": "alpine", "url": "docker://docker.io/library/alpine-disk:3", "size": "2Gi"}
SPEC: dict[str, Any] = {
    "vmNamespaces": {"namespaces": ["gi-vms"], "goldenImageNamespace": GOLDEN},
    "goldenImages": {"registry": MIRROR, "sources": [FEDORA, CIRROS, ALPINE]},
}


def names(spec: dict[str, Any]) -> dict[str, str]:
    """Each source's DataVolume or DataImportCron name, as the operator derives it."""
    golden = parse_spec(spec).golden_images
    return {source.name: goldenimages.import_name(source, golden.registry) for source in golden.sources}


def cdi_object(api: Any, plural: str, name: str) -> dict[str, Any] | None:
    try:
        found = client.CustomObjectsApi(api).get_namespaced_custom_object(*CDI, GOLDEN, plural, name)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return manifest(found)


def write_status(api: Any, plural: str, name: str, status: dict[str, Any]) -> None:
    """What CDI's controllers would write."""
    client.CustomObjectsApi(api).patch_namespaced_custom_object_status(
        *CDI, GOLDEN, plural, name, {"status": status}
    )


def golden_status(api: Any) -> dict[str, Any]:
    return dict((((get_profile(api, "vmo") or {}).get("status")) or {}).get("goldenImages") or {})


def test_sources_become_crons_data_volumes_and_data_sources_from_the_mirror(
    api_client: Any, profile: SharedProfile
) -> None:
    profile.converge(SPEC)
    named = names(SPEC)

    cron = cdi_object(api_client, "dataimportcrons", named["fedora"])
    assert cron is not None
    assert cron["spec"]["managedDataSource"] == "fedora"
    assert cron["spec"]["retentionPolicy"] == "All"
    assert cron["spec"]["schedule"] == "0 3 * * 0"
    assert cron["spec"]["importsToKeep"] == 2
    registry_url = cron["spec"]["template"]["spec"]["source"]["registry"]["url"]
    assert registry_url == f"docker://{MIRROR}/containerdisks/fedora:41"  # the mirror, path kept

    alpine = cdi_object(api_client, "datavolumes", named["alpine"])
    assert alpine is not None
    assert alpine["spec"]["source"]["registry"]["url"] == f"docker://{MIRROR}/library/alpine-disk:3"
    cirros = cdi_object(api_client, "datavolumes", named["cirros"])
    assert cirros is not None
    assert cirros["spec"]["source"] == {"http": {"url": "https://example.com/cirros.img"}}  # not mirrored
    assert cirros["spec"]["storage"]["resources"]["requests"]["storage"] == "1Gi"
    source = cdi_object(api_client, "datasources", "cirros")
    assert source is not None
    assert source["spec"]["source"]["pvc"] == {"name": named["cirros"], "namespace": GOLDEN}


def test_status_follows_what_cdi_reports(api_client: Any, profile: SharedProfile) -> None:
    profile.converge(SPEC)
    named = names(SPEC)
    write_status(
        api_client,
        "datavolumes",
        named["cirros"],
        {
            "phase": "Succeeded",
            "progress": "100.0%",
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-12-01T10:00:00Z"}],
        },
    )
    write_status(api_client, "datasources", "cirros", {"conditions": [{"type": "Ready", "status": "True"}]})
    write_status(api_client, "datavolumes", named["alpine"], {"phase": "Failed"})
    write_status(
        api_client,
        "dataimportcrons",
        named["fedora"],
        {
            "lastImportTimestamp": "2026-12-01T03:00:00Z",
            "conditions": [
                {"type": "UpToDate", "status": "True"},
                {"type": "Progressing", "status": "False"},
            ],
        },
    )

    def reported() -> dict[str, Any] | None:
        found = golden_status(api_client)
        states = {name: found.get(name, {}).get("state") for name in ("fedora", "cirros", "alpine")}
        return found if states == {"fedora": "Ready", "cirros": "Ready", "alpine": "Failed"} else None

    found = eventually(reported, timeout=120, what="status.goldenImages from CDI's status")
    assert found["cirros"]["lastSuccess"] == "2026-12-01T10:00:00Z"
    assert found["cirros"]["dataVolume"] == named["cirros"]
    assert found["fedora"]["lastSuccess"] == "2026-12-01T03:00:00Z"
    assert "lastSuccess" not in found["alpine"]
    component = (get_profile(api_client, "vmo") or {})["status"]["components"]["goldenImages"]
    assert component["reason"] == "ImportFailed"
    assert "alpine" in component["message"]


def test_a_removed_source_releases_its_data_volume_never_deletes_it(
    api_client: Any, profile: SharedProfile
) -> None:
    profile.converge(SPEC)
    named = names(SPEC)
    before = cdi_object(api_client, "datavolumes", named["cirros"])
    assert before is not None
    without = {**SPEC, "goldenImages": {**SPEC["goldenImages"], "sources": [FEDORA, ALPINE]}}
    profile.converge(without)

    kept = cdi_object(api_client, "datavolumes", named["cirros"])
    assert kept is not None, "the released DataVolume was deleted"
    assert not kept["metadata"].get("deletionTimestamp")
    assert kept["spec"] == before["spec"]  # nothing of it changed
    labels = kept["metadata"].get("labels") or {}
    assert "app.kubernetes.io/managed-by" not in labels
    assert labels["vmo.dev/released-from"] == "vmo"
    assert cdi_object(api_client, "datasources", "cirros") is None  # holds no data: deleted

    state = eventually(
        lambda: (
            golden_status(api_client).get(named["cirros"], {}).get("state") == "Released"
            and golden_status(api_client)[named["cirros"]]
        ),
        timeout=120,
        what="status lists the released DataVolume",
    )
    assert "kubectl" in state["message"]


def test_a_source_named_again_takes_its_data_volume_back(api_client: Any, profile: SharedProfile) -> None:
    """A GitOps revert: the same source, the same DataVolume, managed again (no new import)."""
    profile.converge(SPEC)
    named = names(SPEC)
    dv = cdi_object(api_client, "datavolumes", named["cirros"])
    assert dv is not None
    labels = dv["metadata"].get("labels") or {}
    assert labels.get("app.kubernetes.io/managed-by") == "vmo-operator"
    assert "vmo.dev/released-from" not in labels
    assert dv["status"]["phase"] == "Succeeded"  # the very object imported before
    eventually(
        lambda: named["cirros"] not in golden_status(api_client),
        timeout=120,
        what="no longer listed as released",
    )


def test_a_changed_source_is_a_new_import_and_the_old_one_is_kept(
    api_client: Any, profile: SharedProfile
) -> None:
    """CDI refuses spec changes, so a new URL is a new DataVolume; the old disk stays, released."""
    profile.converge(SPEC)
    old = names(SPEC)["alpine"]
    newer = {**ALPINE, "url": "docker://docker.io/library/alpine-disk:4"}
    changed = {**SPEC, "goldenImages": {**SPEC["goldenImages"], "sources": [FEDORA, CIRROS, newer]}}
    profile.converge(changed)
    new = names(changed)["alpine"]
    assert new != old
    assert cdi_object(api_client, "datavolumes", new) is not None
    released = cdi_object(api_client, "datavolumes", old)
    assert released is not None
    assert (released["metadata"].get("labels") or {}).get("vmo.dev/released-from") == "vmo"
    source = cdi_object(api_client, "datasources", "alpine")
    assert source is not None
    assert source["spec"]["source"]["pvc"]["name"] == new


def test_common_instancetypes_follow_the_profile(api_client: Any, profile: SharedProfile) -> None:
    profile.converge({**SPEC, "kubevirt": {"commonInstancetypes": {"enabled": False}}})
    configuration = kubevirt_cr(api_client)["spec"]["configuration"]
    assert configuration["commonInstancetypesDeployment"] == {"enabled": False}
    profile.converge(SPEC)
    configuration = kubevirt_cr(api_client)["spec"]["configuration"]
    assert configuration["commonInstancetypesDeployment"] == {"enabled": True}


@pytest.mark.parametrize(
    ("golden", "more", "field", "reason"),
    [
        (
            {"sources": [{**CIRROS, "url": "ftp://example.com/x.img"}]},
            {},
            "spec.goldenImages.sources[0].url",
            "should match",
        ),
        (
            {"sources": [{**CIRROS, "schedule": "@daily"}]},
            {},
            "spec.goldenImages.sources[0].schedule",
            "only a docker://",
        ),
        (
            {"sources": [{**ALPINE, "importsToKeep": 3}]},
            {},
            "spec.goldenImages.sources[0].importsToKeep",
            "only a scheduled source",
        ),
        ({"sources": [CIRROS, CIRROS]}, {}, "spec.goldenImages.sources[1]", "Duplicate value"),
        (
            {"sources": [{**CIRROS, "name": f"s{i}"} for i in range(17)]},
            {},
            "spec.goldenImages.sources",
            "must have at most 16 items",
        ),
        (
            {"sources": [CIRROS]},
            {"cdi": {"enabled": False}},
            "spec.goldenImages.sources",
            "spec.cdi.enabled: false",
        ),
        ({"registry": "https://mirror"}, {}, "spec.goldenImages.registry", "should match"),
    ],
    ids=[
        "bad-scheme",
        "schedule-on-http",
        "keep-without-schedule",
        "duplicate",
        "too-many",
        "no-cdi",
        "bad-mirror",
    ],
)
def test_bad_golden_images_are_rejected_naming_the_field(
    api_client: Any,
    project_crds: list[str],
    golden: dict[str, Any],
    more: dict[str, Any],
    field: str,
    reason: str,
) -> None:
    message = refusal(api_client, {"goldenImages": golden, **more})
    assert field in message, message
    assert reason.lower() in message.lower(), message


def test_zz_released_data_volumes_are_the_admins_to_delete(api_client: Any, profile: SharedProfile) -> None:
    """Last: the module's profile can only go once no DataVolume is left (BlockUninstallIfWorkloadsExist)."""
    profile.converge({**SPEC, "goldenImages": {"sources": []}})
    custom = client.CustomObjectsApi(api_client)
    for item in manifest(custom.list_namespaced_custom_object(*CDI, GOLDEN, "datavolumes"))["items"]:
        assert (item["metadata"].get("labels") or {}).get("vmo.dev/released-from") == "vmo"
        custom.delete_namespaced_custom_object(*CDI, GOLDEN, "datavolumes", item["metadata"]["name"])
    eventually(
        lambda: not manifest(custom.list_namespaced_custom_object(*CDI, GOLDEN, "datavolumes"))["items"],
        timeout=60,
        what="DataVolumes deleted",
    )
