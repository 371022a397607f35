"""Process resources: what a long command (a build) does so its peak RSS is what
it holds, not what it once held; and the processor cores it may use."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator


def usable_cores() -> int:
    """The processor cores this process may use (its affinity on Linux), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def return_freed_memory() -> None:
    """Make memory a command frees go back to the system at once, so its peak is what it
    holds, not what it once held: glibc maps blocks of 1 MB and more on their own and trims its
    heap (instead of keeping freed memory for later), and Arrow allocates through the system
    allocator (its own pool keeps freed memory). Measured on a 1,000,000-row Parquet table
    read and stored as float32: 936 MB peak before, 719 MB after. Elsewhere than Linux with
    glibc it does nothing."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 1 << 20)  # M_TRIM_THRESHOLD
    with contextlib.suppress(ImportError, NotImplementedError):
        import pyarrow as pa

        pa.set_memory_pool(pa.system_memory_pool())


_PAGES_LOCK = threading.Lock()
_PAGES_USERS = 0  # the blocks of small_pages() running, in any thread
_PAGES_BEFORE = True


@contextlib.contextmanager
def small_pages() -> Iterator[None]:
    """Inside the block, numpy does not ask the kernel to back its large arrays with huge
    pages (it does so for every array of 4 MB and more). Batch scoring allocates its chunks'
    arrays again and again, and the kernel clears each fresh huge page whole when it is first
    touched: on 600,000 rows of 44 columns, 3.5-4.0 s instead of 3.8-4.4 s in four rounds of
    five (medians of 7 runs; no gain in the fifth), system CPU 1.5-1.7 s instead of 1.8-2.4 s
    (docs/benchmarks.md, "Chunks' arrays on small pages"). Blocks in several threads nest; the
    setting is restored when the last ends. Without numpy's switch (another numpy), nothing
    changes."""
    global _PAGES_USERS, _PAGES_BEFORE
    try:
        from numpy._core.multiarray import _set_madvise_hugepage  # type: ignore[attr-defined]
    except ImportError:
        yield
        return
    with _PAGES_LOCK:
        if _PAGES_USERS == 0:
            _PAGES_BEFORE = bool(_set_madvise_hugepage(False))
        _PAGES_USERS += 1
    try:
        yield
    finally:
        with _PAGES_LOCK:
            _PAGES_USERS -= 1
            if _PAGES_USERS == 0:
                _set_madvise_hugepage(_PAGES_BEFORE)
