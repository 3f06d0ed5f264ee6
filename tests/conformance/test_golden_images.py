"""Golden images and common instance types against upstream's own source, per proven release.

- The golden images' DataImportCron, DataVolume and DataSource decode strictly with CDI's own CRD
  schemas (`pkg/operator/resources/crds_generated.go`), and the values CDI gives meaning to as Go
  constants (the retention policy) are upstream's (kubevirt.io/containerized-data-importer-api,
  `pkg/apis/core/v1beta1/types.go`).
- The instance type and preference the examples use exist in the common-instancetypes bundles
  virt-operator deploys (kubevirt.io/kubevirt, `pkg/virt-operator/resource/generate/components/data`, the file
  virt-operator embeds)
  at every proven KubeVirt release, and the golden-image example clones a DataSource the pack-knobs
  example profile imports.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conformance import gosource, kubevirt_upstream, render, schema, upstream
from vmo_operator.api import versions

ROOT = Path(__file__).parents[2]
CDI_API = "kubevirt.io/containerized-data-importer-api"
CDI_RELEASES = [pytest.param(release, id=release) for release in versions.CDI.proven.values()]
KUBEVIRT_RELEASES = [pytest.param(release, id=release) for release in versions.KUBEVIRT.proven.values()]
GOLDEN: dict[str, Any] = {
    "registry": "mirror.example.com:5000",
    "sources": [
        {
            "name": "fedora",
            "url": "docker://quay.io/containerdisks/fedora:41",
            "schedule": "0 3 * * 0",
            "importsToKeep": 2,
            "size": "8Gi",
            "storageClass": "local-path",
        },
        {"name": "cirros", "url": "https://example.com/cirros.img", "size": "1Gi"},
        {"name": "alpine", "url": "docker://docker.io/library/alpine-disk:3", "size": "2Gi"},
    ],
}
CRD_KEYS = {"DataImportCron": "dataimportcron", "DataVolume": "datavolume", "DataSource": "datasource"}


def _crd(release: str, key: str) -> dict[str, Any]:
    path = upstream.module_dir(upstream.CDI, release) / "pkg/operator/resources/crds_generated.go"
    crd: dict[str, Any] = yaml.safe_load(gosource.string_map_entry(path, "CDICRDs", key))
    return crd


@pytest.mark.parametrize("release", CDI_RELEASES)
def test_golden_image_objects_conform_to_cdis_schemas(release: str) -> None:
    objects = render.rendered("goldenImages", {"cdi": {"version": release}, "goldenImages": GOLDEN})
    assert {o["kind"] for o in objects} == set(CRD_KEYS)
    for obj in objects:
        crd = _crd(release, CRD_KEYS[obj["kind"]])
        group, _, version = obj["apiVersion"].partition("/")
        assert group == crd["spec"]["group"]
        (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version and v["served"]]
        wrong = schema.violations(obj, served["schema"]["openAPIV3Schema"])
        assert not wrong, f"{obj['kind']} {obj['metadata']['name']} at CDI {release}: {wrong}"


@pytest.mark.parametrize("release", CDI_RELEASES)
def test_the_retention_policy_keeps_what_was_imported(release: str) -> None:
    types = (upstream.module_dir(CDI_API, release) / "pkg/apis/core/v1beta1/types.go").read_text()
    match = re.search(r'DataImportCronRetainAll\s+DataImportCronRetentionPolicy\s*=\s*"([^"]+)"', types)
    assert match is not None, "DataImportCronRetainAll is gone upstream"
    objects = render.rendered("goldenImages", {"cdi": {"version": release}, "goldenImages": GOLDEN})
    (cron,) = [o for o in objects if o["kind"] == "DataImportCron"]
    assert cron["spec"]["retentionPolicy"] == match.group(1)


def _bundle_names(release: str, bundle: str) -> set[str]:
    # data/<bundle> up to v1.7, data/common-instancetypes/<bundle> from v1.8: wherever it is, once.
    data = kubevirt_upstream.root(release) / "pkg/virt-operator/resource/generate/components/data"
    (path,) = data.rglob(bundle)
    return {
        str(doc["metadata"]["name"])
        for doc in yaml.safe_load_all(path.read_text())
        if isinstance(doc, dict) and "metadata" in doc
    }


def _example(name: str) -> dict[str, Any]:
    found: dict[str, Any] = yaml.safe_load((ROOT / "examples" / name).read_text())
    return found


@pytest.mark.parametrize("example", ["vm-instancetype.yaml", "vm-golden-image.yaml"])
@pytest.mark.parametrize("release", KUBEVIRT_RELEASES)
def test_the_examples_instancetype_and_preference_are_deployed_by_kubevirt(
    release: str, example: str
) -> None:
    spec = _example(example)["spec"]
    assert spec["instancetype"]["kind"] == "VirtualMachineClusterInstancetype"
    assert spec["preference"]["kind"] == "VirtualMachineClusterPreference"
    assert spec["instancetype"]["name"] in _bundle_names(release, "common-clusterinstancetypes-bundle.yaml")
    assert spec["preference"]["name"] in _bundle_names(release, "common-clusterpreferences-bundle.yaml")


def test_the_golden_image_example_clones_a_source_the_example_profile_imports() -> None:
    profile = _example("vmoprofile-pack-knobs.yaml")["spec"]
    namespace = profile["vmNamespaces"]["goldenImageNamespace"]
    sources = {s["name"] for s in profile["goldenImages"]["sources"]}
    vm = _example("vm-golden-image.yaml")
    (template,) = vm["spec"]["dataVolumeTemplates"]
    ref = template["spec"]["sourceRef"]
    assert (ref["kind"], ref["namespace"]) == ("DataSource", namespace)
    assert ref["name"] in sources
    assert vm["metadata"]["namespace"] in profile["vmNamespaces"]["namespaces"]  # may clone from there
