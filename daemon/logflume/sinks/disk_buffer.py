"""A sink's disk buffer: append-only segment files of checksummed records and a reader pointer.

Layout of ``<state_dir>/buffers/<sink name>/``::

    00000000000000000007.seg   records, oldest segment first; deleted once fully delivered
    00000000000000000008.seg   the segment being appended to (a new one on every open)
    reader.json                {"version": 1, "segment": 7, "offset": 4096}: delivered up to here

A record is a 12-byte header — payload length, event count, CRC-32 of those 8 bytes and the
payload (little endian) — followed by the payload, an orjson array of events. Appends are fsync'd
before the caller acknowledges the events; the pointer is replaced atomically (temp file, fsync,
rename, directory fsync), so after a crash at most the batches delivered since the last pointer
write are sent again (at-least-once). A crash in the middle of an append leaves a torn record at
the end of the newest segment: the checksum finds it on open and the tail is skipped, keeping every
record before it. Because each open starts a new segment, a torn tail is never appended to.

Faults. An append the disk refuses (full, failing) is truncated away and its segment sealed, so a
retry never writes after a partial record, and the caller gets the OSError (its events stay
unacknowledged and are retried). A pointer that cannot be replaced is kept in memory and written
again later (after a crash meanwhile, more is replayed: duplicates, never a loss). A record whose
checksum is valid but whose payload is not an array of events (written by something else, or
by a bug) is handed out as a :class:`BadRecord` for the dead-letter file instead of wedging the
reader. Failures are logged once until writing works again (:attr:`DiskBuffer.faults`).

The class is synchronous and not thread-safe: the runner calls it from worker threads, one call
at a time, so the event loop never waits for an fsync.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import zlib
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from logflume import jsontext
from logflume.events import Event
from logflume.fsutil import WriteFaults, atomic_write, fsync_dir, write_all
from logflume.lines import Lines, count, to_json_array

log = logging.getLogger("logflume.sinks.buffer")

HEADER = struct.Struct("<III")
POINTER_FILE = "reader.json"
SEGMENT_SUFFIX = ".seg"
_POINTER_VERSION = 1


def encode_record(events: list[Event]) -> bytes:
    """One record (header and payload) holding ``events``."""
    try:
        payload = orjson.dumps(events, default=str, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:  # nested deeper than orjson writes, an integer past 64 bits
        payload = jsontext.dumps(events)
    return _record(payload, len(events))


def encode_lines_record(blocks: list[Lines]) -> bytes:
    """One record holding the events of ``blocks``: their JSON lines make the payload's array
    as they are (the same bytes :func:`encode_record` writes for the decoded events)."""
    return _record(to_json_array(blocks), count(blocks))


def _record(payload: bytes, events: int) -> bytes:
    head = struct.pack("<II", len(payload), events)
    return head + struct.pack("<I", zlib.crc32(payload, zlib.crc32(head))) + payload


@dataclass(slots=True)
class _Segment:
    number: int
    size: int  # end of the last valid record
    events: int  # events in the records from ``base`` on
    base: int = 0  # where counting starts: the pointer's offset for the segment it names at open


@dataclass(frozen=True, slots=True)
class BadRecord:
    """A record with a valid checksum whose payload is not an array of events."""

    path: str
    offset: int
    payload: bytes
    reason: str


@dataclass(eq=False, slots=True)
class ReadBatch:
    """Records handed out for delivery; pass it back to :meth:`DiskBuffer.complete` once delivered.

    A completed batch waits in the buffer until every earlier one is complete too (the pointer
    moves in order), so completing it drops its events: with several writes in flight, one in a
    long backoff would otherwise keep every batch delivered after it in memory.
    """

    events: list[Event]
    count: int  # events the records' headers count (what the buffer's totals hold for them)
    nbytes: int
    end: tuple[int, int]
    bad: list[BadRecord]
    done: bool = False


def _segment_name(number: int) -> str:
    return f"{number:020d}{SEGMENT_SUFFIX}"


class DiskBuffer:
    """Durable FIFO of event batches for one sink."""

    def __init__(self, directory: Path, max_segment_bytes: int) -> None:
        self.directory = directory
        self.max_segment_bytes = max_segment_bytes
        self._segments: dict[int, _Segment] = {}
        self._write: _Segment | None = None
        self._write_fd: int | None = None
        self._next_number = 1
        self._read_fd: tuple[int, int] | None = None  # (segment number, fd)
        self._read: tuple[int, int] = (0, 0)
        self._read_events = 0  # events read from the read segment since its base
        self._commit: tuple[int, int] = (0, 0)
        self._inflight: deque[ReadBatch] = deque()
        self.stored_bytes = 0  # appended and not yet delivered nor dropped
        self.stored_events = 0
        self.unread_bytes = 0  # of those, not yet handed out by read()
        self.unread_events = 0
        self.skipped_bytes = 0  # damaged data found and skipped since open
        self.faults = WriteFaults(log, "disk buffer", directory.name)
        self._pointer_stale = False  # the pointer on disk lags behind the commit position

    # -- opening -----------------------------------------------------------------------------

    def open(self) -> None:
        """Create the directory or pick up what a previous run left, skipping torn tails."""
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / (POINTER_FILE + ".tmp")).unlink(missing_ok=True)
        numbers = sorted(
            int(path.name[: -len(SEGMENT_SUFFIX)])
            for path in self.directory.glob("*" + SEGMENT_SUFFIX)
            if path.name[: -len(SEGMENT_SUFFIX)].isdigit()
        )
        pointer = self._load_pointer()
        if pointer is None:
            pointer = (numbers[0], 0) if numbers else (0, 0)
        for number in numbers:
            if number < pointer[0]:
                (self.directory / _segment_name(number)).unlink()
                continue
            base = pointer[1] if number == pointer[0] else 0
            size, events = self._scan(number, base)
            if size < base:  # the pointer names more than survived: nothing left to read there
                base = size
            self._segments[number] = _Segment(number, size, events, base)
            self.stored_bytes += size - base
            self.stored_events += events
        self.unread_bytes, self.unread_events = self.stored_bytes, self.stored_events
        first = next(iter(self._segments.values()), None)
        start = (first.number, first.base) if first else pointer
        self._commit = self._read = start
        self._next_number = max([*numbers, pointer[0]]) + 1
        self._advance_read()
        self._forget_delivered()

    def _load_pointer(self) -> tuple[int, int] | None:
        path = self.directory / POINTER_FILE
        try:
            data: Any = orjson.loads(path.read_bytes())
            segment, offset = data["segment"], data["offset"]
            if not all(type(v) is int and v >= 0 for v in (segment, offset)):
                raise ValueError(f"impossible position {segment!r}, {offset!r}")
            return segment, offset
        except FileNotFoundError:
            return None
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            # Replaying from the oldest segment sends duplicates; guessing further could lose data.
            log.warning("Disk buffer pointer is unreadable; replaying from the oldest segment",
                        extra={"path": str(path), "error": str(exc)})
            return None

    def _scan(self, number: int, base: int) -> tuple[int, int]:
        """The end of the last valid record of a segment, and the events from ``base`` on."""
        path = self.directory / _segment_name(number)
        size = path.stat().st_size
        offset, events = 0, 0
        with path.open("rb") as file:
            while offset < size:
                head = file.read(HEADER.size)
                if len(head) < HEADER.size:
                    break
                length, count, crc = HEADER.unpack(head)
                payload = file.read(length)
                if len(payload) < length or zlib.crc32(payload, zlib.crc32(head[:8])) != crc:
                    break
                offset += HEADER.size + length
                if offset > base:
                    events += count
        if offset < size:
            self.skipped_bytes += size - offset
            log.warning("Disk buffer segment ends in a damaged record; skipping it",
                        extra={"path": str(path), "valid_bytes": offset, "skipped_bytes": size - offset})
        return offset, events

    # -- writing -----------------------------------------------------------------------------

    def append(self, records: list[tuple[bytes, int]]) -> None:
        """Write encoded records (with their event counts) and fsync them.

        Raises OSError when the disk refuses; then nothing of ``records`` is kept (see the module
        docstring), and the caller retries later.
        """
        if not records:
            return
        if self._write is not None and self._write.size >= self.max_segment_bytes:
            self._close_write()
        data = b"".join(record for record, _ in records)
        path = self.directory / _segment_name(self._next_number)
        try:
            created = False
            if self._write is None:
                number = self._next_number
                self._next_number += 1
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                self._write, self._write_fd = _Segment(number, 0, 0), fd
                self._segments[number] = self._write
                created = True
            assert self._write_fd is not None
            path = self.directory / _segment_name(self._write.number)
            write_all(self._write_fd, data)
            os.fsync(self._write_fd)
            if created:
                fsync_dir(self.directory)
        except OSError as exc:
            self.faults.failed(path, exc)
            self._abandon_write()
            raise
        self.faults.succeeded()
        if self._pointer_stale:
            self._write_pointer()
        events = sum(count for _, count in records)
        self._write.size += len(data)
        self._write.events += events
        self.stored_bytes += len(data)
        self.stored_events += events
        self.unread_bytes += len(data)
        self.unread_events += events
        self._advance_read()

    def _close_write(self) -> None:
        if self._write_fd is not None:
            os.close(self._write_fd)
        self._write, self._write_fd = None, None

    def _abandon_write(self) -> None:
        """After a failed append: cut what it wrote and seal the segment, so the next append starts
        a new one and never follows a partial record (even when the truncation failed too)."""
        segment, fd = self._write, self._write_fd
        if segment is None or fd is None:
            return
        # If this fails too, the tail past segment.size is never read, and a scan after a restart
        # stops there (a sealed segment is never appended to again).
        with contextlib.suppress(OSError):
            os.ftruncate(fd, segment.size)
        if segment.size == 0:
            self._delete(segment.number)
        else:
            self._close_write()

    # -- reading and delivery ----------------------------------------------------------------

    def read(self, max_events: int, max_bytes: int) -> ReadBatch | None:
        """The next records, up to the limits (at least one record); None when all are handed out."""
        events: list[Event] = []
        bad: list[BadRecord] = []
        counted = nbytes = 0
        while self.unread_events or self.unread_bytes:
            self._advance_read()
            number, offset = self._read
            segment = self._segments.get(number)
            if segment is None or offset >= segment.size:
                break
            fd = self._read_fd_for(number)
            head = os.pread(fd, HEADER.size, offset)
            length, count, crc = HEADER.unpack(head) if len(head) == HEADER.size else (0, 0, -1)
            if counted and (counted + count > max_events or nbytes + HEADER.size + length > max_bytes):
                break
            payload = os.pread(fd, length, offset + HEADER.size)
            if len(payload) < length or zlib.crc32(payload, zlib.crc32(head[:8])) != crc:
                self._skip_damaged(segment, offset)
                continue
            decoded, why = _decode(payload)
            if decoded is None:
                path = str(self.directory / _segment_name(number))
                log.error("Disk buffer record is not a batch; dead-lettering it",
                          extra={"path": path, "offset": offset, "reason": why})
                bad.append(BadRecord(path, offset, payload, why))
            else:
                events.extend(decoded)
            counted += count
            size = HEADER.size + length
            nbytes += size
            self._read = (number, offset + size)
            self._read_events += count
            self.unread_bytes -= size
            self.unread_events -= count
        if not counted and not bad:
            return None
        batch = ReadBatch(events, counted, nbytes, self._read, bad)
        self._inflight.append(batch)
        return batch

    def complete(self, batch: ReadBatch) -> None:
        """Mark a read batch delivered; moves the pointer over every batch delivered in order."""
        batch.done = True
        batch.events = []
        moved = False
        while self._inflight and self._inflight[0].done:
            done = self._inflight.popleft()
            self.stored_bytes -= done.nbytes
            self.stored_events -= done.count
            if done.end > self._commit:
                self._commit = done.end
                moved = True
        if moved:
            self._forget_delivered()
            write = self._write
            if write is not None and not self._inflight and self._commit == (write.number, write.size):
                # Everything is delivered: drop the open segment too, so a recovered sink leaves
                # no files behind; the next append starts a new one.
                self._delete(write.number)
            self._write_pointer()

    def drop_oldest(self, nbytes: int) -> int:
        """Discard unread data, oldest segment first, until ``nbytes`` are freed; return events dropped."""
        freed = dropped = 0
        while freed < nbytes and (self.unread_bytes or self.unread_events):
            self._advance_read()
            number, offset = self._read
            segment = self._segments.get(number)
            if segment is None:
                break
            if segment is self._write:
                # Seal the segment being written so its whole remainder can go.
                self._close_write()
            size, events = segment.size - offset, segment.events - self._read_events
            freed += size
            dropped += events
            self.stored_bytes -= size
            self.stored_events -= events
            self.unread_bytes -= size
            self.unread_events -= events
            self._read = (number, segment.size)
            self._read_events = segment.events
            self._delete(number)
        if dropped:
            self._forget_delivered()
            self._write_pointer()
        return dropped

    @property
    def inflight(self) -> int:
        """Read batches handed out and not yet completed."""
        return len(self._inflight)

    def sync(self) -> None:
        """Appends are already fsync'd before they return; kept so callers need not know that."""
        if self._write_fd is not None:
            os.fsync(self._write_fd)

    def close(self) -> None:
        if self._pointer_stale:
            self._write_pointer()
        self._close_write()
        if self._read_fd is not None:
            os.close(self._read_fd[1])
            self._read_fd = None

    # -- internals ---------------------------------------------------------------------------

    def _settle(self, position: tuple[int, int]) -> tuple[int, int]:
        """``position`` moved past finished (or deleted) segments, never past the one being written."""
        number, offset = position
        while True:
            segment = self._segments.get(number)
            if segment is not None and (offset < segment.size or segment is self._write):
                return number, offset
            later = [n for n in self._segments if n > number]
            if not later:
                return number, offset
            number, offset = min(later), 0

    def _advance_read(self) -> None:
        """Move the read position past finished segments (never past the one being written)."""
        read = self._settle(self._read)
        if read[0] != self._read[0]:
            self._read_events = 0
        self._read = read

    def _skip_damaged(self, segment: _Segment, offset: int) -> None:
        """Damage found after open (the disk changed under us): drop the rest of the segment."""
        lost = segment.events - self._read_events
        size = segment.size - offset
        log.error("Disk buffer record is damaged; skipping the rest of its segment",
                  extra={"segment": segment.number, "offset": offset, "skipped_bytes": size, "events": lost})
        self.skipped_bytes += size
        self.stored_bytes -= size
        self.stored_events -= lost
        self.unread_bytes -= size
        self.unread_events -= lost
        self._read = (segment.number, segment.size)
        self._read_events = segment.events
        if segment is self._write:
            self._close_write()

    def _forget_delivered(self) -> None:
        """Delete segments entirely before the commit position (or entirely delivered)."""
        self._commit = self._settle(self._commit)
        for old in [n for n in self._segments if n < self._commit[0]]:
            self._delete(old)

    def _delete(self, number: int) -> None:
        segment = self._segments.pop(number, None)
        if segment is self._write:
            self._close_write()
        if self._read_fd is not None and self._read_fd[0] == number:
            os.close(self._read_fd[1])
            self._read_fd = None
        (self.directory / _segment_name(number)).unlink(missing_ok=True)

    def _read_fd_for(self, number: int) -> int:
        if self._read_fd is not None and self._read_fd[0] == number:
            return self._read_fd[1]
        if self._read_fd is not None:
            os.close(self._read_fd[1])
        fd = os.open(self.directory / _segment_name(number), os.O_RDONLY)
        self._read_fd = (number, fd)
        return fd

    def _write_pointer(self) -> None:
        """Record the commit position; when the disk refuses, keep it and try again later."""
        number, offset = self._commit
        data = orjson.dumps({"version": _POINTER_VERSION, "segment": number, "offset": offset})
        path = self.directory / POINTER_FILE
        try:
            atomic_write(path, data, mode=0o600)
        except OSError as exc:
            self.faults.failed(path, exc)
            self._pointer_stale = True
        else:
            self._pointer_stale = False

    def segment_files(self) -> list[Path]:
        """The segment files on disk, oldest first (for tests and the ``check`` command)."""
        return sorted(self.directory.glob("*" + SEGMENT_SUFFIX))


def _decode(payload: bytes) -> tuple[list[Event] | None, str]:
    """The events of a record's payload, or None and why it is not an array of events."""
    try:
        decoded = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        return None, f"payload is not JSON: {exc}"
    if not isinstance(decoded, list):
        return None, f"payload is a JSON {type(decoded).__name__}, not an array of events"
    if not all(isinstance(event, dict) for event in decoded):
        return None, "payload holds something other than event objects"
    return decoded, ""
