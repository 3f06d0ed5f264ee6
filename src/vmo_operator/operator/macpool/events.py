"""Warning Events on the VMs and bare VMIs whose MACs collide, as the audit finds them.

kopf's own event posting is bound to the object a handler runs for; the audit runs for no
object, so these are written directly. One Event per object and colliding MAC per process
lifetime, so an audit every minute does not repeat itself.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import UTC, datetime

import structlog

from vmo_operator.kube import kinds
from vmo_operator.kube.client import KubeClient, KubeError
from vmo_operator.kube.objects import Manifest
from vmo_operator.macpool import audit, reconcile
from vmo_operator.macpool.reservation import Holder

log = structlog.get_logger("vmo.macpool")

REPORTING_COMPONENT = "vmo.dev/macpool"


def collision_event(collision: reconcile.Collision, holder: Holder, now: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{holder.name}.macpool.", "namespace": holder.namespace},
        "involvedObject": {
            "apiVersion": kinds.VIRTUAL_MACHINE.api_version,
            "kind": holder.kind,
            "name": holder.name,
            "namespace": holder.namespace,
            "uid": holder.uid,
        },
        "reason": "MACCollision",
        "type": "Warning",
        "message": audit.collision_message(collision, holder.namespace),
        "source": {"component": "vmo-operator"},
        "reportingComponent": REPORTING_COMPONENT,
        "reportingInstance": os.environ.get("HOSTNAME", "vmo-operator"),
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }


def report_collisions(
    kube: KubeClient, collisions: Iterable[reconcile.Collision], reported: set[tuple[str, str]]
) -> None:
    """One Warning event per object and colliding MAC not in `reported`, which records it."""
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    for collision in collisions:
        for carrier in collision.carriers:
            holder = carrier.holder
            key = (str(collision.mac), holder.uid or f"{holder.namespace}/{holder.name}")
            if key in reported:
                continue
            try:
                kube.create(kinds.EVENT, collision_event(collision, holder, now))
            except KubeError as exc:
                log.warning(
                    "could not record MAC collision event", namespace=holder.namespace, error=str(exc)
                )
                continue
            reported.add(key)
