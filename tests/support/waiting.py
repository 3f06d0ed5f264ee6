"""Waiting on conditions with a deadline: the only synchronisation tests are allowed to use."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeoutError(AssertionError):
    pass


def eventually(
    probe: Callable[[], T | None], *, timeout: float = 30.0, interval: float = 0.2, what: str = ""
) -> T:
    """Call `probe` until it returns something truthy and return that; fail after `timeout`.

    Exceptions from the probe count as "not yet" until the deadline, then the last one is shown.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = probe()
            if value:
                return value
            last = value
        except Exception as exc:  # the API may answer with errors while things converge
            last = exc
        if time.monotonic() >= deadline:
            raise WaitTimeoutError(
                f"timed out after {timeout}s waiting for {what or probe!r}; last: {last!r}"
            )
        time.sleep(interval)
