"""The admission deadline: the moment after which the API server no longer waits for our answer.

The API server gives each webhook call `timeoutSeconds` (see `admission_config`) and then fails
the request (failurePolicy Fail). Anything we reserve after that moment serves nobody: the object
will never be persisted, so the reservation would sit Pending until the grace period reclaims it.
A request therefore carries a `Deadline`; the allocator checks it before every write, the fan-out
stops waiting at it, and whatever was written by then is undone at once.

Pure: the clock is a parameter, monotonic by default (wall-clock jumps must not move a deadline).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

Clock = Callable[[], float]


class DeadlineExceededError(Exception):
    """The request's time is up: stop, write nothing more, undo what was written."""


@dataclass(frozen=True)
class Deadline:
    at: float  # on `clock`'s scale; math.inf for none
    clock: Clock = field(default=time.monotonic, compare=False)

    @classmethod
    def after(cls, seconds: float, clock: Clock = time.monotonic) -> Deadline:
        return cls(clock() + seconds, clock)

    def remaining(self) -> float:
        """Seconds left, never negative; math.inf without a deadline."""
        return max(0.0, self.at - self.clock()) if math.isfinite(self.at) else math.inf

    def passed(self) -> bool:
        return math.isfinite(self.at) and self.clock() >= self.at

    def check(self, doing: str = "MAC allocation") -> None:
        if self.passed():
            raise DeadlineExceededError(
                f"{doing} did not finish within the admission deadline; nothing was reserved, retry"
            )


NO_DEADLINE = Deadline(math.inf)
