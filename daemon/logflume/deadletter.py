"""The dead-letter file: inputs that could not become events, and events backends refused.

One JSON object per line: ``{"time", "source", "file", "offset", "reason", "raw"}``. Written to
the kernel before the batch they came from is acknowledged, and fsynced with the checkpoints, so
a bad line is never lost either.

A bad line can hold a secret as well as a good one, and it never reaches the redact stage. So
``raw`` is built as configured (``dead_letter.raw``): ``redacted`` (the default) passes the text
through a scrubber the daemon injects (built by the redact package from the redact config; this
module imports nothing of the pipeline); a line that is not UTF-8 is stored as lossy text, so
that redaction can see it, and its reason says so; ``keep`` stores the line as read (base64 when
it is not UTF-8); ``omit`` stores null.
"""

from __future__ import annotations

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

log = logging.getLogger("logflume.deadletter")

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
        self._fd: int | None = None
        self._dirty = False
        self._lock = threading.Lock()  # written from the loop and from sink threads

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)

    def write(self, letters: list[DeadLetter]) -> None:
        if not letters:
            return
        now = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"
        lines = []
        for letter in letters:
            raw, note = self._raw(letter.raw)
            record = {
                "time": stamp,
                "source": letter.source,
                "file": letter.file,
                "offset": letter.offset,
                "reason": letter.reason + note,
                "raw": raw,
            }
            lines.append(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))
            kind = letter.reason.split(":", 1)[0]
            self.by_reason[kind] = self.by_reason.get(kind, 0) + 1
        data = b"".join(lines)
        with self._lock:
            if self._fd is None:
                self.open()
            assert self._fd is not None
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
            self._dirty = True
            self.count += len(letters)
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

    def sync(self) -> None:
        with self._lock:
            if self._fd is not None and self._dirty:
                os.fsync(self._fd)
                self._dirty = False

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.fsync(self._fd)
                os.close(self._fd)
                self._fd = None
