"""Deleting a VMOProfile: remove every component, or say plainly, once, what the deletion waits for.

kopf's on.delete handler, behind the profile's finalizer. It stays in one call until the removal is
done instead of failing and being retried: a handler that fails every few seconds is an error log
line and an Event every few seconds, while an admin only needs to know when the blockers change.
The status meanwhile reads `Deleting` or `RemovalBlocked` (phase, Available=False) so that
`kubectl get vmoprofiles` does not show a profile on its way out as Available.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import kopf
import structlog

from vmo_operator.api import profiles
from vmo_operator.components import registry
from vmo_operator.engine import reconcile as engine
from vmo_operator.engine.status import deletion_status, status_patch
from vmo_operator.kube import kinds
from vmo_operator.kube.client import KubeClient, KubeError
from vmo_operator.operator import dashboard_tls

if TYPE_CHECKING:
    from vmo_operator.operator.handlers import Runtime

log = structlog.get_logger("vmo.profile")
REMOVAL_POLL_SECONDS = 2.0


def _is_active(kube: KubeClient, name: str) -> bool:
    active = profiles.active_profile(kube.list(kinds.PROFILE))
    return active is None or active["metadata"]["name"] == name


def write_deletion_status(
    kube: KubeClient, profile: Mapping[str, Any], *, blocked: str = "", remaining: int = 0
) -> None:
    previous = profile.get("status") or {}
    generation = int(profile.get("metadata", {}).get("generation", 0))
    desired = deletion_status(
        previous, generation, engine.now_rfc3339(), blocked=blocked, remaining=remaining
    )
    fields = status_patch(previous, desired)
    if fields:
        kube.patch_status(kinds.PROFILE, str(profile["metadata"]["name"]), fields, live=previous)


def _fresh(kube: KubeClient, name: str, fallback: dict[str, Any]) -> dict[str, Any]:
    return kube.get(kinds.PROFILE, name) or fallback


async def profile_deleted(shared: Runtime, body: kopf.Body, name: str, **_: Any) -> None:
    kube = shared.kube
    profile = dict(body)
    if not await asyncio.to_thread(_is_active, kube, name):
        return  # an inactive profile never installed anything
    reported = ""
    while True:
        try:
            result = await asyncio.to_thread(engine.teardown, kube, profile, registry.components())
            if result.blocked_by:
                message = (
                    "uninstallStrategy BlockUninstallIfWorkloadsExist keeps every component while these "
                    f"exist: {result.blocked_by}"
                )
                await asyncio.to_thread(write_deletion_status, kube, profile, blocked=message)
                if message != reported:
                    log.info("deletion blocked", object=f"VMOProfile/{name}", blocked_by=result.blocked_by)
                    await asyncio.to_thread(
                        shared.events.warning, profile, "RemovalBlocked", message, "Delete"
                    )
                    reported = message
                await asyncio.sleep(shared.config.retry_seconds)
            elif not result.done:
                await asyncio.to_thread(write_deletion_status, kube, profile, remaining=result.remaining)
                await asyncio.sleep(REMOVAL_POLL_SECONDS)
            else:
                await asyncio.to_thread(dashboard_tls.remove, kube, shared.dashboard_tls)
                note = "every component was removed"
                await asyncio.to_thread(shared.events.normal, profile, "Removed", note, "Delete")
                log.info("removed", object=f"VMOProfile/{name}")
                return
            profile = await asyncio.to_thread(_fresh, kube, name, profile)
        except KubeError as exc:
            raise kopf.TemporaryError(
                f"removal failed, will retry: {exc}", delay=shared.config.retry_seconds
            ) from exc
