"""Restarting kopf's reactor in-process, for the cases where its view of the API goes stale.

kopf learns which resources exist from API discovery and re-scans a group only when one of its
CRDs changes. When KubeVirt is removed and installed again, that re-scan can run before discovery
serves the new VirtualMachine API; no later CRD event comes, so kopf keeps answering 404 to the
MAC webhooks (and the API server, with failurePolicy Fail, refuses every VM create). A handler
that sees this asks for a restart here; `main` stops kopf through its stop flag and starts it
again, which re-reads discovery.

kopf's stop flag is an asyncio.Event made inside kopf's own event loop (`stop_flag`), never a
threading.Event: kopf waits for a threading.Event in an executor thread that nothing wakes when
kopf stops on SIGTERM, and asyncio.run joins that thread on its way out, so the process never
exited by itself and was killed at the end of its grace period.

kopf installs its own SIGTERM handler only once its loop runs; a SIGTERM before that (the kubelet
stops a pod that is still starting) would end the process by the signal's default action, and one
between two runs of a restart would too. `catch_signals` covers those gaps: the signal becomes a
stop like any other, and the run about to start ends at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from types import FrameType

import structlog

log = structlog.get_logger("vmo.reactor")


class Reactor:
    """One per process, built by `vmo run`: kopf's stop flag and the way to ask for a restart."""

    def __init__(self) -> None:
        self.restart_requested = threading.Event()
        """Set when a restart was asked for; `main` clears it before each run of kopf."""
        self.stopping = threading.Event()
        """Set by a SIGTERM or SIGINT that came while kopf's own handlers were not installed."""
        self.caught_signal = ""
        self._lock = threading.Lock()
        self._running: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None

    def stop_flag(self) -> asyncio.Event:
        """kopf's stop flag for one run; call it inside the loop kopf runs in."""
        flag = asyncio.Event()
        with self._lock:
            self._running = (asyncio.get_running_loop(), flag)
            if self.restart_requested.is_set() or self.stopping.is_set():  # asked before this run
                flag.set()
        return flag

    def catch_signals(self) -> None:
        """Turn SIGTERM and SIGINT into a stop until kopf installs its own handlers (main thread)."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        # No logging here: a handler runs between two bytecodes of the main thread, which may be
        # inside the logger holding its lock. `main` says it once the run has ended.
        self.caught_signal = signal.Signals(signum).name
        self.stopping.set()
        with self._lock:
            running = self._running
        if running is not None:
            with contextlib.suppress(RuntimeError):
                running[0].call_soon_threadsafe(running[1].set)

    def request_restart(self, reason: str) -> None:
        """Stop kopf gracefully so that `main` starts it again; callable from any thread."""
        if not self.restart_requested.is_set():
            log.warning("restarting the reactor", reason=reason)
        self.restart_requested.set()
        with self._lock:
            running = self._running
        if running is not None:
            loop, flag = running
            with contextlib.suppress(RuntimeError):  # that loop has closed: kopf has stopped already
                loop.call_soon_threadsafe(flag.set)

    async def release(self, **_: object) -> None:
        """kopf's cleanup handler: raise this run's flag without asking for a restart.

        kopf waits up to 5 s for tasks still running after its own have stopped, and its waiter on
        an unraised stop flag is one of them; raised here, a SIGTERM ends the process at once.
        """
        with self._lock:
            running = self._running
        if running is not None:
            running[1].set()
