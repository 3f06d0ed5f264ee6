"""`operator.memory.trim`: glibc's malloc_trim, found in the process's own libc."""

from __future__ import annotations

import platform

import pytest

from vmo_operator.operator import memory


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_trim_finds_malloc_trim_in_glibc_and_returns_freed_memory() -> None:
    assert memory._malloc_trim() is not None
    garbage = [bytearray(64 * 1024) for _ in range(256)]  # 16 MiB from malloc, then freed
    del garbage
    memory.trim()  # would raise (ctypes) if the symbol or its signature were wrong
