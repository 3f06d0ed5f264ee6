"""Golden images: what each source renders as, the mirror, the status read back from CDI, bad input."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError

from vmo_operator.api import models
from vmo_operator.components import goldenimages as gi
from vmo_operator.components import images, registry
from vmo_operator.components.base import ClusterFacts, render_labelled
from vmo_operator.kube.objects import ON_PRUNE_ANNOTATION, RELEASE_AS_IS, Manifest, ObjectKey
from vmo_operator.operator import inventory

FEDORA = {"name": "fedora", "url": "docker://quay.io/containerdisks/fedora:41", "size": "8Gi"}
CIRROS = {"name": "cirros", "url": "https://example.com/cirros.img", "size": "1Gi"}
SCHEDULED = {**FEDORA, "schedule": "0 3 * * 0", "importsToKeep": 2}


def spec(*sources: dict[str, Any], **more: Any) -> models.VMOProfileSpec:
    return models.parse_spec({"goldenImages": {"sources": list(sources), **more}})


OFFLINE = ClusterFacts()


def rendered(s: models.VMOProfileSpec, facts: ClusterFacts = OFFLINE) -> dict[str, Manifest]:
    return {f"{o['kind']}/{o['metadata']['name']}": o for o in gi.GOLDEN_IMAGES.render(s, facts)}


def by_kind(objects: dict[str, Manifest], kind: str) -> Manifest:
    (found,) = [o for o in objects.values() if o["kind"] == kind]
    return found


# ---------------------------------------------------------------------------------------------- render


def test_a_scheduled_registry_source_is_a_data_import_cron_that_keeps_its_imports() -> None:
    cron = by_kind(rendered(spec(SCHEDULED)), "DataImportCron")
    assert cron["metadata"]["namespace"] == "vmo-golden-images"
    assert cron["metadata"]["name"].startswith("fedora-")
    assert cron["spec"] == {
        "template": {
            "spec": {
                "source": {"registry": {"url": "docker://quay.io/containerdisks/fedora:41"}},
                "storage": {"resources": {"requests": {"storage": "8Gi"}}},
            }
        },
        "schedule": "0 3 * * 0",
        "managedDataSource": "fedora",
        "retentionPolicy": "All",  # CDI's RetainAll: removing the cron keeps disks and DataSource
        "importsToKeep": 2,
    }


def test_an_unscheduled_source_is_a_data_volume_released_as_is_and_a_data_source_naming_it() -> None:
    objects = rendered(spec(CIRROS | {"storageClass": "local-path"}))
    dv, ds = by_kind(objects, "DataVolume"), by_kind(objects, "DataSource")
    assert dv["metadata"]["annotations"][ON_PRUNE_ANNOTATION] == RELEASE_AS_IS
    assert dv["metadata"]["annotations"][gi.IMMEDIATE_BINDING] == "true"
    assert dv["spec"] == {
        "source": {"http": {"url": "https://example.com/cirros.img"}},
        "storage": {"resources": {"requests": {"storage": "1Gi"}}, "storageClassName": "local-path"},
    }
    assert ds["metadata"] == {"name": "cirros", "namespace": "vmo-golden-images"}
    assert ds["spec"] == {
        "source": {"pvc": {"name": dv["metadata"]["name"], "namespace": "vmo-golden-images"}}
    }
    assert ON_PRUNE_ANNOTATION not in (ds["metadata"].get("annotations") or {})  # holds no data


def test_an_unscheduled_registry_source_imports_from_the_registry() -> None:
    dv = by_kind(rendered(spec(FEDORA)), "DataVolume")
    assert dv["spec"]["source"] == {"registry": {"url": "docker://quay.io/containerdisks/fedora:41"}}


def test_the_golden_image_namespace_is_the_vm_namespaces_one() -> None:
    s = models.parse_spec(
        {"goldenImages": {"sources": [CIRROS]}, "vmNamespaces": {"goldenImageNamespace": "img"}}
    )
    assert {o["metadata"]["namespace"] for o in rendered(s).values()} == {"img"}


def test_the_golden_namespace_is_created_even_without_vm_namespaces() -> None:
    s = models.parse_spec({"goldenImages": {"sources": [CIRROS]}, "vmNamespaces": {"namespaces": []}})
    names = [(o["kind"], o["metadata"]["name"]) for o in registry.render_all(s, ClusterFacts(), "p")]
    assert ("Namespace", "vmo-golden-images") in names
    assert ("RoleBinding", "vmo-cdi-clone-source") not in names  # no VM namespace to clone into


def test_names_follow_the_immutable_spec_and_nothing_else() -> None:
    """CDI refuses spec changes: a changed source is a new object, an unchanged one keeps its name."""
    base = gi.import_name(spec(SCHEDULED).golden_images.sources[0], None)
    assert gi.import_name(spec(SCHEDULED).golden_images.sources[0], None) == base
    for changed in (
        {"url": "docker://quay.io/containerdisks/fedora:42"},
        {"size": "9Gi"},
        {"schedule": "@daily"},
        {"importsToKeep": 3},
        {"storageClass": "fast"},
    ):
        assert gi.import_name(spec(SCHEDULED | changed).golden_images.sources[0], None) != base, changed
    assert gi.import_name(spec(SCHEDULED).golden_images.sources[0], "mirror:5000") != base


def test_the_mirror_rewrites_registry_sources_only() -> None:
    objects = rendered(spec(SCHEDULED, CIRROS, registry="mirror.example.com:5000/disks"))
    cron, dv = by_kind(objects, "DataImportCron"), by_kind(objects, "DataVolume")
    url = cron["spec"]["template"]["spec"]["source"]["registry"]["url"]
    assert url == "docker://mirror.example.com:5000/disks/containerdisks/fedora:41"
    assert dv["spec"]["source"] == {"http": {"url": "https://example.com/cirros.img"}}


def test_vmo_images_lists_the_golden_images_as_imported() -> None:
    plain = images.profile_images(spec(SCHEDULED, CIRROS), "p")
    assert "quay.io/containerdisks/fedora:41" in plain
    assert not any("cirros" in name for name in plain)  # an HTTP source is no image
    mirrored = images.profile_images(spec(SCHEDULED, registry="m:5000"), "p")
    assert "m:5000/containerdisks/fedora:41" in mirrored
    assert images.rewrite("quay.io/containerdisks/fedora:41", "m:5000") in mirrored


def test_nothing_is_rendered_until_cdi_serves_its_kinds_nor_when_cdi_is_off() -> None:
    unserved = ClusterFacts(by_component={gi.COMPONENT_NAME: gi.CDIServed(False)})
    assert rendered(spec(CIRROS), unserved) == {}
    assert (
        len(rendered(spec(CIRROS), ClusterFacts(by_component={gi.COMPONENT_NAME: gi.CDIServed(True)}))) == 2
    )
    assert rendered(spec()) == {}


def test_golden_image_kinds_are_profile_named() -> None:
    """Names and namespace come from the profile: unnamed in RBAC, kept to our own objects by policy."""
    for kind in gi.GOLDEN_IMAGES.owned_kinds:
        assert kind in inventory.PROFILE_NAMED


# ---------------------------------------------------------------------------------------------- status


def live(obj: Manifest, status: dict[str, Any]) -> Manifest:
    out = copy.deepcopy(obj)
    out["status"] = status
    return out


def observed_for(s: models.VMOProfileSpec, statuses: dict[str, dict[str, Any]]) -> dict[ObjectKey, Manifest]:
    return {ObjectKey.of(o): live(o, statuses.get(o["kind"], {})) for o in rendered(s).values()}


def states(s: models.VMOProfileSpec, observed: dict[ObjectKey, Manifest], released: Any = ()) -> Any:
    return gi.source_states(s, observed, released)


@pytest.mark.parametrize(
    ("status", "state", "last"),
    [
        ({}, "Pending", None),
        (
            {"conditions": [{"type": "Progressing", "status": "True", "message": "Import is progressing"}]},
            "Importing",
            None,
        ),
        (
            {
                "lastImportTimestamp": "2026-12-01T03:00:00Z",
                "conditions": [
                    {"type": "UpToDate", "status": "True"},
                    {"type": "Progressing", "status": "False"},
                ],
            },
            "Ready",
            "2026-12-01T03:00:00Z",
        ),
        (
            {
                "lastImportTimestamp": "2026-11-24T03:00:00Z",
                "conditions": [{"type": "UpToDate", "status": "False", "reason": "ImportFailed"}],
            },
            "Ready",
            "2026-11-24T03:00:00Z",
        ),
    ],
)
def test_a_scheduled_source_reads_its_cron(status: dict[str, Any], state: str, last: str | None) -> None:
    s = spec(SCHEDULED)
    found = states(s, observed_for(s, {"DataImportCron": status}))["fedora"]
    assert found["state"] == state
    assert found.get("lastSuccess") == last
    assert found["dataImportCron"].startswith("fedora-")


@pytest.mark.parametrize(
    ("dv", "ds", "state", "last"),
    [
        ({}, {}, "Pending", None),
        ({"phase": "ImportInProgress", "progress": "42.0%"}, {}, "Importing", None),
        (
            {"phase": "Failed", "conditions": [{"type": "Running", "status": "False", "message": "404"}]},
            {},
            "Failed",
            None,
        ),
        (
            {
                "phase": "Succeeded",
                "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "T1"}],
            },
            {"conditions": [{"type": "Ready", "status": "False", "reason": "NotFound"}]},
            "Waiting",
            "T1",
        ),
        (
            {
                "phase": "Succeeded",
                "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "T1"}],
            },
            {"conditions": [{"type": "Ready", "status": "True"}]},
            "Ready",
            "T1",
        ),
    ],
)
def test_an_unscheduled_source_reads_its_data_volume_and_data_source(
    dv: dict[str, Any], ds: dict[str, Any], state: str, last: str | None
) -> None:
    s = spec(CIRROS)
    found = states(s, observed_for(s, {"DataVolume": dv, "DataSource": ds}))["cirros"]
    assert (found["state"], found.get("lastSuccess")) == (state, last)
    if state == "Importing":
        assert "42.0%" in found["message"]
    if state == "Failed":
        assert "404" in found["message"]


def test_a_source_not_created_yet_is_pending_and_released_data_volumes_are_listed() -> None:
    s = spec(CIRROS)
    found = states(s, {}, [("vmo-golden-images", "old-1234abcd"), ("elsewhere", "theirs")])
    assert found["cirros"]["state"] == "Pending"
    assert found["old-1234abcd"]["state"] == "Released"
    assert "kubectl -n vmo-golden-images delete dv old-1234abcd" in found["old-1234abcd"]["message"]
    assert "theirs" not in found  # only the golden-image namespace's


def assess(s: models.VMOProfileSpec, facts: ClusterFacts, observed: dict[ObjectKey, Manifest]) -> Any:
    component = gi.GOLDEN_IMAGES
    return component.assess(s, facts, render_labelled(component, s, facts, "p"), observed)


def test_health_failed_import_degrades_an_import_in_progress_progresses() -> None:
    s = spec(CIRROS)
    failed = assess(s, ClusterFacts(), observed_for(s, {"DataVolume": {"phase": "Failed"}}))
    assert (failed.degraded, failed.reason) == (True, "ImportFailed")
    assert "cirros" in failed.message
    busy = assess(s, ClusterFacts(), observed_for(s, {"DataVolume": {"phase": "ImportInProgress"}}))
    assert (busy.ready, busy.progressing, busy.degraded) == (True, True, False)
    fields = gi.GOLDEN_IMAGES.status_fields(s, busy)
    assert fields["goldenImages"]["cirros"]["state"] == "Importing"


def test_health_waits_for_cdi() -> None:
    s = spec(CIRROS)
    unserved = ClusterFacts(by_component={gi.COMPONENT_NAME: gi.CDIServed(False)})
    health = assess(s, unserved, {})
    assert (health.ready, health.reason, health.progressing) == (False, "CDINotReady", True)


# ------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("golden", "more", "field", "words"),
    [
        (
            {"sources": [CIRROS | {"url": "ftp://example.com/x.img"}]},
            {},
            "goldenImages.sources.0.url",
            "match",
        ),
        (
            {"sources": [CIRROS | {"schedule": "@daily"}]},
            {},
            "goldenImages.sources.0",
            "schedule: only a docker://",
        ),
        ({"sources": [FEDORA | {"importsToKeep": 2}]}, {}, "goldenImages.sources.0", "importsToKeep"),
        ({"sources": [CIRROS, CIRROS]}, {}, "goldenImages.sources", "duplicate golden image name"),
        (
            {"sources": [CIRROS | {"name": f"s{i}"} for i in range(17)]},
            {},
            "goldenImages.sources",
            "at most 16",
        ),
        ({"sources": [CIRROS | {"name": "Fedora"}]}, {}, "goldenImages.sources.0.name", "match"),
        ({"sources": [CIRROS | {"size": "lots"}]}, {}, "goldenImages.sources.0.size", "match"),
        ({"sources": [FEDORA | {"schedule": "every day"}]}, {}, "goldenImages.sources.0.schedule", "match"),
        ({"sources": [CIRROS]}, {"cdi": {"enabled": False}}, "", "spec.cdi.enabled: false"),
    ],
)
def test_bad_input_is_refused_naming_the_field(
    golden: dict[str, Any], more: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        models.parse_spec({"goldenImages": golden, **more})
    errors = caught.value.errors()
    located = [".".join(str(p) for p in e["loc"]) for e in errors]
    assert any(loc.startswith(field) for loc in located), located
    assert any(words in e["msg"] for e in errors), [e["msg"] for e in errors]


def test_good_schedules_parse() -> None:
    for schedule in ("0 3 * * 0", "*/15 * * * *", "@daily", "0 0 1 JAN,JUL MON-FRI"):
        assert spec(FEDORA | {"schedule": schedule}).golden_images.sources[0].schedule == schedule


# ------------------------------------------------------------------------------------- instance types


def test_common_instancetypes_are_written_on_by_default_and_off_when_asked() -> None:
    def configuration(kv: dict[str, Any]) -> dict[str, Any]:
        objects = registry.render_all(models.parse_spec({"kubevirt": kv}), ClusterFacts(), "p")
        (cr,) = [o for o in objects if o["kind"] == "KubeVirt"]
        return dict(cr["spec"]["configuration"])

    assert configuration({})["commonInstancetypesDeployment"] == {"enabled": True}
    off = configuration({"commonInstancetypes": {"enabled": False}, "version": "v1.4.1"})
    assert off["commonInstancetypesDeployment"] == {"enabled": False}


def test_a_data_volume_taken_back_is_not_listed_as_released() -> None:
    """A removed source named again: its DataVolume (same spec, same name) is the source's again."""
    s = spec(CIRROS)
    name = gi.import_name(s.golden_images.sources[0], None)
    found = states(s, {}, [("vmo-golden-images", name)])
    assert set(found) == {"cirros"}


def test_vmo_status_prints_the_golden_images() -> None:
    from vmo_operator.operator.statusview import render_status

    profile = {
        "metadata": {"name": "vmo", "generation": 1},
        "status": {
            "goldenImages": {
                "fedora": {"state": "Ready", "lastSuccess": "2026-12-01T03:00:00Z", "message": "up to date"},
                "cirros": {"state": "Importing", "message": "ImportInProgress 42.0%"},
            }
        },
    }
    lines = render_status(profile).splitlines()
    assert any(line.split()[:3] == ["fedora", "Ready", "2026-12-01T03:00:00Z"] for line in lines), lines
    assert any(line.split()[:3] == ["cirros", "Importing", "-"] for line in lines), lines
