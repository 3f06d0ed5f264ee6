"""Restarting kopf's reactor in-process, for the cases where its view of the API goes stale.

kopf learns which resources exist from API discovery and re-scans a group only when one of its
CRDs changes. When KubeVirt is removed and installed again, that re-scan can run before discovery
serves the new VirtualMachine API; no later CRD event comes, so kopf keeps answering 404 to the
MAC webhooks (and the API server, with failurePolicy Fail, refuses every VM create). A handler
that sees this asks for a restart here; `main` stops kopf through its stop flag and starts it
again, which re-reads discovery.
"""

from __future__ import annotations

import threading

import structlog

log = structlog.get_logger("vmo.reactor")


class Reactor:
    """One per process, built by `vmo run`: kopf's stop flag and the way to ask for a restart."""

    def __init__(self) -> None:
        self.restart_requested = threading.Event()
        """kopf's stop flag: set, kopf shuts down gracefully and `main` starts it again."""

    def request_restart(self, reason: str) -> None:
        if not self.restart_requested.is_set():
            log.warning("restarting the reactor", reason=reason)
        self.restart_requested.set()
