"""Reading one file identity: whole lines in chunks, through rotation, truncation and deletion.

A reader hands the pipeline :class:`RawChunk` s of complete lines. It never holds more than one
chunk plus one partial line, and it waits on the bounded queue when the pipeline is behind, which
pauses reading (backpressure).
"""

from __future__ import annotations

import asyncio
import errno
import gzip
import logging
import os
import time
import zlib
from collections.abc import Awaitable, Callable
from typing import Protocol

from logflume.events import Ack, DeadLetter, RawChunk
from logflume.sources.config import SourceConfig
from logflume.sources.discovery import Wakeup
from logflume.sources.notify import FileEvents
from logflume.sources.state import FileState, SourceStats

log = logging.getLogger("logflume.sources")


class ReaderHost(Protocol):
    """What a reader needs from its source."""

    name: str
    config: SourceConfig
    wakeup: Wakeup
    # Fired when a followed file is written (and whenever ``wakeup`` is): what readers at the end
    # of their file wait on.
    written: Wakeup
    file_events: FileEvents | None
    stats: SourceStats

    def new_ack(self, state: FileState, end_offset: int) -> Ack: ...

    def reachable(self, state: FileState) -> bool: ...

    def stopping(self) -> bool: ...


Emit = Callable[[RawChunk], Awaitable[None]]

# After a read of fewer bytes than this, the next read waits COALESCE_SECONDS. Every chunk costs
# a fixed ~0.3 ms on its way to the sinks (tasks, stages set-up, a write), so a log written at
# 5,000 lines a second and read line by line would keep a core busy; read every 2 ms it comes in
# chunks of ~10 lines for ~0.2 of a core, at the cost of at most 2 ms of latency (bench/latency.py).
# A large read is followed at once: the reader is behind, and chunks are large anyway.
COALESCE_BELOW = 256 * 1024
COALESCE_SECONDS = 0.002


class LineSplitter:
    """Cuts a byte stream into whole lines, enforcing max_line_bytes.

    ``feed`` returns the complete lines (ending in b"\\n") and dead letters for lines that were too
    long. ``position`` is the stream offset just past what was returned or skipped.
    """

    def __init__(self, start: int, max_line: int, source: str, path: str) -> None:
        self.position = start
        self.max_line = max_line
        self.partial = b""
        self.skipping = False  # inside an over-long line: drop bytes up to its newline
        self.source = source
        self.path = path

    def feed(self, data: bytes | bytearray) -> tuple[bytes, int, list[DeadLetter]]:
        """Returns (lines, offset of lines[0], dead letters)."""
        if not self.skipping:
            fast = self._whole_lines(data)
            if fast is not None:
                return fast
        dead: list[DeadLetter] = []
        if self.skipping:
            newline = data.find(b"\n")
            if newline < 0:
                self.position += len(data)
                return b"", self.position, dead
            self.position += newline + 1
            data = data[newline + 1 :]
            self.skipping = False
        buf = self.partial + data if self.partial else bytes(data)
        start = self.position
        # Lines wholly inside ``data`` are at most len(data) <= max_line bytes (the reader reads
        # no more than that at once), so only the first line can be too long.
        first = buf.find(b"\n")
        if first > self.max_line or (first < 0 and len(buf) > self.max_line):
            dead.append(self._too_long(start, buf[: self.max_line], first + 1 if first >= 0 else None))
            if first < 0:
                self.skipping = True
                self.partial = b""
                self.position += len(buf)
                return b"", self.position, dead
            buf = buf[first + 1 :]
            start += first + 1
            self.position = start
        last = buf.rfind(b"\n")
        if last < 0:
            self.partial = buf
            return b"", start, dead
        lines = buf[: last + 1]
        self.partial = buf[last + 1 :]
        self.position = start + len(lines)
        return lines, start, dead

    def _whole_lines(self, data: bytes | bytearray) -> tuple[bytes, int, list[DeadLetter]] | None:
        """The usual case, every line short enough: the lines of the carried partial line and
        ``data``, joined in one copy (concatenating first and then slicing copied a chunk twice
        more); None when a line is too long, for :meth:`feed`'s general path."""
        partial = self.partial
        first = data.find(b"\n")
        if first < 0:
            if len(partial) + len(data) > self.max_line:
                return None
            self.partial = partial + data
            return b"", self.position, []
        if len(partial) + first > self.max_line:
            return None
        last = data.rfind(b"\n")
        start = self.position
        if partial or last + 1 < len(data):
            lines = b"".join((partial, memoryview(data)[: last + 1]))
        else:
            lines = bytes(data)
        self.partial = bytes(data[last + 1 :])
        self.position = start + len(lines)
        return lines, start, []

    def flush(self) -> tuple[bytes, int]:
        """The last line of a file that ends without a newline (only when the file is final)."""
        if not self.partial:
            return b"", self.position
        lines, start = self.partial + b"\n", self.position
        self.position += len(self.partial)
        self.partial = b""
        return lines, start

    def _too_long(self, offset: int, head: bytes, size: int | None) -> DeadLetter:
        what = f"{size} bytes" if size is not None else "more bytes than that"
        return DeadLetter(
            self.source,
            self.path,
            offset,
            f"line exceeds max_line_bytes ({self.max_line}): {what}; cut to the limit",
            head.decode("utf-8", "replace"),
        )


class FileReader:
    """Follows one file identity from ``state.read_offset`` until it is gone, or the source stops."""

    def __init__(self, host: ReaderHost, state: FileState, path: str, compressed: bool, emit: Emit) -> None:
        self.host = host
        self.state = state
        self.path = path
        self.compressed = compressed
        self.emit = emit
        cfg = host.config
        # Never read more than a line may hold: then only a chunk's first line can be too long.
        self.read_size = min(cfg.read_bytes, cfg.max_line_bytes)
        self._nowait = hasattr(os, "RWF_NOWAIT")
        self.splitter = LineSplitter(state.read_offset, cfg.max_line_bytes, host.name, path)
        self._gone_said = False  # "deleted"/"rotated" was logged for this reader

    def _log(self, message: str, **fields: object) -> None:
        # The file's path now (it may have been renamed since it was opened).
        log.info(message, extra={"source": self.host.name, "path": self.state.path, **fields})

    async def _send(self, lines: bytes, start: int, dead: list[DeadLetter]) -> None:
        end = self.splitter.position
        if not lines and not dead and end == self.state.read_offset:
            return
        stats = self.host.stats
        stats.bytes_read += end - self.state.read_offset
        stats.lines_too_long += len(dead)
        ack = self.host.new_ack(self.state, end)
        self.state.read_offset = end
        await self.emit(RawChunk(self.host.name, self.state.fingerprint, self.path, start, lines, ack, dead))

    async def run(self) -> bool:
        """Read until the file is finished; True when it was read to its final end."""
        if self.compressed:
            return await self._run_gzip()
        return await self._run_plain()

    async def _run_plain(self) -> bool:
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError as exc:
            extra = {"source": self.host.name, "path": self.path, "error": exc.strerror}
            log.warning("Cannot open file", extra=extra)
            return False
        try:
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) != (self.state.dev, self.state.ino):
                return False  # replaced between discovery and open: discovery will look again
            self._log("File opened", offset=self.state.read_offset)
            return await self._follow(fd)
        finally:
            os.close(fd)

    async def _read(self, fd: int, position: int) -> bytes | bytearray:
        """Up to ``read_size`` bytes at ``position``: from the page cache right here when they are
        there (a file being written is: no thread hand-over, so a line is passed on at once), else
        in a thread, so the loop never waits for a disk."""
        if self._nowait:
            available = os.fstat(fd).st_size - position
            if available <= 0:
                return b""
            buffer = bytearray(min(self.read_size, available))
            try:
                count = os.preadv(fd, [buffer], position, os.RWF_NOWAIT)
            except BlockingIOError:
                pass  # not all in memory: read it in a thread
            except OSError as exc:
                if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                    raise
                self._nowait = False  # a filesystem without it
            else:
                if count < len(buffer):
                    del buffer[count:]  # shrinks in place: no copy
                return buffer
        return await asyncio.to_thread(os.pread, fd, self.read_size, position)

    async def _follow(self, fd: int) -> bool:
        host, state, splitter = self.host, self.state, self.splitter
        cfg = host.config
        idle_since = time.monotonic()
        if host.file_events is not None:
            host.file_events.watch(self.path, (state.dev, state.ino))
        while not host.stopping():
            position = splitter.position + len(splitter.partial)
            data = await self._read(fd, position)
            if data:
                lines, start, dead = splitter.feed(data)
                await self._send(lines, start, dead)
                idle_since = time.monotonic()
                if len(data) < COALESCE_BELOW:
                    # A few lines: the log is written line by line as we read it. Give the next
                    # read a moment to find more, so a busy log goes on in chunks of many lines,
                    # not one at a time. The first line after a quiet spell never waits.
                    await asyncio.sleep(COALESCE_SECONDS)
                continue
            st = os.fstat(fd)
            if st.st_size < position or state.truncated:
                # copytruncate: what this identity still had is in the copy, if it matches a glob.
                self._log("File truncated", offset=position)
                state.truncated = True
                return False
            deleted = st.st_nlink == 0
            gone = deleted or not host.reachable(state)
            if gone and not self._gone_said:
                self._gone_said = True
                # Read to its end for rotate_wait more, in case the writer still adds a line.
                if deleted:
                    self._log("File deleted", offset=position)
                else:
                    self._log("File rotated", to=None, offset=position)
            if gone and time.monotonic() - idle_since >= cfg.rotate_wait:
                lines, start = splitter.flush()
                await self._send(lines, start, [])
                self._log("File finished", offset=splitter.position)
                return True
            await host.written.wait(cfg.poll_interval)
        return False

    async def _run_gzip(self) -> bool:
        splitter = self.splitter
        try:
            handle = await asyncio.to_thread(gzip.open, self.path, "rb")
        except OSError as exc:
            extra = {"source": self.host.name, "path": self.path, "error": exc.strerror}
            log.warning("Cannot open file", extra=extra)
            return False
        self._log("File opened", offset=self.state.read_offset)
        try:
            skip = self.state.read_offset
            while skip > 0 and not self.host.stopping():
                skipped = len(await asyncio.to_thread(handle.read, min(skip, 1 << 20)))
                if not skipped:
                    self._log("File finished", offset=self.state.read_offset)
                    return True  # nothing left past the checkpoint
                skip -= skipped
            while not self.host.stopping():
                data = await asyncio.to_thread(handle.read, self.read_size)
                if not data:
                    lines, start = splitter.flush()
                    await self._send(lines, start, [])
                    self._log("File finished", offset=splitter.position)
                    return True
                lines, start, dead = splitter.feed(data)
                await self._send(lines, start, dead)
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            # Still being written by the rotator, or corrupt: keep what was complete, retry later.
            self._log("Compressed file incomplete", error=str(exc))
            self.splitter.partial = b""
        finally:
            handle.close()
        return False
