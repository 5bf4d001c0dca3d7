"""The dead-letter file: inputs that could not become events, and events backends refused.

One JSON object per line: ``{"time", "source", "file", "offset", "reason", "raw"}``. Written to
the kernel before the batch they came from is acknowledged, and fsynced with the checkpoints, so
a bad line is never lost either.

When the disk refuses a write (full, failing), the letters are held in memory, in order, and the
write is retried: the processor waits for them (:meth:`DeadLetterFile.drain`) before it hands on
another batch, which backs the pipeline up to the readers, and no checkpoint is saved while any is
held (:meth:`DeadLetterFile.sync` says so). A write cut short is truncated away, so the file never
holds half a record; a torn last record a crash left is cut off when the file is opened.

A bad line can hold a secret as well as a good one, and it never reaches the redact stage. So
``raw`` is built as configured (``dead_letter.raw``): ``redacted`` (the default) passes the text
through a scrubber the daemon injects (built by the redact package from the redact config; this
module imports nothing of the pipeline); a line that is not UTF-8 is stored as lossy text, so
that redaction can see it, and its reason says so; ``keep`` stores the line as read (base64 when
it is not UTF-8); ``omit`` stores null.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import orjson

from logflume.events import DeadLetter
from logflume.fsutil import AppendFile, WriteFaults

log = logging.getLogger("logflume.deadletter")

# Waits between attempts to write held dead letters: short at first (space often returns soon),
# bounded so a recovered disk is noticed within seconds.
RETRY_INITIAL_SECONDS = 0.1
RETRY_MAX_SECONDS = 5.0

RawMode = Literal["redacted", "keep", "omit"]
Scrub = Callable[[str], str]


class DeadLetterFile:
    def __init__(self, path: Path, *, raw: RawMode, scrub: Scrub | None) -> None:
        if raw == "redacted" and scrub is None:
            raise ValueError("dead-letter raw mode 'redacted' needs a scrubber")
        self.path = path
        self.raw_mode = raw
        self._scrub = scrub
        self.count = 0
        self.by_reason: dict[str, int] = {}
        self.faults = WriteFaults(log, "dead letters")
        self._file: AppendFile | None = None
        self._held: list[bytes] = []  # encoded records the disk has not taken yet, oldest first
        self._held_records = 0
        self._dirty = False
        self._lock = threading.Lock()  # written from the loop and from sink threads

    def open(self) -> None:
        self._file = AppendFile.open(str(self.path), 0o640)

    @property
    def held(self) -> int:
        """Dead letters waiting for the disk to take them."""
        return self._held_records

    def write(self, letters: list[DeadLetter]) -> None:
        """Write ``letters``; when the disk refuses, hold them (see :attr:`held`) and never raise."""
        if not letters:
            return
        now = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"
        lines = []
        for letter in letters:
            raw, note = self._raw(letter.raw)
            reason = letter.reason
            if self._scrub is not None and self.raw_mode == "redacted":
                reason = self._scrub(reason)  # a stage's exception message may quote a value
            record = {
                "time": stamp,
                "source": letter.source,
                "file": letter.file,
                "offset": letter.offset,
                "reason": reason + note,
                "raw": raw,
            }
            lines.append(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))
            kind = letter.reason.split(":", 1)[0]
            self.by_reason[kind] = self.by_reason.get(kind, 0) + 1
        with self._lock:
            self._held.append(b"".join(lines))
            self._held_records += len(letters)
            self.count += len(letters)
            self._flush_locked()
        log.debug("Dead-lettered", extra={"count": len(letters)})

    def _raw(self, raw: bytes | str) -> tuple[str | None, str]:
        """``raw`` as stored in this file's mode, and a note for the reason."""
        if self.raw_mode == "omit":
            return None, ""
        note = ""
        if isinstance(raw, str):
            text = raw
        else:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                if self.raw_mode == "keep":
                    return base64.b64encode(raw).decode("ascii"), " (raw is base64)"
                # Redaction needs text: the replacement characters cost the exact bytes, never a secret.
                text = raw.decode("utf-8", "replace")
                note = " (raw is lossy UTF-8 text)"
        scrub = self._scrub
        if scrub is not None and self.raw_mode == "redacted":
            text = scrub(text)
        return text, note

    def use_scrubber(self, scrub: Scrub) -> None:
        """Redact with ``scrub`` from now on (the redact config changed on reload)."""
        self._scrub = scrub

    def flush(self) -> bool:
        """Try to write what is held; True when nothing is held any more."""
        with self._lock:
            return self._flush_locked()

    def _flush_locked(self) -> bool:
        if not self._held:
            return True
        data = b"".join(self._held)
        try:
            if self._file is None:
                self.open()
            assert self._file is not None
            self._file.append(data)
        except OSError as exc:
            self._held = [data]
            self.faults.failed(self.path, exc)
            return False
        self._held = []
        self._held_records = 0
        self._dirty = True
        self.faults.succeeded()
        return True

    async def drain(self) -> None:
        """Return once nothing is held, retrying the write with backoff meanwhile."""
        delay = RETRY_INITIAL_SECONDS
        while self._held:
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_SECONDS)
            await asyncio.to_thread(self.flush)

    def sync(self) -> bool:
        """Make every dead letter durable; False when some are still held or fsync failed (then no
        checkpoint may be saved: it could cover input whose dead letter is not on disk)."""
        with self._lock:
            if not self._flush_locked():
                return False
            if self._file is not None and self._dirty:
                try:
                    os.fsync(self._file.fd)
                except OSError as exc:
                    self.faults.failed(self.path, exc)
                    return False
                self._dirty = False
            return True

    def close(self) -> None:
        with self._lock:
            self._flush_locked()
            if self._held_records:
                # No checkpoint was saved past their input (sync failed), so it is read again.
                log.error(
                    "Dead letters not written; their input is read again at the next start",
                    extra={"path": str(self.path), "count": self._held_records},
                )
            if self._file is not None:
                try:
                    os.fsync(self._file.fd)
                except OSError as exc:
                    self.faults.failed(self.path, exc)
                self._file.close()
                self._file = None
