"""Running an object's reservations side by side: one API round trip per admission, not one per MAC.

A VM with several new interfaces needs one reservation each; each is a write through the API
server, so they run concurrently. The executor is passed down from the operator, so this package
stays free of any framework and the tests can run the same tasks in turn.

Both fan-outs honour the request's deadline: a task that has not started when it passes is not
started (its outcome is `DeadlineExceededError`), and the executor fan-out stops waiting at the
deadline. A task still running then finishes on its own; its reservation is handed to `undo` as
soon as it is made, because the request it was for has already been answered.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Protocol

from vmo_operator.macpool.allocator import Claimed, ClaimResult
from vmo_operator.macpool.deadline import NO_DEADLINE, Deadline, DeadlineExceededError

Task = Callable[[], ClaimResult]
Outcome = ClaimResult | BaseException
# Reverts reservations nobody will use (`Allocator.revert`).
Undo = Callable[[Sequence[Claimed]], None]


def _ignore(_claims: Sequence[Claimed]) -> None:
    """The default `Undo` of callers that abandon nothing (the sequential fan-out never does)."""


class FanOut(Protocol):
    """Runs every task (concurrently or not); each one's result or what it raised, in order."""

    def __call__(
        self, tasks: Sequence[Task], *, deadline: Deadline = ..., undo: Undo = ...
    ) -> list[Outcome]: ...


def _run(task: Task, deadline: Deadline) -> Outcome:
    try:
        deadline.check()
        return task()
    except BaseException as exc:
        return exc


def in_turn(
    tasks: Sequence[Task], *, deadline: Deadline = NO_DEADLINE, undo: Undo = _ignore
) -> list[Outcome]:
    """The sequential `FanOut`: it runs in the caller's thread, so nothing outlives the call."""
    return [_run(task, deadline) for task in tasks]


class _Batch:
    """One request's tasks on the executor; after the deadline, late results are undone.

    The lock makes "the request takes this result" and "the request has left, undo it" exclusive,
    so every reservation is either returned to the caller or undone, exactly once.
    """

    def __init__(self, size: int, deadline: Deadline, undo: Undo) -> None:
        self.deadline = deadline
        self.undo = undo
        self.outcomes: dict[int, Outcome] = {}
        self.size = size
        self.abandoned = False
        self.lock = threading.Lock()
        self.all_done = threading.Event()

    def run(self, index: int, task: Task) -> None:
        outcome = _run(task, self.deadline)
        with self.lock:
            if not self.abandoned:
                self.outcomes[index] = outcome
                if len(self.outcomes) == self.size:
                    self.all_done.set()
                return
        if isinstance(outcome, Claimed):
            self.undo([outcome])

    def collect(self) -> list[Outcome]:
        """Every outcome so far; those still missing count as out of time, and will be undone."""
        remaining = self.deadline.remaining()
        self.all_done.wait(timeout=remaining if math.isfinite(remaining) else None)
        with self.lock:
            self.abandoned = True
            outcomes = dict(self.outcomes)
        late = DeadlineExceededError("MAC allocation did not finish within the admission deadline")
        return [outcomes.get(index, late) for index in range(self.size)]


def on_executor(executor: Executor) -> FanOut:
    """A `FanOut` that runs all tasks but the first on `executor`, the first in the calling thread.

    The executor must not be the one the admission decision itself runs in, so a full pool cannot
    deadlock waiting on itself.
    """

    def fan_out(
        tasks: Sequence[Task], *, deadline: Deadline = NO_DEADLINE, undo: Undo = _ignore
    ) -> list[Outcome]:
        if len(tasks) <= 1:
            return in_turn(tasks, deadline=deadline)
        batch = _Batch(len(tasks), deadline, undo)
        futures = [executor.submit(batch.run, index, task) for index, task in enumerate(tasks) if index]
        batch.run(0, tasks[0])
        outcomes = batch.collect()
        for future in futures:
            future.cancel()  # not started yet: it never will be
        return outcomes

    return fan_out
