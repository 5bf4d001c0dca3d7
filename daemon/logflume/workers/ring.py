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


def _shared(name: str, size: int) -> int:
    """A new anonymous file of a ring of ``size`` bytes (closed in any child that execs)."""
    fd = os.memfd_create(name, os.MFD_CLOEXEC)
    os.ftruncate(fd, HEADER + size)
    return fd


class Ring:
    """The writing side: a shared mapping of ``size`` bytes, and where the next region goes.

    ``Ring(size)`` makes the mapping (the daemon's chunks; ``fd`` is handed to the worker);
    ``Ring(size, fd)`` writes into one made by the other process (a worker's results).
    """

    def __init__(self, size: int = DEFAULT_BYTES, fd: int | None = None) -> None:
        made = fd is None
        shared = _shared("logflume-chunks", size) if fd is None else fd
        self.size = size
        self._map = mmap.mmap(shared, HEADER + size)
        # The descriptor to hand over (-1: none). One made elsewhere is closed at once: the
        # mapping keeps the memory.
        self.fd = shared if made else -1
        if not made:
            os.close(shared)
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

    def close(self) -> None:
        """Let go of the mapping (the memory goes once the other side's is gone too); idempotent."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if not self._map.closed:
            self._map.close()


class RingReader:
    """The reading side: copy a region out, then free it for the writer.

    ``RingReader(fd, size)`` reads a mapping the other process made (a worker's chunks);
    ``RingReader.made(size)`` makes one (the daemon's end of a worker's results; ``fd`` is
    handed to the worker, then let go with :meth:`handed_over`).
    """

    def __init__(self, fd: int, size: int, keep_fd: bool = False) -> None:
        self.size = size
        self._map = mmap.mmap(fd, HEADER + size)
        self.fd = fd if keep_fd else -1
        if not keep_fd:
            os.close(fd)  # the mapping keeps the memory

    @classmethod
    def made(cls, size: int = DEFAULT_BYTES) -> RingReader:
        return cls(_shared("logflume-results", size), size, keep_fd=True)

    def handed_over(self) -> None:
        """The writer has its own descriptor now: close this one (idempotent)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def take(self, region: Region) -> bytes:
        offset, count, end = region
        data = self._map[offset : offset + count]  # a copy: the region may be reused after this
        _TAIL.pack_into(self._map, 0, end)
        return data

    def take_parts(self, region: Region, sizes: list[int]) -> list[bytes]:
        """The region's parts (of ``sizes``, end to end), each copied out on its own."""
        offset, count, end = region
        if sum(sizes) != count:
            raise ValueError(f"parts of {sum(sizes)} bytes in a region of {count}")
        parts = []
        for size in sizes:
            parts.append(self._map[offset : offset + size])
            offset += size
        _TAIL.pack_into(self._map, 0, end)
        return parts

    def close(self) -> None:
        """Let go of the mapping (and of the descriptor if still held); idempotent."""
        self.handed_over()
        if not self._map.closed:
            self._map.close()
