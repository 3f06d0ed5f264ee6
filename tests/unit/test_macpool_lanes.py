"""The bookkeeping's lanes: one object's watch events in order, different objects' side by side."""

from __future__ import annotations

import functools
import threading
import zlib

from vmo_operator.operator.macpool.bookkeeping import Lanes


def keys_on_different_lanes(count: int) -> tuple[str, str]:
    first = "uid-0"
    lane = zlib.crc32(first.encode()) % count
    other = next(k for n in range(1, 100) if zlib.crc32((k := f"uid-{n}").encode()) % count != lane)
    return first, other


def test_one_objects_events_are_handled_in_the_order_they_came() -> None:
    lanes = Lanes("test", count=4)
    seen: list[int] = []
    done = threading.Event()
    try:
        for n in range(200):
            lanes.submit("uid-a", functools.partial(seen.append, n))
        lanes.submit("uid-a", done.set)
        assert done.wait(10)
        assert seen == list(range(200))
    finally:
        lanes.stop()


def test_a_slow_object_does_not_hold_up_another() -> None:
    lanes = Lanes("test", count=4)
    slow, fast = keys_on_different_lanes(4)
    released = threading.Event()
    finished: list[str] = []
    try:

        def slow_work() -> None:
            if released.wait(10):
                finished.append("slow")

        def fast_work() -> None:
            finished.append("fast")
            released.set()

        # The slow object's work waits for the fast one's: on a single lane that would never happen.
        lanes.submit(slow, slow_work)
        lanes.submit(fast, fast_work)
        assert released.wait(10)
    finally:
        lanes.stop()
    assert finished[0] == "fast"
