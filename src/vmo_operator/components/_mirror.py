"""Pulling an image from a mirror: the one rewrite rule, shared by `vmo images --registry` (operand
images) and the golden images' docker:// sources, so what the air-gap list prints is exactly what the
importer pulls."""

from __future__ import annotations

DOCKER = "docker://"


def rewrite(image: str, new_registry: str) -> str:
    """`image` pulled from `new_registry` instead: the registry host is replaced, the repository path
    kept (quay.io/kubevirt/virt-api:v1 -> mirror:5000/kubevirt/virt-api:v1). A profile points at such a
    mirror by setting a component's `registry` to the mirror plus that path (mirror:5000/kubevirt).

    A first path segment without a dot or a port (and not localhost) is no host: the image is on
    Docker Hub, whose repository path is the whole name (library/ for a bare one).
    """
    first, _, rest = image.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        path = rest
    elif rest:
        path = image
    else:
        path = f"library/{image}"
    return f"{new_registry.rstrip('/')}/{path}"


def rewrite_url(url: str, new_registry: str | None) -> str:
    """A CDI registry source (`docker://image`) pulled from `new_registry`; other URLs unchanged."""
    if not new_registry or not url.startswith(DOCKER):
        return url
    return DOCKER + rewrite(url.removeprefix(DOCKER), new_registry)


def image_of(url: str) -> str | None:
    """The image a `docker://` URL names, None for any other URL (HTTP sources are no images)."""
    return url.removeprefix(DOCKER) if url.startswith(DOCKER) else None
