"""What an admin sees of a VMOProfile is true, local and quiet (issue 13).

`kubectl describe` lists the profile's events and a repeat is counted, not repeated (problem 1).
The operator is the session's process; the profile is the module's shared one.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest
from kubernetes import client

from tests.support.kube import metadata, wait_condition
from tests.support.profiles import (
    SharedProfile,
    kubectl,
    profile_events,
)
from tests.support.waiting import eventually
from vmo_operator.localenv.controlplane import ControlPlane

pytestmark = pytest.mark.integration


def _deployment_replaced(apps: client.AppsV1Api, name: str, namespace: str, old_uid: str | None) -> bool:
    return metadata(apps.read_namespaced_deployment(name, namespace)).uid != old_uid


def test_kubectl_describe_lists_the_profiles_events_and_a_repeat_is_counted_not_repeated(
    control_plane: ControlPlane, api_client: Any, profile: SharedProfile
) -> None:
    profile.converge({})
    apps = client.AppsV1Api(api_client)
    note = "Deployment kube-system/descheduler was deleted outside the operator and has been restored"

    def overwritten() -> list[dict[str, Any]]:
        return [e for e in profile_events(api_client, "Overwritten") if e["note"] == note]

    def counted(times: int) -> bool:
        found = overwritten()
        return bool(found) and (found[0].get("series") or {}).get("count", 1) >= times

    for occurrence in (1, 2):
        wait_condition(api_client, "vmo", "Available", timeout=120)
        uid = metadata(apps.read_namespaced_deployment("descheduler", "kube-system")).uid
        apps.delete_namespaced_deployment("descheduler", "kube-system")
        eventually(
            functools.partial(_deployment_replaced, apps, "descheduler", "kube-system", uid),
            timeout=60,
            what=f"descheduler restored ({occurrence})",
        )
        eventually(
            functools.partial(counted, occurrence),
            timeout=60,
            what=f"Overwritten event counted {occurrence} times",
        )

    (event,) = overwritten()
    assert event["type"] == "Warning"
    assert event["metadata"]["namespace"] == "default"
    assert "namespace" not in event["regarding"], "a cluster-scoped object's events regard no namespace"
    assert event["series"]["count"] >= 2

    described = kubectl(control_plane.kubeconfig, "describe", "vmoprofile", "vmo")
    events_section = described.split("\nEvents:", 1)[1]
    assert "<none>" not in events_section, described
    assert "Overwritten" in events_section
    assert "Applied" in events_section
