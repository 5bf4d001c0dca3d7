"""Chunks to a worker through shared memory: a ring buffer the daemon writes and the worker reads.

Through the pipe alone, a 1 MiB chunk does not fit beside the frame around it (a pipe holds
1 MiB at most), so every chunk waited for the daemon's event loop to refill the pipe while the
worker sat idle — a third of the workers' time at full load. Through the ring, the daemon copies
the whole chunk at once (a memcpy), sends only a small frame naming where it is, and the worker
copies it out as soon as it reads the frame; the pipe carries frames of a few hundred bytes.

The ring is an anonymous file (``memfd_create``) mapped by both processes, inherited by the
worker as a file descriptor: nothing to clean up when either process dies. Its first 8 bytes are
the *tail*, how far the worker has copied out (a 64-bit counter only the worker writes); the
daemon alone keeps the *head*. Regions are taken and freed in order (a worker takes its chunks in
the order they were sent), so ``head - tail`` is what is in use. A chunk that does not fit (larger
than the ring, or the ring full) goes through the pipe as before.
"""

from __future__ import annotations

import mmap
import os
import struct

from logflume.lines import Data

_TAIL = struct.Struct("<Q")
# Where regions start: the tail counter, then a cache line of its own.
HEADER = 64
DEFAULT_BYTES = 4 * 1024 * 1024

Region = tuple[int, int, int]  # (offset in the mapping, size, position of its end)


class Ring:
    """The daemon's side: a shared mapping of ``size`` bytes, and where the next region goes."""

    def __init__(self, size: int = DEFAULT_BYTES) -> None:
        self.fd = os.memfd_create("logflume-chunks", os.MFD_CLOEXEC)
        os.ftruncate(self.fd, HEADER + size)
        self.size = size
        self._map = mmap.mmap(self.fd, HEADER + size)
        self._head = 0  # a counter over the whole run; the offset is head % size

    def put(self, data: Data) -> Region | None:
        """Copy ``data`` into the ring; where it is, or None when it does not fit now."""
        count = len(data)
        if count > self.size:
            return None
        head = self._head
        offset = head % self.size
        if offset + count > self.size:  # a region never wraps: skip what is left at the end
            head += self.size - offset
            offset = 0
        tail = _TAIL.unpack_from(self._map, 0)[0]
        if head + count - tail > self.size:
            return None
        self._map[HEADER + offset : HEADER + offset + count] = data
        self._head = head + count
        return HEADER + offset, count, self._head

    def close(self) -> None:
        """Let go of the mapping (the memory goes once the worker's is gone too); idempotent."""
        if self.fd >= 0:
            self._map.close()
            os.close(self.fd)
            self.fd = -1


class RingReader:
    """The worker's side: copy a region out, then free it for the daemon."""

    def __init__(self, fd: int, size: int) -> None:
        self._map = mmap.mmap(fd, HEADER + size)
        os.close(fd)  # the mapping keeps the memory

    def take(self, region: Region) -> bytes:
        offset, count, end = region
        data = self._map[offset : offset + count]  # a copy: the region may be reused after this
        _TAIL.pack_into(self._map, 0, end)
        return data
