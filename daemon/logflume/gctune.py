"""Memory settings of the processes that run the hot path (the daemon and its worker processes).

Two allocators matter. Python's cyclic garbage collector: the hot path allocates millions of
short-lived acyclic dicts, and with the default thresholds collections of the young generation
cost as much as parsing. And the C allocator (glibc malloc): a chunk of a megabyte and the
events decoded from it are allocated and freed over and over; by default glibc gives large
blocks back to the kernel as soon as they are freed (mmap threshold, heap trimming), so the next
chunk faults the same pages in again — a third of a worker's time in page faults
(bench/transfer.py, and ``minflt`` in ``getrusage``). Keeping freed memory for reuse costs no
more than the peak the process reached anyway.
"""

from __future__ import annotations

import ctypes
import gc
import platform

# glibc's mallopt parameters (malloc.h) and the largest mmap threshold it accepts on 64 bits.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024**2
TRIM_THRESHOLD = 64 * 1024**2
# The same, for a process started with them in its environment (glibc reads them at start).
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD), "MALLOC_TRIM_THRESHOLD_": str(TRIM_THRESHOLD)}


def tune_gc() -> None:
    """Make the cyclic GC rare (see the module docstring)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def tune_malloc() -> bool:
    """Let glibc keep freed blocks up to 32 MiB for reuse instead of returning them at once;
    False where the C library is not glibc (nothing changed)."""
    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        # The process's own symbols include the C library's; find_library would run ldconfig.
        libc = ctypes.CDLL(None)
    except OSError:
        return False
    mallopt = libc.mallopt
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    mmap_set: int = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    trim_set: int = mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    return mmap_set == 1 and trim_set == 1
