"""Running an object's reservations side by side: one API round trip per admission, not one per MAC.

A VM with several new interfaces needs one reservation each; each is a write through the API
server, so they run concurrently. The executor is passed down from the operator, so this package
stays free of any framework and the tests can run the same tasks in turn.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future

from vmo_operator.macpool.allocator import ClaimResult

Task = Callable[[], ClaimResult]
# Runs every task (concurrently or not) and returns each one's result or what it raised, in order.
FanOut = Callable[[Sequence[Task]], list[ClaimResult | BaseException]]


def in_turn(tasks: Sequence[Task]) -> list[ClaimResult | BaseException]:
    """The sequential `FanOut`."""
    results: list[ClaimResult | BaseException] = []
    for task in tasks:
        try:
            results.append(task())
        except BaseException as exc:
            results.append(exc)
    return results


def on_executor(executor: Executor) -> FanOut:
    """A `FanOut` that runs all tasks but the first on `executor`, the first in the calling thread.

    The executor must not be the one the admission decision itself runs in, so a full pool cannot
    deadlock waiting on itself.
    """

    def fan_out(tasks: Sequence[Task]) -> list[ClaimResult | BaseException]:
        if len(tasks) <= 1:
            return in_turn(tasks)
        futures: list[Future[ClaimResult]] = [executor.submit(task) for task in tasks[1:]]
        results = in_turn(tasks[:1])
        for future in futures:
            exc = future.exception()
            results.append(exc if exc is not None else future.result())
        return results

    return fan_out
