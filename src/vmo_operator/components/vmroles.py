"""Four ClusterRoles for the people who use the VM platform: admin, power user, user and viewer.

The tiers follow the Palette VMO pack's out-of-box roles: an admin manages VMs and their
templates; a power user does most VM operations but does not change templates; a user works with
existing VMs (power, console) but does not create, clone, delete or migrate them; a viewer reads.
They cover KubeVirt (VMs, VMIs and their subresources, pools, migrations), KubeVirt snapshots,
exports and clones, instance types and preferences ("templates"), CDI DataVolumes and uploads, and
read access to NetworkAttachmentDefinitions (the VLAN networks the operator publishes).

Aggregation labels fold the tiers into Kubernetes' default roles, so a namespace `admin`, `edit`
or `view` binding already carries the matching VM rights: viewer -> view, power user -> edit and
admin -> admin (`view` aggregates into `edit` and `edit` into `admin`). The user tier sits between
view and edit and matches no default role, so it carries no aggregation label; bind it explicitly.

Subresource verbs are the ones KubeVirt's API serves: `get` for streams and guest-agent reads
(console, vnc, portforward, guestosinfo), `update` for actions (start, stop, migrate, pause).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vmo_operator.components import _health as health
from vmo_operator.components.base import ClusterFacts, ComponentHealth, Observed
from vmo_operator.kube import kinds
from vmo_operator.kube.kinds import Kind
from vmo_operator.kube.objects import Manifest

if TYPE_CHECKING:
    from vmo_operator.api.models import VMOProfileSpec

Rule = dict[str, list[str]]

READ = ["get", "list", "watch"]
WRITE = ["get", "list", "watch", "create", "update", "patch", "delete"]
ADMIN = [*WRITE, "deletecollection"]

KUBEVIRT = "kubevirt.io"
SUBRESOURCES = "subresources.kubevirt.io"
SNAPSHOT = "snapshot.kubevirt.io"
EXPORT = "export.kubevirt.io"
CLONE = "clone.kubevirt.io"
POOL = "pool.kubevirt.io"
INSTANCETYPE = "instancetype.kubevirt.io"
CDI = "cdi.kubevirt.io"
UPLOAD = "upload.cdi.kubevirt.io"
NAD = "k8s.cni.cncf.io"

VM_RESOURCES = [
    "virtualmachines",
    "virtualmachineinstances",
    "virtualmachineinstancemigrations",
    "virtualmachineinstancepresets",
    "virtualmachineinstancereplicasets",
]
SNAPSHOT_RESOURCES = ["virtualmachinerestores", "virtualmachinesnapshotcontents", "virtualmachinesnapshots"]
# "Templates": what a power user consumes but only an admin changes. The cluster-scoped
# instance types and preferences are included, as KubeVirt's own admin role does.
TEMPLATE_RESOURCES = [
    "virtualmachineclusterinstancetypes",
    "virtualmachineclusterpreferences",
    "virtualmachineinstancetypes",
    "virtualmachinepreferences",
]
GOLDEN_IMAGE_RESOURCES = ["dataimportcrons", "datasources"]

GUEST_INFO = [
    "virtualmachineinstances/filesystemlist",
    "virtualmachineinstances/guestosinfo",
    "virtualmachineinstances/userlist",
    "virtualmachines/expand-spec",
]
CONSOLE = [
    "virtualmachineinstances/console",
    "virtualmachineinstances/portforward",
    "virtualmachineinstances/vnc",
    "virtualmachineinstances/vnc/screenshot",
    "virtualmachines/portforward",
]
POWER = [
    "virtualmachineinstances/pause",
    "virtualmachineinstances/softreboot",
    "virtualmachineinstances/unpause",
    "virtualmachines/restart",
    "virtualmachines/start",
    "virtualmachines/stop",
]
# Changing what a VM runs on or with: migration, hotplug volumes, filesystem freeze, memory dumps.
OPERATE = [
    "virtualmachineinstances/addvolume",
    "virtualmachineinstances/freeze",
    "virtualmachineinstances/removevolume",
    "virtualmachineinstances/unfreeze",
    "virtualmachines/addvolume",
    "virtualmachines/memorydump",
    "virtualmachines/migrate",
    "virtualmachines/removevolume",
]


def _rule(group: str, resources: list[str], verbs: list[str]) -> Rule:
    return {"apiGroups": [group], "resources": sorted(resources), "verbs": list(verbs)}


@dataclass(frozen=True)
class VMRole:
    name: str
    description: str
    aggregate_to: tuple[str, ...]
    rules: tuple[Rule, ...]


def _viewer_rules() -> list[Rule]:
    return [
        _rule(KUBEVIRT, VM_RESOURCES, READ),
        _rule(SUBRESOURCES, GUEST_INFO, ["get"]),
        _rule(POOL, ["virtualmachinepools"], READ),
        _rule(SNAPSHOT, SNAPSHOT_RESOURCES, READ),
        _rule(EXPORT, ["virtualmachineexports"], READ),
        _rule(CLONE, ["virtualmachineclones"], READ),
        _rule(INSTANCETYPE, TEMPLATE_RESOURCES, READ),
        _rule(CDI, ["datavolumes", *GOLDEN_IMAGE_RESOURCES], READ),
        _rule(NAD, ["network-attachment-definitions"], READ),
    ]


def _user_rules() -> list[Rule]:
    return [
        *_viewer_rules(),
        _rule(SUBRESOURCES, CONSOLE, ["get"]),
        _rule(SUBRESOURCES, POWER, ["update"]),
    ]


def _power_user_rules(verbs: list[str]) -> list[Rule]:
    return [
        _rule(KUBEVIRT, VM_RESOURCES, verbs),
        _rule(SUBRESOURCES, [*GUEST_INFO, *CONSOLE], ["get"]),
        _rule(SUBRESOURCES, [*POWER, *OPERATE], ["update"]),
        _rule(POOL, ["virtualmachinepools"], verbs),
        _rule(SNAPSHOT, SNAPSHOT_RESOURCES, verbs),
        _rule(EXPORT, ["virtualmachineexports"], verbs),
        _rule(CLONE, ["virtualmachineclones"], verbs),
        _rule(CDI, ["datavolumes"], verbs),
        # CDI checks `create` on datavolumes/source in the source namespace before cloning a PVC.
        _rule(CDI, ["datavolumes/source"], ["create"]),
        _rule(UPLOAD, ["uploadtokenrequests"], ["create"]),
        _rule(NAD, ["network-attachment-definitions"], READ),
    ]


def vm_roles() -> tuple[VMRole, ...]:
    """The four roles, strongest first."""
    power_user = _power_user_rules(WRITE)
    admin = [
        *_power_user_rules(ADMIN),
        _rule(INSTANCETYPE, TEMPLATE_RESOURCES, ADMIN),
        _rule(CDI, GOLDEN_IMAGE_RESOURCES, ADMIN),
    ]
    return (
        VMRole(
            "vmo-vm-admin",
            "Manage VMs, their snapshots, disks and templates (instance types, preferences, golden images).",
            ("admin",),
            tuple(admin),
        ),
        VMRole(
            "vmo-vm-power-user",
            "Create, change, migrate, clone, snapshot and delete VMs; use but not change templates.",
            ("edit",),
            tuple(
                [
                    *power_user,
                    _rule(INSTANCETYPE, TEMPLATE_RESOURCES, READ),
                    _rule(CDI, GOLDEN_IMAGE_RESOURCES, READ),
                ]
            ),
        ),
        VMRole(
            "vmo-vm-user",
            "Use existing VMs: power actions, console and VNC; no create, clone, delete or migrate.",
            (),
            tuple(_user_rules()),
        ),
        VMRole(
            "vmo-vm-viewer",
            "Read VMs, snapshots, disks, templates and networks.",
            ("view",),
            tuple(_viewer_rules()),
        ),
    )


AGGREGATE_LABEL = "rbac.authorization.k8s.io/aggregate-to-{}"
DESCRIPTION_ANNOTATION = "vmo.dev/description"


def role_labels(role: VMRole) -> dict[str, str]:
    return {AGGREGATE_LABEL.format(tier): "true" for tier in role.aggregate_to}


def cluster_roles(labels: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The roles as ClusterRole manifests, with `labels` added to each."""
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {
                "name": role.name,
                "labels": {**(labels or {}), **role_labels(role)},
                "annotations": {DESCRIPTION_ANNOTATION: role.description},
            },
            "rules": [dict(rule) for rule in role.rules],
        }
        for role in vm_roles()
    ]


class VMRolesComponent:
    """The operator creates the four roles with the platform and keeps them as declared."""

    name = "vmRoles"
    title = "VMRoles"
    owned_kinds: tuple[Kind, ...] = (kinds.CLUSTER_ROLE,)

    def enabled(self, spec: VMOProfileSpec, facts: ClusterFacts) -> bool:
        return spec.vm_roles.enabled

    def render(self, spec: VMOProfileSpec, facts: ClusterFacts) -> list[Manifest]:
        return cluster_roles() if self.enabled(spec, facts) else []

    def assess(
        self, spec: VMOProfileSpec, facts: ClusterFacts, rendered: Sequence[Manifest], observed: Observed
    ) -> ComponentHealth:
        if not self.enabled(spec, facts):
            return health.disabled(self.name)
        return health.assess_rendered(self.name, rendered, observed)


VM_ROLES = VMRolesComponent()
