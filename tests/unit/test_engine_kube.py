"""How the engine classifies API errors."""

from __future__ import annotations

from vmo_operator.kube.client import KubeError

TERMINATING = (
    'serviceaccounts "kubevirt-operator" is forbidden: unable to create new content in namespace '
    "kubevirt because it is being terminated"
)


def test_a_namespace_being_terminated_is_something_to_wait_for() -> None:
    assert KubeError(403, "Forbidden", TERMINATING).namespace_terminating
    assert not KubeError(
        403, "Forbidden", 'deployments.apps is forbidden: User "x" cannot create'
    ).namespace_terminating
    assert not KubeError(422, "Invalid", "spec.replicas: Invalid value").namespace_terminating
