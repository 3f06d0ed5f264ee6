"""The status is computed whole: every field an earlier round wrote is gone once its cause is.

The API server applies a status write as a JSON merge patch (RFC 7386), which keeps every nested
key the patch does not mention. These tests apply the operator's writes with that rule and check
that what is stored afterwards is exactly what the round computed, for every status field.
"""

from __future__ import annotations

import copy
import dataclasses
from datetime import UTC, datetime
from typing import Any

from vmo_operator.api import models
from vmo_operator.components import registry
from vmo_operator.components.base import ComponentHealth
from vmo_operator.engine.status import (
    ReconcileFacts,
    build_status,
    component_contributions,
    deletion_status,
    interim_status,
    status_patch,
)
from vmo_operator.kube import kinds
from vmo_operator.kube.client import KubeClient
from vmo_operator.kube.objects import replacing_merge_patch
from vmo_operator.macpool import audit


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386, as the API server applies `application/merge-patch+json`."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def stored_after(stored: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
    """The status the API server holds after the operator writes `desired` over `stored`."""
    fields = status_patch(stored, desired)
    patch = {key: replacing_merge_patch(stored.get(key), value) for key, value in fields.items()}
    result: dict[str, Any] = merge_patch(stored, patch)
    return result


def paths(value: Any, prefix: str = "") -> set[str]:
    if isinstance(value, dict):
        found = {prefix} if prefix else set()
        for key, sub in value.items():
            found |= paths(sub, f"{prefix}.{key}")
        return found
    return {prefix}


def round_status(
    spec: dict[str, Any], previous: dict[str, Any], facts: ReconcileFacts, unhealthy: str = ""
) -> dict[str, Any]:
    parsed = models.parse_spec(spec)
    components = registry.components()
    healths = []
    for component in components:
        health = ComponentHealth(component.name, enabled=True, ready=True, version="v1.9.0")
        if component.name == unhealthy:
            health = dataclasses.replace(health, ready=False, degraded=True, message="ApplyFailed: 422")
        healths.append(health)
    fields, extra = component_contributions(components, parsed, healths)
    titled = [(c.title, h) for c, h in zip(components, healths, strict=True)]
    return build_status(previous, titled, facts, now="T", extra=fields, extra_conditions=extra)


TROUBLED_SPEC = {"kubevirt": {"featureGates": {"add": ["Foo", "DockerSELinuxMCSWorkaround"]}}}
TROUBLED_FACTS = ReconcileFacts(
    3,
    blocked={"network vlan-20 in namespace a": "still used by VirtualMachine a/vm"},
    waiting=["NetworkAttachmentDefinition b/vlan-10: namespace b does not exist yet"],
    failed=["Deployment kube-system/descheduler: Invalid: spec.template"],
)


def test_every_field_a_troubled_round_wrote_is_cleared_when_the_trouble_is_gone() -> None:
    troubled = round_status(TROUBLED_SPEC, {}, TROUBLED_FACTS, unhealthy="descheduler")
    macpool = {"webhookReady": True, "allocated": 3}
    stored = {**troubled, "macPool": macpool}
    # The trouble is gone: KubeVirt v1.7 translates nothing, nothing unknown, nothing blocked.
    clean = round_status({"kubevirt": {"version": "v1.7.2", "enabled": False}}, stored, ReconcileFacts(4))

    after = stored_after(stored, clean)

    assert after == {**clean, "macPool": macpool}, (
        "macPool is the MAC pool's; the rest is exactly this round's"
    )
    gone = paths(troubled) - paths(clean)
    assert gone, "the troubled status had fields the clean one lacks"
    assert not gone & paths(after)
    assert "featureGates" not in after
    types = {c["type"] for c in after["conditions"]}
    assert {"FeatureGatesRecognized", "FeatureGatesChanged"}.isdisjoint(types)
    assert after["phase"] == "Deployed"


def test_a_gate_translated_for_one_version_is_not_kept_for_another() -> None:
    v19 = round_status({}, {}, ReconcileFacts(1))
    assert v19["featureGates"]["translated"]["HotplugVolumes"] == "DeclarativeHotplugVolumes"
    v17 = round_status({"kubevirt": {"version": "v1.7.2"}}, v19, ReconcileFacts(2))
    after = stored_after(v19, v17)
    assert "HotplugVolumes" not in after["featureGates"]["translated"]
    assert after == v17


def test_interim_and_deletion_states_are_cleared_by_the_next_round() -> None:
    clean = round_status({}, {}, ReconcileFacts(1))
    interim = interim_status(clean, 2, "T")
    assert interim is not None
    edited = stored_after(clean, interim)
    assert edited["observedGeneration"] == 1, "generation 2 is not reconciled yet"
    assert stored_after(edited, round_status({}, edited, ReconcileFacts(2))) == round_status(
        {}, edited, ReconcileFacts(2)
    )
    blocked = stored_after(clean, deletion_status(clean, 1, "T", blocked="VirtualMachine a/vm"))
    assert blocked["phase"] == "RemovalBlocked"
    assert stored_after(blocked, round_status({}, blocked, ReconcileFacts(1)))["phase"] == "Deployed"


def test_a_new_profile_shows_progressing_before_its_first_reconcile() -> None:
    interim = interim_status({}, 1, "T")
    assert interim is not None
    state = {c["type"]: (c["status"], c["reason"]) for c in interim["conditions"]}
    assert state["Progressing"] == ("True", "Reconciling")
    assert state["Available"] == ("Unknown", "Reconciling")
    assert interim_status(round_status({}, {}, ReconcileFacts(1)), 1, "T") is None


class RecordingStatusClient(KubeClient):
    def __init__(self, live: dict[str, Any]) -> None:
        super().__init__(api_client=None)
        self.live = live
        self.sent: list[dict[str, Any]] = []

    def get(self, kind: Any, name: str, namespace: str = "") -> dict[str, Any]:
        return {"status": copy.deepcopy(self.live)}

    def _call(self, verb: str, method: str, path: str, **kw: Any) -> Any:
        assert (verb, method, path) == ("patch", "PATCH", "/apis/vmo.dev/v1alpha1/vmoprofiles/vmo/status")
        self.sent.append(kw["body"])
        self.live = merge_patch({"status": self.live}, kw["body"])["status"]
        return {}


def test_the_mac_pools_message_goes_when_the_webhook_answers() -> None:
    """The MAC pool writes status.macPool alone, without the live status in hand."""
    kube = RecordingStatusClient({"conditions": [], "macPool": {}})
    waiting = audit.status_of(None, webhook_ready=False, message="the webhook does not answer yet")
    kube.patch_status(kinds.PROFILE, "vmo", {"macPool": waiting})
    assert kube.live["macPool"]["message"]
    report = audit.AuditReport(
        at=datetime(2026, 1, 1, tzinfo=UTC), objects=0, usage=audit.PoolUsage(0, 0, {"02": 10}), collisions=()
    )
    kube.patch_status(kinds.PROFILE, "vmo", {"macPool": audit.status_of(report, webhook_ready=True)})
    assert kube.live["macPool"]["webhookReady"] is True
    assert "message" not in kube.live["macPool"]
    assert kube.live["conditions"] == [], "fields not written are left alone"


def test_an_invalid_spec_is_judged_once_not_shown_as_progressing_every_round() -> None:
    invalid = build_status({}, [], ReconcileFacts(2, spec_error="spec.multus: bad"), now="T")
    assert "observedGeneration" not in invalid
    assert interim_status(invalid, 2, "T") is None
