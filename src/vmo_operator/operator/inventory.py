"""Every object the components can write, by kind, name and namespace: what the operator's RBAC names.

The operator writes operand objects only by server-side apply and deletes them only by name, so
the API server sees the object's name on every write it authorizes (an apply that creates is
authorized as `patch` and as `create`, both with the name). RBAC `resourceNames` can therefore
confine those writes to the objects the components render. This module finds them the only way
that stays true as components change: by rendering every component at every supported minor, with
every optional part switched on, and collecting what comes out.

Three kinds are named or placed by the profile's author, not by the code (a
NetworkAttachmentDefinition per VLAN network, the VolumeSnapshotClasses, the PrometheusRule in the
namespace spec.monitoring names). Their names cannot be listed in a ClusterRole, so
their writes stay unnamed in RBAC and an admission policy (`guards`) keeps the operator off objects
of those kinds that it did not create.

The VM namespaces are named by the profile too, and the role bindings placed in them (fixed names,
profile-chosen namespaces and subjects). Those namespaces are created and labelled but never deleted
(the engine releases them), so namespaces get an unnamed create and patch; the placed objects'
names stay in RBAC, and `guards` says in which namespaces and with which subjects they may be written.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from vmo_operator.api import versions
from vmo_operator.api.models import parse_spec
from vmo_operator.components import registry
from vmo_operator.components.base import ClusterFacts
from vmo_operator.kube import kinds
from vmo_operator.kube.kinds import Kind
from vmo_operator.kube.objects import Manifest, component_of, released_on_prune

# Kinds whose object names or namespaces come from the profile (spec.multus.networks[].name,
# spec.snapshotController.volumeSnapshotClasses[].name, spec.monitoring.namespace, the golden images'
# names and spec.vmNamespaces.goldenImageNamespace).
PROFILE_NAMED: tuple[Kind, ...] = (
    kinds.NETWORK_ATTACHMENT_DEFINITION,
    kinds.VOLUME_SNAPSHOT_CLASS,
    kinds.PROMETHEUS_RULE,
    kinds.DATA_VOLUME,
    kinds.DATA_SOURCE,
    kinds.DATA_IMPORT_CRON,
)

# Everything optional switched on, so every object any profile can produce is rendered at least once.
_EVERYTHING: dict[str, Any] = {
    "dashboard": {"enabled": True},
    "multus": {"networks": [{"name": "inventory", "vlan": 1}]},
    "snapshotController": {
        "mode": "Enabled",
        "volumeSnapshotClasses": [{"name": "inventory", "driver": "inventory.csi.example.com"}],
    },
    "goldenImages": {
        "sources": [
            {
                "name": "inventory",
                "url": "docker://quay.io/inventory/disk:1",
                "size": "1Gi",
                "schedule": "@daily",
            },
            {"name": "inventory-http", "url": "https://example.com/disk.img", "size": "1Gi"},
        ]
    },
    "vmNamespaces": {
        "roleBindings": [
            {"role": role, "groups": ["inventory"]}
            for role in ("vmo-vm-admin", "vmo-vm-power-user", "vmo-vm-user", "vmo-vm-viewer")
        ]
    },
}
# The component whose objects the profile places (see the module docstring).
PLACED_BY_PROFILE = "vmNamespaces"
_VERSION_FIELDS: Mapping[str, versions.SupportedVersions] = {
    "kubevirt": versions.KUBEVIRT,
    "cdi": versions.CDI,
    "multus": versions.MULTUS,
    "descheduler": versions.DESCHEDULER,
    "snapshotController": versions.SNAPSHOT_CONTROLLER,
}


@dataclass(frozen=True)
class ServiceAccountRef:
    namespace: str
    name: str


@dataclass(frozen=True)
class Inventory:
    """What the components can render, summed over every supported version."""

    names: Mapping[Kind, frozenset[str]]  # every rendered name per kind (profile-named kinds excluded)
    namespaces: frozenset[str]  # where namespaced objects go (profile-named kinds excluded)
    binding_subjects: frozenset[ServiceAccountRef]  # every subject of a rendered (Cluster)RoleBinding
    bound_roles: Mapping[str, frozenset[str]]  # roleRef kind ("ClusterRole", "Role") -> names bound
    # Names of the objects placed in profile-chosen namespaces, by kind (RoleBindings, Roles).
    placed: Mapping[Kind, frozenset[str]] = dataclasses.field(default_factory=dict)
    # Kinds with objects pruning releases, never deletes (VM namespaces, golden-image DataVolumes).
    released_kinds: frozenset[Kind] = frozenset()

    def names_of(self, kind: Kind) -> tuple[str, ...]:
        return tuple(sorted(self.names.get(kind, ())))

    def bound_roles_of(self, kind: Kind) -> tuple[str, ...]:
        return tuple(sorted(self.bound_roles.get(kind.kind, ())))


def specs() -> list[dict[str, Any]]:
    """One profile spec per step through the supported minors, all optional parts on.

    Components step together (the i-th minor of each, the newest once a component runs out), so
    each proven minor of every component is rendered at least once.
    """
    steps = max(len(supported.minors) for supported in _VERSION_FIELDS.values())
    out = []
    for step in range(steps):
        spec: dict[str, Any] = {key: dict(value) for key, value in _EVERYTHING.items()}
        for field, supported in _VERSION_FIELDS.items():
            minor = supported.minors[min(step, len(supported.minors) - 1)]
            spec.setdefault(field, {})["version"] = supported.proven[minor]
        out.append(spec)
    return out


def renderings() -> list[Manifest]:
    """Every object of every rendering in `specs`."""
    return [
        obj for spec in specs() for obj in registry.render_all(parse_spec(spec), ClusterFacts(), "inventory")
    ]


@cache
def inventory() -> Inventory:
    return collect(renderings())


def collect(objects: Iterable[Manifest]) -> Inventory:
    by_key = {(kind.api_version, kind.kind): kind for kind in registry.owned_kinds()}
    by_key.update({(k.api_version, k.kind): k for k in (kinds.NAMESPACE, kinds.CRD)})
    names: dict[Kind, set[str]] = {}
    namespaces: set[str] = set()
    subjects: set[ServiceAccountRef] = set()
    bound: dict[str, set[str]] = {}
    placed: dict[Kind, set[str]] = {}
    released: set[Kind] = set()
    for obj in objects:
        kind = by_key[(obj["apiVersion"], obj["kind"])]
        if released_on_prune(obj):
            released.add(kind)  # named by the profile (VM namespaces, golden-image DataVolumes)
            continue
        if kind in PROFILE_NAMED:
            continue
        meta = obj["metadata"]
        if component_of(obj) == PLACED_BY_PROFILE:
            placed.setdefault(kind, set()).add(meta["name"])
            names.setdefault(kind, set()).add(meta["name"])
            if "roleRef" in obj:
                bound.setdefault(obj["roleRef"]["kind"], set()).add(obj["roleRef"]["name"])
            continue
        names.setdefault(kind, set()).add(meta["name"])
        if kind.namespaced:
            namespaces.add(meta["namespace"])
        if "roleRef" in obj:
            bound.setdefault(obj["roleRef"]["kind"], set()).add(obj["roleRef"]["name"])
        for subject in obj.get("subjects") or []:
            if subject["kind"] != "ServiceAccount":
                raise ValueError(
                    f"{obj['kind']} {meta['name']} binds a {subject['kind']}, not a ServiceAccount"
                )
            subjects.add(ServiceAccountRef(subject["namespace"], subject["name"]))
    return Inventory(
        names={kind: frozenset(found) for kind, found in names.items()},
        namespaces=frozenset(namespaces),
        binding_subjects=frozenset(subjects),
        bound_roles={kind: frozenset(found) for kind, found in bound.items()},
        placed={kind: frozenset(found) for kind, found in placed.items()},
        released_kinds=frozenset(released),
    )
