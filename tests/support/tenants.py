"""Hostile tenants: users who hold only the built-in `edit` role, each in a namespace of their own.

The VM user roles the operator ships (components/vmroles) aggregate into `edit`, so such a user
can create VMs there, as on a real cluster with vmo-operator installed. Every admission path of
the security tests is tried with these credentials, never with the admin's.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from hack.official_client import official_client
from tests.support.waiting import eventually
from vmo_operator.components.vmroles import cluster_roles
from vmo_operator.engine.apply import KindIndex
from vmo_operator.kube import kinds
from vmo_operator.kube.client import KubeClient
from vmo_operator.localenv.controlplane import ControlPlane
from vmo_operator.macpool import duplicates
from vmo_operator.operator.rbac import duplicates_cluster_role


@dataclass(frozen=True)
class Tenant:
    user: str
    namespace: str
    api: Any  # an ApiClient that authenticates as `user`

    @property
    def custom(self) -> Any:
        return client.CustomObjectsApi(self.api)

    def can(self, verb: str, resource: str, group: str = "", namespace: str | None = None) -> bool:
        """What the API server says this user may do (a SelfSubjectAccessReview)."""
        review = client.V1SelfSubjectAccessReview(
            spec=client.V1SelfSubjectAccessReviewSpec(
                resource_attributes=client.V1ResourceAttributes(
                    verb=verb, resource=resource, group=group, namespace=namespace or self.namespace
                )
            )
        )
        answer = client.AuthorizationV1Api(self.api).create_self_subject_access_review(review)
        return answer.status is not None and bool(answer.status.allowed)


def install_vm_roles(admin: Any) -> None:
    """The VM user ClusterRoles, so `edit` includes VirtualMachines as it does with the operator."""
    kube = KubeClient(admin, field_manager="vmo-tests")
    index = KindIndex([kinds.CLUSTER_ROLE])
    for role in cluster_roles():
        kube.apply(index.of(role), role)


def install_duplicates_role(admin: Any) -> None:
    """`vmo-macpool-duplicates` as the chart ships it, for admins to bind."""
    role = duplicates_cluster_role()
    KubeClient(admin, field_manager="vmo-tests").apply(kinds.CLUSTER_ROLE, role)


def grant_duplicates(admin: Any, tenant: Tenant, namespace: str) -> None:
    """What an admin does to let `tenant` use duplicate MACs in `namespace`: a RoleBinding."""
    binding = client.V1RoleBinding(
        metadata=client.V1ObjectMeta(name=f"duplicates-{uuid.uuid4().hex[:6]}"),
        role_ref=client.V1RoleRef(
            api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=duplicates.CLUSTER_ROLE
        ),
        subjects=[client.RbacV1Subject(api_group="rbac.authorization.k8s.io", kind="User", name=tenant.user)],
    )
    client.RbacAuthorizationV1Api(admin).create_namespaced_role_binding(namespace, binding)
    # The authorizer learns bindings from a watch.
    eventually(
        lambda: tenant.can(duplicates.VERB, duplicates.RESOURCE, duplicates.GROUP, namespace),
        timeout=30,
        what=f"{tenant.user} may use duplicate MACs in {namespace}",
    )


@contextmanager
def edit_tenant(plane: ControlPlane, admin: Any, label: str) -> Iterator[Tenant]:
    """A fresh namespace and a user bound to the built-in `edit` role in it, and nowhere else."""
    core = client.CoreV1Api(admin)
    name = f"{label}-{uuid.uuid4().hex[:8]}"
    user = f"{name}@tenants.test"
    core.create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels={"vmo.dev/test": "true"}))
    )
    binding = client.V1RoleBinding(
        metadata=client.V1ObjectMeta(name="tenant-edit"),
        role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="edit"),
        subjects=[client.RbacV1Subject(api_group="rbac.authorization.k8s.io", kind="User", name=user)],
    )
    client.RbacAuthorizationV1Api(admin).create_namespaced_role_binding(name, binding)
    api = official_client(plane.kubeconfig_for(user))
    tenant = Tenant(user, name, api)
    # The aggregation controller fills `edit` in asynchronously after the VM roles appear.
    eventually(
        lambda: tenant.can("create", "virtualmachines", "kubevirt.io"),
        timeout=30,
        what=f"{user} may create VMs in {name}",
    )
    try:
        yield tenant
    finally:
        api.close()
        try:
            core.delete_namespace(name)
        except ApiException as exc:
            if exc.status != 404:
                raise
