"""The dead-letter file: inputs that could not become events, and events backends refused.

One JSON object per line: ``{"time", "source", "file", "offset", "reason", "raw"}``. Written to
the kernel before the batch they came from is acknowledged, and fsynced with the checkpoints, so
a bad line is never lost either.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import orjson

from logflume.events import DeadLetter

log = logging.getLogger("logflume.deadletter")


class DeadLetterFile:
    def __init__(self, path: Path) -> None:
        self.path = path
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
            raw = letter.raw.decode("utf-8", "replace") if isinstance(letter.raw, bytes) else letter.raw
            record = {
                "time": stamp,
                "source": letter.source,
                "file": letter.file,
                "offset": letter.offset,
                "reason": letter.reason,
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
