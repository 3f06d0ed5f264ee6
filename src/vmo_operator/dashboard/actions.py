"""The VM actions: what each asks the API server for, and when it is offered (pure).

A button is offered only when the VM's state makes sense for it and a SelfSubjectAccessReview,
asked with the user's own token, allowed its verb. That is a courtesy, not the guard: the request
itself also goes out with the user's token, so a forced POST meets the API server's own 403.

Restart deletes the VMI, which is what virt-api's `restart` subresource does; the VM's run
strategy (Always) then makes virt-controller start a new one. The subresource is not used because
it needs virt-api reachable through the aggregation layer, which a cluster may not have yet.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from vmo_operator.dashboard.views import VMRow
from vmo_operator.kube import kinds
from vmo_operator.kube.kinds import Kind
from vmo_operator.kube.objects import Manifest

GROUP = "kubevirt.io"


@dataclass(frozen=True)
class Permission:
    """One resource attribute a SelfSubjectAccessReview asks about, in a namespace."""

    verb: str
    resource: str
    group: str = GROUP


@dataclass(frozen=True)
class Action:
    name: str
    label: str
    permission: Permission
    applies: Callable[[VMRow], bool]
    danger: bool = False
    # Asks for a typed confirmation page first instead of acting on one click.
    confirm: bool = False


ACTIONS: tuple[Action, ...] = (
    Action("start", "Start", Permission("patch", "virtualmachines"), lambda r: not r.meant_to_run),
    Action("stop", "Stop", Permission("patch", "virtualmachines"), lambda r: r.meant_to_run),
    Action("restart", "Restart", Permission("delete", "virtualmachineinstances"), lambda r: r.has_instance),
    Action(
        "migrate",
        "Migrate",
        Permission("create", "virtualmachineinstancemigrations"),
        lambda r: r.has_instance and r.migratable,
    ),
    Action(
        "delete", "Delete", Permission("delete", "virtualmachines"), lambda r: True, danger=True, confirm=True
    ),
)
BY_NAME: Mapping[str, Action] = {action.name: action for action in ACTIONS}
PERMISSIONS: tuple[Permission, ...] = tuple(dict.fromkeys(action.permission for action in ACTIONS))
LIST_VMS = Permission("list", "virtualmachines")
WATCH_VMS = Permission("watch", "virtualmachines")


def access_review(permission: Permission, namespace: str) -> Manifest:
    """The SelfSubjectAccessReview for `permission` in `namespace` ("" = every namespace)."""
    attributes = {"verb": permission.verb, "resource": permission.resource, "group": permission.group}
    if namespace:
        attributes["namespace"] = namespace
    return {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "metadata": {},
        "spec": {"resourceAttributes": attributes},
    }


def allowed(answer: Mapping[str, Any] | None) -> bool:
    """Whether an answered review allows; an explicit deny, or no answer at all, does not."""
    status = (answer or {}).get("status") or {}
    return bool(status.get("allowed")) and not status.get("denied")


def offered(row: VMRow, permitted: frozenset[Permission]) -> tuple[Action, ...]:
    """The actions shown for `row`: those its state allows and the user's reviews permitted."""
    return tuple(a for a in ACTIONS if a.permission in permitted and a.applies(row))


@dataclass(frozen=True)
class Operation:
    """One API request an action makes, as data, so the server only executes it."""

    method: Literal["merge_patch", "create", "delete"]
    kind: Kind
    namespace: str
    name: str = ""
    body: Manifest | None = None

    def describe(self) -> str:
        return f"{self.method} {self.kind.kind} {self.namespace}/{self.name}".rstrip("/")


def operation(action: str, namespace: str, name: str) -> Operation:
    """What `action` on VM `namespace/name` sends; raises KeyError for an unknown action."""
    vm = kinds.VIRTUAL_MACHINE
    if action == "start":
        return Operation("merge_patch", vm, namespace, name, {"spec": {"runStrategy": "Always"}})
    if action == "stop":
        return Operation("merge_patch", vm, namespace, name, {"spec": {"runStrategy": "Halted"}})
    if action == "restart":
        return Operation("delete", kinds.VIRTUAL_MACHINE_INSTANCE, namespace, name)
    if action == "migrate":
        migration = {
            "apiVersion": "kubevirt.io/v1",
            "kind": "VirtualMachineInstanceMigration",
            "metadata": {"generateName": f"{name[:40]}-migration-", "namespace": namespace},
            "spec": {"vmiName": name},
        }
        return Operation("create", kinds.VIRTUAL_MACHINE_INSTANCE_MIGRATION, namespace, "", migration)
    if action == "delete":
        return Operation("delete", vm, namespace, name)
    raise KeyError(action)


def done_message(action: str, name: str, result: Mapping[str, Any] | None) -> str:
    """What the user is told once the API server accepted the request."""
    if action == "migrate":
        created = ((result or {}).get("metadata") or {}).get("name", "")
        return f"Migration {created} of {name} created."
    verbs = {"start": "set to run (runStrategy Always)", "stop": "set to halt (runStrategy Halted)"}
    if action in verbs:
        return f"{name} {verbs[action]}."
    if action == "restart":
        return f"The instance of {name} was deleted; its VM starts a new one."
    return f"{name} is being deleted."
