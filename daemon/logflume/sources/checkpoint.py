"""The checkpoint store: acknowledged offsets per file identity, written atomically.

Format (version 1), one file per source: ``{"version": 1, "files": {fingerprint: {"path", "dev",
"ino", "offset", "updated"}}}``. Written temp → fsync → rename → fsync(dir), so a crash leaves the
old or the new file, never a torn one. Offsets are the end of data every sink has durably accepted.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

from logflume.errors import CheckpointError
from logflume.fsutil import atomic_write, remove_stale_temps

VERSION = 1


@dataclass
class FileCheckpoint:
    path: str
    dev: int
    ino: int
    offset: int
    updated: float


class CheckpointStore:
    """Loads and saves one source's checkpoints."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()  # saves run in worker threads; keep them in order

    def load(self) -> dict[str, FileCheckpoint]:
        remove_stale_temps(self.path)
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
