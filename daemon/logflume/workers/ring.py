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

Results come back the same way, through a second ring the daemon makes and the worker writes:
a result's blocks lie end to end in one region, and the daemon copies each block out as its own
object. Through the pipe, the daemon zeroed a buffer for the result, read it in pieces as the pipe
refilled, and then copied its blocks apart again.
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


class _Shared:
    """A ring's mapping of ``size`` bytes: made here (``fd`` None; :attr:`fd` is then the
    descriptor to hand to the other process, let go with :meth:`handed_over`), or made by the other
    process (its descriptor closed at once: the mapping keeps the memory)."""

    name = "logflume-ring"

    def __init__(self, size: int = DEFAULT_BYTES, fd: int | None = None) -> None:
        made = fd is None
        if fd is None:
            fd = os.memfd_create(self.name, os.MFD_CLOEXEC)  # closed in any child that execs
            os.ftruncate(fd, HEADER + size)
        self.size = size
        self._map = mmap.mmap(fd, HEADER + size)
        self.fd = fd if made else -1
        if not made:
            os.close(fd)

    def handed_over(self) -> None:
        """The other process has its own descriptor now: close this one (idempotent)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def close(self) -> None:
        """Let go of the mapping (the memory goes once the other side's is gone too); idempotent."""
        self.handed_over()
        if not self._map.closed:
            self._map.close()


class Ring(_Shared):
    """The writing side, and where the next region goes: ``Ring()`` makes the daemon's ring of
    chunks, ``Ring(size, fd)`` writes a worker's results into the ring the daemon made."""

    name = "logflume-chunks"

    def __init__(self, size: int = DEFAULT_BYTES, fd: int | None = None) -> None:
        super().__init__(size, fd)
        self._head = 0  # a counter over the whole run; the offset is head % size

    def put(self, data: Data) -> Region | None:
        """Copy ``data`` into the ring; where it is, or None when it does not fit now."""
        return self.put_all([data])

    def put_all(self, parts: list[Data]) -> Region | None:
        """Copy ``parts`` end to end into one region; where it is, or None when it does not fit."""
        count = sum(map(len, parts))
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
        at = HEADER + offset
        for part in parts:
            self._map[at : at + len(part)] = part
            at += len(part)
        self._head = head + count
        return HEADER + offset, count, self._head


class RingReader(_Shared):
    """The reading side: copy a region out, then free it for the writer. ``RingReader(size, fd)``
    reads a worker's chunks from the daemon's ring; ``RingReader(size)`` makes the daemon's ring of
    a worker's results."""

    name = "logflume-results"

    def take(self, region: Region) -> bytes:
        return self.take_parts(region, [region[1]])[0]

    def take_parts(self, region: Region, sizes: list[int]) -> list[bytes]:
        """The region's parts (of ``sizes``, end to end), each copied out on its own (a copy: the
        region may be reused after this)."""
        offset, count, end = region
        if sum(sizes) != count:
            raise ValueError(f"parts of {sum(sizes)} bytes in a region of {count}")
        parts = []
        for size in sizes:
            parts.append(self._map[offset : offset + size])
            offset += size
        _TAIL.pack_into(self._map, 0, end)
        return parts
