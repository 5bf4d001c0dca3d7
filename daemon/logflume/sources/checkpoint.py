"""The checkpoint store: acknowledged offsets per file identity, written atomically.

Format (version 1), one file per source: ``{"version": 1, "files": {fingerprint: {"path", "dev",
"ino", "offset", "updated"}}}``. Written temp → fsync → rename → fsync(dir), so a crash leaves the
old or the new file, never a torn one. Offsets are the end of data every sink has durably accepted.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

from logflume.errors import CheckpointError

VERSION = 1


@dataclass
class FileCheckpoint:
    path: str
    dev: int
    ino: int
    offset: int
    updated: float


_tmp_names = itertools.count()


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that readers see the old or the new content, never a mix."""
    # A unique temp name: two writers (a save cut off by cancellation, and the final save) must
    # not rename each other's temp file away.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{next(_tmp_names)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class CheckpointStore:
    """Loads and saves one source's checkpoints."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()  # saves run in worker threads; keep them in order

    def load(self) -> dict[str, FileCheckpoint]:
        # Temp files of saves a crash cut short.
        for stale in self.path.parent.glob(f".{self.path.name}.*.tmp"):
            stale.unlink(missing_ok=True)
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise CheckpointError(f"cannot read checkpoints {self.path}: {exc.strerror}") from exc
        try:
            doc = orjson.loads(raw)
            if doc.get("version") != VERSION:
                raise CheckpointError(f"unsupported checkpoint version {doc.get('version')!r} in {self.path}")
            return {fp: FileCheckpoint(**entry) for fp, entry in doc["files"].items()}
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise CheckpointError(f"corrupt checkpoint file {self.path}: {exc}") from exc

    def save(self, files: dict[str, FileCheckpoint]) -> None:
        doc = {"version": VERSION, "saved": time.time(), "files": {fp: asdict(c) for fp, c in files.items()}}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._lock:
                atomic_write(self.path, orjson.dumps(doc, option=orjson.OPT_INDENT_2))
        except OSError as exc:
            raise CheckpointError(f"cannot write checkpoints {self.path}: {exc.strerror}") from exc
