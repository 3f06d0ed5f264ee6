"""Every container image a profile will pull, for mirroring into an air-gapped registry (`vmo images`).

Two sources, both pure. First, every image the rendered manifests name: `image:` fields of pod
templates and the `*_IMAGE` environment variables through which an operator is told its operands
(cdi-operator's CONTROLLER_IMAGE and so on). Walking `registry.render_all` output, the very output
`vmo render` prints, means the list cannot drift from what is applied. Second, the images an operator
derives on its own and that no rendered manifest names: virt-operator builds
`<imageRegistry>/<name>:<imageTag>` for its operands from the KubeVirt CR (or, without those fields,
from its own image), so those names are derived here from version facts and the rendered CR.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from vmo_operator.api import versions
from vmo_operator.api.models import VMOProfileSpec
from vmo_operator.components import _mirror, registry
from vmo_operator.components.base import ClusterFacts
from vmo_operator.kube.objects import Manifest

# Images virt-operator starts itself, by the first KubeVirt minor that has them. Facts from upstream's
# source in the Go module cache (kubevirt.io/kubevirt@<release>/pkg/virt-operator/resource/generate/
# components: deployments.go and daemonsets.go name the deployments and the handler DaemonSet, and
# build the launcher and export server images from the same registry, prefix and tag):
# - virt-api, virt-controller, virt-handler, virt-launcher, virt-exportproxy and virt-exportserver
#   in every supported release (v1.4.1 on); the export proxy runs while the VMExport gate is on
#   (in the default set), the export server is a pod it starts per export;
# - virt-synchronization-controller from v1.6.1 (VirtSynchronizationControllerName), run only while
#   the DecentralizedLiveMigration gate is on, listed anyway so that turning the gate on later does
#   not need another mirror run.
# Left out on purpose: virt-template-apiserver/-controller (v1.8 on, only with an additional property
# this operator never sets) and the optional helper images (libguestfs-tools, pr-helper,
# sidecar-shim), pulled only for features the profile does not model.
KUBEVIRT_OPERANDS: tuple[tuple[str, tuple[int, int]], ...] = (
    ("virt-api", (1, 4)),
    ("virt-controller", (1, 4)),
    ("virt-handler", (1, 4)),
    ("virt-launcher", (1, 4)),
    ("virt-exportproxy", (1, 4)),
    ("virt-exportserver", (1, 4)),
    ("virt-synchronization-controller", (1, 6)),
)
# cdi-operator is told every operand image by environment: containerized-data-importer v1.61.1 and
# v1.65.0 pass CONTROLLER_IMAGE, IMPORTER_IMAGE, CLONER_IMAGE, APISERVER_IMAGE, UPLOAD_SERVER_IMAGE,
# UPLOAD_PROXY_IMAGE and OVIRT_POPULATOR_IMAGE through (pkg/operator/resources/operator/operator.go
# and namespaced/controller.go), and cdi-controller starts importer, cloner and upload server pods
# from them; so the rendered Deployment's environment already names them all, and this list only
# lets the tests prove that.
CDI_OPERANDS = (
    "cdi-apiserver",
    "cdi-controller",
    "cdi-uploadproxy",
    "cdi-importer",
    "cdi-cloner",
    "cdi-uploadserver",
)

_IMAGE_ENV = re.compile(r"^[A-Z0-9_]*_IMAGE$")


def kubevirt_operands(version: str) -> tuple[str, ...]:
    """The image names (without registry or tag) virt-operator `version` starts itself; every one
    when `version` is no release tag (an override may set any tag), since a missing mirror is worse
    than an extra one."""
    try:
        minor = versions.parse(version)[:2]
    except ValueError:
        return tuple(name for name, _ in KUBEVIRT_OPERANDS)
    return tuple(name for name, since in KUBEVIRT_OPERANDS if minor >= since)


def _walk(node: Any) -> Iterator[str]:
    """Image references anywhere in one manifest: containers' `image` and `*_IMAGE` env values."""
    if isinstance(node, dict):
        if isinstance(node.get("image"), str) and "name" in node:  # a container, not a CR field
            yield node["image"]
        if isinstance(node.get("value"), str) and _IMAGE_ENV.match(str(node.get("name", ""))):
            yield node["value"]
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def rendered_images(manifests: Iterable[Manifest]) -> set[str]:
    return {image for manifest in manifests for image in _walk(manifest)}


def _split(image: str) -> tuple[str, str]:
    """`registry/name:tag` -> (`registry`, `tag`); the registry keeps any path before the name."""
    reference, _, tag = image.rpartition(":")
    return reference.rpartition("/")[0], tag


def started_images(manifests: Iterable[Manifest]) -> set[str]:
    """Images virt-operator derives itself, as it does: from the KubeVirt CR's imageRegistry and
    imageTag, falling back to the registry and tag of its own (rendered) image."""
    objects = list(manifests)
    operator = next(
        (
            c["image"]
            for m in objects
            if m.get("kind") == "Deployment" and m["metadata"]["name"] == "virt-operator"
            for c in m["spec"]["template"]["spec"]["containers"]
        ),
        None,
    )
    cr = next((m for m in objects if m.get("kind") == "KubeVirt"), None)
    if operator is None or cr is None:
        return set()
    own_registry, own_tag = _split(operator)
    body = cr.get("spec") or {}
    where = str(body.get("imageRegistry") or own_registry).rstrip("/")
    tag = str(body.get("imageTag") or own_tag)
    return {f"{where}/{name}:{tag}" for name in kubevirt_operands(tag)}


def _registry_urls(node: Any) -> Iterator[str]:
    """CDI registry sources anywhere in one manifest: `source.registry.url`."""
    if isinstance(node, dict):
        source = node.get("registry")
        if isinstance(source, dict) and isinstance(source.get("url"), str):
            yield source["url"]
        for value in node.values():
            yield from _registry_urls(value)
    elif isinstance(node, list):
        for value in node:
            yield from _registry_urls(value)


def imported_images(manifests: Iterable[Manifest]) -> set[str]:
    """Images CDI imports as disks (golden images from a registry), as the importer pulls them."""
    found = set()
    for manifest in manifests:
        if manifest.get("kind") not in ("DataVolume", "DataImportCron"):
            continue
        for url in _registry_urls(manifest.get("spec")):
            image = _mirror.image_of(url)
            if image:
                found.add(image)
    return found


def profile_images(spec: VMOProfileSpec, profile: str) -> list[str]:
    """Every image `spec` will pull, sorted and without duplicates, from what `vmo render` prints."""
    manifests = registry.render_all(spec, ClusterFacts(), profile)
    return sorted(rendered_images(manifests) | started_images(manifests) | imported_images(manifests))


rewrite = _mirror.rewrite  # the CLI's --registry: the same rule the golden images' mirror follows
