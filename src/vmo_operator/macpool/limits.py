"""What one request and one tenant may cost the MAC pool, and the checks that run before any write.

Every reservation is an object in the API server and an entry in each replica's cache, so a
request's cost is bounded before anything is reserved:

- at most `MAX_INTERFACES` interfaces per VM or VMI: KubeVirt's own limit, so no object KubeVirt
  would accept is refused;
- a CREATE whose name the API server will reject is refused here, before reserving: the mutating
  webhook runs before the API server validates the name, so without this check every such create
  left one Pending reservation per interface behind until the grace period;
- at most `maxReservationsPerNamespace` reservations per namespace (`quota_message`; the count
  comes from the replica's reservation cache, `macpool.cache`).

Pure: plain objects in, a message out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Protocol

from vmo_operator.macpool import mac as macs

# KubeVirt's limit on interfaces per VMI (and so per VM template): the `+kubebuilder:validation:
# MaxItems:=256` marker on `Devices.Interfaces` in kubevirt.io/api core/v1/schema.go (upstream
# staging/src/kubevirt.io/api/core/v1/schema.go, e.g. kubevirt.io/api@v1.5.1 line 458), which
# becomes `maxItems: 256` in the VirtualMachine and VirtualMachineInstance CRDs virt-operator
# installs. tests/conformance/test_kubevirt_limits.py reads it at every supported release.
MAX_INTERFACES = 256

# metadata.name of a custom resource: a DNS-1123 subdomain (apiextensions-apiserver validates it
# with `NameIsDNSSubdomain`, as for most built-in kinds).
MAX_NAME_LENGTH = 253
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# generateName: the API server keeps at most this much of the prefix and appends 5 random
# lowercase alphanumerics (apiserver names.SimpleNameGenerator).
_GENERATED_PREFIX_MAX = 58
_GENERATED_SUFFIX = "x" * 5

PROFILE_FIELD = "spec.macPool.maxReservationsPerNamespace"


def name_problem(name: str) -> str | None:
    if len(name) > MAX_NAME_LENGTH:
        return f"must be no more than {MAX_NAME_LENGTH} characters"
    if not _DNS_SUBDOMAIN.match(name):
        return (
            "must consist of lower case alphanumeric characters, '-' or '.', and must start and end "
            "with an alphanumeric character (a DNS-1123 subdomain)"
        )
    return None


def _shown(text: str) -> str:
    return text if len(text) <= 64 else f"{text[:61]}..."


def precheck(operation: str, interfaces: int, old_interfaces: int, obj: Mapping[str, Any]) -> str | None:
    """Why the API server (or KubeVirt) will refuse this object anyway, or None.

    Cheap checks on what admission has in hand, run before any reservation is made. An UPDATE is
    held to the interface limit only when it adds interfaces: an object from before the limit
    (created while the webhook was absent) must still be able to shed its finalizers.
    """
    if interfaces > MAX_INTERFACES and interfaces > old_interfaces:
        return (
            f"the object has {interfaces} interfaces; KubeVirt allows at most {MAX_INTERFACES} "
            "(spec.domain.devices.interfaces)"
        )
    if operation != "CREATE":
        return None  # a name never changes after the create
    meta = obj.get("metadata") or {}
    name, generate = str(meta.get("name") or ""), str(meta.get("generateName") or "")
    if name:
        problem = name_problem(name)
        return f'metadata.name "{_shown(name)}" is invalid: {problem}' if problem else None
    if generate:
        problem = name_problem(generate[:_GENERATED_PREFIX_MAX] + _GENERATED_SUFFIX)
        return f'metadata.generateName "{_shown(generate)}" is invalid: {problem}' if problem else None
    return "metadata.name or metadata.generateName is required"


class QuotaError(Exception):
    """The namespace quota refuses a request; `code` is the HTTP status admission answers with."""

    code = 403


class QuotaExceededError(QuotaError):
    pass


class QuotaUnavailableError(QuotaError):
    """The replica cannot count yet (its reservation cache is still loading): retry."""

    code = 503


class NamespaceQuota(Protocol):
    def hold(
        self, namespace: str, wanted: Sequence[macs.Mac | None], limit: int
    ) -> AbstractContextManager[bool]:
        """Count `wanted` (a MAC to claim, or None for one to allocate) against the namespace for
        the duration of the block; raises `QuotaError` on entry when they do not fit. The block
        gets whether the namespace is far enough from its limit for spares (`macpool.spares`),
        which other replicas cannot count until they are written."""


def hold(
    quota: NamespaceQuota | None, namespace: str, wanted: Sequence[macs.Mac | None], limit: int
) -> AbstractContextManager[bool]:
    """`quota.hold(...)`, or a block that counts nothing when there is no quota or nothing wanted."""
    if quota is None or not wanted:
        return nullcontext(True)
    return quota.hold(namespace, wanted, limit)


def quota_message(namespace: str, held: int, needed: int, limit: int) -> str:
    """The denial when a request would take a namespace past its reservation limit."""
    return (
        f'namespace "{namespace}" holds {held} MAC reservations and this request needs {needed} more, '
        f"over the limit of {limit} per namespace ({PROFILE_FIELD}). Delete unused VMs (released MACs "
        "count until their grace period ends), or ask an administrator to raise the limit"
    )
