"""What an admin sees of a VMOProfile is true, local and quiet (issue 13).

`kubectl describe` lists the profile's events and a repeat is counted, not repeated (problem 1);
the status says only what holds now (3); a deletion that waits is plain in `kubectl get` and warns
once (4); kopf's lines name their object and routine ones stay at debug (6); a new profile shows a
status at once (8). The operator is the session's process; the profile is the module's shared one.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import pytest
from kubernetes import client, watch

from tests.support.kube import PROFILE, condition_of, get_profile, manifest, metadata, wait_condition
from tests.support.operator import OperatorProcess
from tests.support.profiles import (
    LogMark,
    SharedProfile,
    create_vm_once_served,
    kubectl,
    kubevirt_cr,
    profile_events,
)
from tests.support.vms import vm_body
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


def test_a_version_change_leaves_nothing_of_the_old_versions_gates_in_the_status(
    api_client: Any, profile: SharedProfile
) -> None:
    on_v19 = profile.converge({})
    assert on_v19["status"]["featureGates"]["translated"]["HotplugVolumes"] == "DeclarativeHotplugVolumes"
    assert condition_of(on_v19, "FeatureGatesChanged")["reason"] == "GatesTranslated"

    on_v17 = profile.converge({"kubevirt": {"version": "v1.7.2", "acceptDowngradeFrom": "v1.9.0"}})

    gates = on_v17["status"]["featureGates"]
    assert "HotplugVolumes" not in gates["translated"], gates
    assert condition_of(on_v17, "FeatureGatesChanged")["status"] == "False"
    written = kubevirt_cr(api_client)["spec"]["configuration"]["developerConfiguration"]["featureGates"]
    assert "HotplugVolumes" in written
    downgrade = eventually(lambda: profile_events(api_client, "KubeVirtDowngrade"), timeout=30, what="event")
    assert "v1.7.2" in downgrade[0]["note"]
    profile.converge({})


def test_a_new_profile_shows_progressing_in_its_very_first_status(
    api_client: Any, profile: SharedProfile
) -> None:
    profile.remove()
    custom = client.CustomObjectsApi(api_client)
    since = manifest(custom.list_cluster_custom_object(*PROFILE))["metadata"]["resourceVersion"]
    profile.create({})
    first = _first_status(custom, since)
    assert first, "the profile never got a status"
    assert first["status"]["phase"] == "Deploying"
    progressing = condition_of(first, "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("True", "Reconciling")
    assert condition_of(first, "Available")["status"] == "Unknown"
    wait_condition(api_client, "vmo", "Available", timeout=180)


def _first_status(custom: client.CustomObjectsApi, since: str) -> dict[str, Any]:
    """The profile "vmo" as it was the first time it carried conditions, from a watch since `since`."""
    stream = watch.Watch()  # type: ignore[no-untyped-call]  # the client's watch is not annotated
    events = stream.stream(  # type: ignore[no-untyped-call]
        custom.list_cluster_custom_object, *PROFILE, resource_version=since, timeout_seconds=120
    )
    for event in events:
        obj = manifest(event["object"])
        if obj["metadata"]["name"] == "vmo" and (obj.get("status") or {}).get("conditions"):
            stream.stop()  # type: ignore[no-untyped-call]
            return obj
    return {}


def test_kopfs_lines_name_their_object_and_routine_ones_are_debug(
    api_client: Any, profile: SharedProfile, operator: OperatorProcess
) -> None:
    profile.converge({})
    mark = LogMark(operator.log_path)
    profile.converge({"kubevirt": {"featureGates": {"add": ["CPUManager"]}}})
    text = mark.text()
    assert re.search(r"\[info\s*\] reconciled .*object=VMOProfile/vmo", text), text[-3000:]
    assert not re.search(r"\[info\s*\] .*succeeded\.", text), "watch events are not news at info"
    for line in text.splitlines():
        if "[kopf.objects]" in line:
            assert "object=" in line, line
    profile.converge({})


def test_a_deletion_blocked_by_vms_is_plain_in_kubectl_get_names_them_all_and_warns_once(
    control_plane: ControlPlane,
    api_client: Any,
    profile: SharedProfile,
    namespace: str,
    operator: OperatorProcess,
) -> None:
    profile.converge({})
    custom = client.CustomObjectsApi(api_client)
    for n in range(9):
        create_vm_once_served(api_client, namespace, vm_body(f"vm-{n}", {}))
    mark = LogMark(operator.log_path)
    custom.delete_cluster_custom_object(*PROFILE, "vmo")

    def blocked() -> dict[str, Any] | None:
        found = get_profile(api_client, "vmo")
        return found if found and found["status"].get("phase") == "RemovalBlocked" else None

    found = eventually(blocked, timeout=60, what="phase RemovalBlocked")
    row = kubectl(control_plane.kubeconfig, "get", "vmoprofiles", "vmo", "--no-headers").split()
    assert row[1:3] == ["RemovalBlocked", "False"], row  # NAME PHASE AVAILABLE ...
    message = condition_of(found, "Available")["message"]
    assert message.count("VirtualMachine ") == 5, message
    assert "and 4 more" in message, message
    assert kubevirt_cr(api_client)["metadata"].get("deletionTimestamp") is None

    # The deletion keeps checking (a VM list each round) without repeating itself.
    def requests() -> float:
        return sum(v for k, v in operator.metrics().items() if k.startswith("vmo_api_requests_total"))

    start = requests()
    eventually(lambda: requests() >= start + 30, timeout=120, what="the deletion checking again and again")
    warnings = profile_events(api_client, "RemovalBlocked")
    assert len(warnings) == 1, warnings
    assert "series" not in warnings[0], warnings
    text = mark.text()
    assert text.count("deletion blocked") == 1, text[-3000:]
    assert not re.search(r"\[error\s*\]", text), text[-3000:]

    for n in range(9):
        custom.delete_namespaced_custom_object("kubevirt.io", "v1", namespace, "virtualmachines", f"vm-{n}")
    eventually(lambda: get_profile(api_client, "vmo") is None, timeout=180, what="profile deleted")
    assert "is cancelled" not in mark.text(), "the reconcile loop exits when asked, it is not cancelled"
