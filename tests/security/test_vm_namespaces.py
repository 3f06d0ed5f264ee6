"""VM namespaces against hostile tenants: what spec.vmNamespaces sets up grants nothing a tenant can
steer. Clone rights in the golden-image namespace follow the spec's list, never a label; a tenant
cannot label its namespace into the list, rewrite the bindings, or borrow another namespace's account.

The objects are the ones the vmNamespaces component renders, applied as the operator would.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.support.tenants import Tenant
from tests.support.waiting import eventually
from vmo_operator.api import models
from vmo_operator.components import vmnamespaces
from vmo_operator.components.base import ClusterFacts
from vmo_operator.engine.apply import KindIndex
from vmo_operator.kube import kinds
from vmo_operator.kube.client import KubeClient

pytestmark = pytest.mark.integration


def review(api: Any, attributes: dict[str, str], user: str = "", groups: list[str] | None = None) -> bool:
    """A SubjectAccessReview for `user` (as the admin asks), or a SelfSubjectAccessReview."""
    resource = client.V1ResourceAttributes(**attributes)
    if user:
        body = client.V1SubjectAccessReview(
            spec=client.V1SubjectAccessReviewSpec(user=user, groups=groups, resource_attributes=resource)
        )
        answer = client.AuthorizationV1Api(api).create_subject_access_review(body)
        return answer.status is not None and bool(answer.status.allowed)
    self_body = client.V1SelfSubjectAccessReview(
        spec=client.V1SelfSubjectAccessReviewSpec(resource_attributes=resource)
    )
    mine = client.AuthorizationV1Api(api).create_self_subject_access_review(self_body)
    return mine.status is not None and bool(mine.status.allowed)


def clone_from(golden: str) -> dict[str, str]:
    return {
        "verb": "create",
        "group": "cdi.kubevirt.io",
        "resource": "datavolumes",
        "subresource": "source",
        "namespace": golden,
    }


def default_account_may_clone(admin: Any, namespace: str, golden: str) -> bool:
    account = f"system:serviceaccount:{namespace}:default"
    groups = ["system:serviceaccounts", f"system:serviceaccounts:{namespace}"]
    return review(admin, clone_from(golden), account, groups)


@pytest.fixture
def golden(api_client: Any, tenant_a: Tenant) -> Iterator[str]:
    """tenant_a's namespace as the one VM namespace, set up as the operator sets it up."""
    name = f"golden-{uuid.uuid4().hex[:8]}"
    spec = models.parse_spec(
        {
            "vmNamespaces": {
                "namespaces": [tenant_a.namespace],
                "goldenImageNamespace": name,
                "roleBindings": [{"role": "vmo-vm-user", "groups": ["vm-users"]}],
            }
        }
    )
    kube = KubeClient(api_client, field_manager="vmo-tests")
    index = KindIndex([kinds.NAMESPACE, kinds.ROLE, kinds.ROLE_BINDING])
    for obj in vmnamespaces.VM_NAMESPACES.render(spec, ClusterFacts()):
        kube.apply(index.of(obj), obj)
    eventually(
        lambda: default_account_may_clone(api_client, tenant_a.namespace, name),
        timeout=30,
        what="the VM namespace's default account may clone",
    )
    yield name
    client.CoreV1Api(api_client).delete_namespace(name)


def test_a_label_earns_no_clone_rights_and_a_tenant_cannot_set_it(
    api_client: Any, golden: str, tenant_b: Tenant
) -> None:
    namespace_patch = {
        "verb": "patch",
        "resource": "namespaces",
        "namespace": tenant_b.namespace,
        "name": tenant_b.namespace,
    }
    assert not review(tenant_b.api, namespace_patch)
    label = {"metadata": {"labels": {vmnamespaces.VM_NAMESPACE_LABEL: "true"}}}
    with pytest.raises(ApiException) as denied:
        client.CoreV1Api(tenant_b.api).patch_namespace(tenant_b.namespace, label)
    assert denied.value.status == 403
    # Even labelled by an admin, a namespace not in the spec's list may not clone.
    client.CoreV1Api(api_client).patch_namespace(tenant_b.namespace, label)
    assert not default_account_may_clone(api_client, tenant_b.namespace, golden)


def test_a_tenant_in_a_vm_namespace_cannot_rewrite_the_bindings_or_reach_into_the_golden_images(
    golden: str, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    rbac = "rbac.authorization.k8s.io"
    # Which namespaces are VM namespaces is the profile's to say, and the profile is an admin's.
    for verb in ("create", "patch", "update"):
        assert not tenant_a.can(verb, "vmoprofiles", "vmo.dev"), verb
    for verb in ("create", "patch", "delete"):
        for where in (golden, tenant_a.namespace):
            assert not tenant_a.can(verb, "rolebindings", rbac, where), (verb, where)
        assert not tenant_a.can(verb, "roles", rbac, golden), verb
    for verb in ("get", "list", "create", "delete"):
        assert not tenant_a.can(verb, "persistentvolumeclaims", "", golden), verb
        assert not tenant_a.can(verb, "datavolumes", "cdi.kubevirt.io", golden), verb
        # The golden images themselves (spec.goldenImages): published, refreshed and kept by the operator.
        assert not tenant_a.can(verb, "datasources", "cdi.kubevirt.io", golden), verb
        assert not tenant_a.can(verb, "dataimportcrons", "cdi.kubevirt.io", golden), verb
    # The clone right belongs to the VM namespace's default account, which tenant_b cannot borrow.
    impersonate = {"verb": "impersonate", "resource": "serviceaccounts", "namespace": tenant_a.namespace}
    assert not review(tenant_b.api, {**impersonate, "name": "default"})
    assert not review(tenant_b.api, clone_from(golden))
