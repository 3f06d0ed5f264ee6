"""Give the heap pages Python and OpenSSL freed back to the operating system.

glibc keeps freed memory in its arenas for reuse; after a burst of large allocations (an audit
round lists every VM and VMI, a first list of 10,000 reservations), a long-lived process's RSS
stays at the burst's high-water mark although the memory is free. `malloc_trim` returns it. On a
libc without it (musl) this does nothing.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim  # the process's own libc
    except (OSError, AttributeError):
        return None
    return trim


def trim() -> None:
    """Return free heap memory to the OS (glibc), at the cost of a walk over the heap."""
    malloc_trim = _malloc_trim()
    if malloc_trim is not None:
        malloc_trim(0)
