"""The daemon's end of a worker's pipes, on the event loop: frames out, frames in, no extra copies.

asyncio's pipe streams read 256 KiB at a time into a buffer they then copy again for every
``readexactly``; a result is ~1.4 MB, so that was four copies of each result plus a wake-up per
piece. Here the loop calls :meth:`Channel._readable` when the pipe has data, and it reads
(``os.readv``) straight into the buffer the frame's data ends up in: one copy, from the kernel.
Writes go out at once when the pipe has room (1 MiB, see :func:`widen`), and wait for the loop to
say it has room again otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import pickle
from collections import deque
from collections.abc import Callable
from typing import Any

from logflume.lines import Data
from logflume.workers.wire import HEADER

# Linux's default largest pipe buffer: a 1 MiB chunk goes through in one write instead of sixteen.
PIPE_BYTES = 1 << 20
_F_SETPIPE_SZ = 1031  # fcntl.F_SETPIPE_SZ, which the module names from Python 3.10 on Linux only

Message = tuple[Any, ...]
OnFrame = Callable[[Message, bytearray], None]


def widen(fd: int) -> None:
    """Give a pipe the largest buffer allowed (ignored where it is not allowed)."""
    with contextlib.suppress(OSError):  # EPERM above /proc/sys/fs/pipe-max-size
        fcntl.fcntl(fd, _F_SETPIPE_SZ, PIPE_BYTES)


class Channel:
    """Frames to a worker (``to_worker``) and from it (``from_worker``), both non-blocking fds
    owned by this object."""

    def __init__(
        self, to_worker: int, from_worker: int, on_frame: OnFrame, on_end: Callable[[], None]
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._out = to_worker
        self._in = from_worker
        self._on_frame = on_frame
        self._on_end = on_end
        os.set_blocking(to_worker, False)
        os.set_blocking(from_worker, False)
        self._pending: deque[memoryview] = deque()
        self._writing = False
        self._closed = False
        # The frame being read: its header, then its message, then its data.
        self._head = bytearray(HEADER.size)
        self._buffer = self._head
        self._filled = 0
        self._meta: bytearray | None = None
        self._data: bytearray | None = None
        self._loop.add_reader(from_worker, self._readable)

    # -- out ----------------------------------------------------------------------------------

    def send(self, parts: list[Data]) -> None:
        """Queue a frame's parts; written as far as the pipe takes them now, the rest later."""
        if self._closed:
            return
        self._pending.extend(memoryview(part) for part in parts if part)
        if not self._writing:
            self._flush()

    def _flush(self) -> None:
        pending = self._pending
        try:
            while pending:
                written = os.writev(self._out, list(pending)[:64])
                while pending and written >= len(pending[0]):
                    written -= len(pending.popleft())
                if written:
                    pending[0] = pending[0][written:]
        except BlockingIOError:
            if not self._writing:
                self._writing = True
                self._loop.add_writer(self._out, self._flush)
            return
        except OSError:  # the worker is gone: what it did not take is resent by the pool
            pending.clear()
        if self._writing:
            self._writing = False
            self._loop.remove_writer(self._out)

    def close_output(self) -> None:
        """End the worker's input (it exits once it has answered what it got)."""
        if self._writing:
            self._loop.remove_writer(self._out)
            self._writing = False
        self._pending.clear()
        with contextlib.suppress(OSError):
            os.close(self._out)
        self._out = -1

    # -- in -----------------------------------------------------------------------------------

    def _readable(self) -> None:
        while True:
            buffer = self._buffer
            try:
                count = os.readv(self._in, [memoryview(buffer)[self._filled :]]) if len(buffer) else 0
            except BlockingIOError:
                return
            except OSError:
                count = -1
            if count == 0 and len(buffer):
                self._end()
                return
            if count < 0:
                self._end()
                return
            self._filled += count
            if self._filled < len(buffer):
                continue
            self._advance()

    def _advance(self) -> None:
        """The part being read is complete: go on to the next part, or hand over the frame."""
        if self._buffer is self._head:
            meta_size, data_size = HEADER.unpack(self._head)
            self._meta, self._data = bytearray(meta_size), bytearray(data_size)
            self._buffer, self._filled = self._meta, 0
            return
        if self._buffer is self._meta:
            self._buffer, self._filled = self._data if self._data is not None else bytearray(), 0
            if len(self._buffer):
                return
        message: Message = pickle.loads(self._meta or b"")
        data = self._data if self._data is not None else bytearray()
        self._buffer, self._filled, self._meta, self._data = self._head, 0, None, None
        self._on_frame(message, data)

    def _end(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._loop.remove_reader(self._in)
        with contextlib.suppress(OSError):
            os.close(self._in)
        self.close_output()
        self._on_end()

    def close(self) -> None:
        """Stop reading and writing (the pool is done with this worker)."""
        if not self._closed:
            self._closed = True
            self._loop.remove_reader(self._in)
            with contextlib.suppress(OSError):
                os.close(self._in)
        self.close_output()
