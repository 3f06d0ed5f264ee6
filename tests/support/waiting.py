"""Waiting on conditions with a deadline: the only synchronisation tests are allowed to use."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeoutError(AssertionError):
    pass


# A probe is an API request or more: a long wait polled every 0.2 s cost the API servers and the
# tests' own decoding more CPU than anything it waited for, on a machine whose lanes share 2 cores.
# So the first probes come quickly and the gaps then grow to at most MAX_INTERVAL.
FIRST_INTERVAL = 0.1
MAX_INTERVAL = 1.0
GROWTH = 1.5


def eventually(
    probe: Callable[[], T | None], *, timeout: float = 30.0, interval: float | None = None, what: str = ""
) -> T:
    """Call `probe` until it returns something truthy and return that; fail after `timeout`.

    Exceptions from the probe count as "not yet" until the deadline, then the last one is shown.
    Without `interval`, the gaps between probes grow from FIRST_INTERVAL to MAX_INTERVAL.
    """
    deadline = time.monotonic() + timeout
    gap = FIRST_INTERVAL if interval is None else interval
    last: object = None
    while True:
        try:
            value = probe()
            if value:
                return value
            last = value
        except Exception as exc:  # the API may answer with errors while things converge
            last = exc
        now = time.monotonic()
        if now >= deadline:
            raise WaitTimeoutError(
                f"timed out after {timeout}s waiting for {what or probe!r}; last: {last!r}"
            )
        time.sleep(min(gap, deadline - now))
        if interval is None:
            gap = min(gap * GROWTH, MAX_INTERVAL)
