"""The checkpoint store: acknowledged offsets per file identity, written atomically.

Format (version 1), one file per source: ``{"version": 1, "files": {fingerprint: {"path", "dev",
"ino", "offset", "updated"}}}``. Written temp → fsync → rename → fsync(dir), so a crash leaves the
old or the new file, never a torn one. Offsets are the end of data every sink has durably accepted.

A file that cannot be right — not JSON, another version, a missing field, a negative offset, a
string where a number belongs — raises :class:`~logflume.errors.StateFileError` naming the file
and the entry: the daemon refuses to start (exit 2) rather than guess, as a reader retrying an
impossible offset would spin, and starting over could skip or repeat data.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import orjson

from logflume.errors import CheckpointError, StateFileError
from logflume.fsutil import atomic_write, remove_stale_temps

VERSION = 1


@dataclass
class FileCheckpoint:
    path: str
    dev: int
    ino: int
    offset: int
    updated: float


_FIELDS = [f.name for f in fields(FileCheckpoint)]


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
        except orjson.JSONDecodeError as exc:
            raise self._impossible(f"not JSON ({exc})") from exc
        if not isinstance(doc, dict):
            raise self._impossible("not a JSON object")
        if doc.get("version") != VERSION:
            raise self._impossible(f"unsupported version {doc.get('version')!r} (expected {VERSION})")
        files = doc.get("files")
        if not isinstance(files, dict):
            raise self._impossible("'files' is missing or not an object")
        return {fp: self._entry(fp, entry) for fp, entry in files.items()}

    def _entry(self, fingerprint: str, entry: Any) -> FileCheckpoint:
        where = f"files.{fingerprint}"
        if not isinstance(entry, dict):
            raise self._impossible(f"{where} is not an object")
        if sorted(entry) != sorted(_FIELDS):
            raise self._impossible(f"{where} has fields {sorted(entry)}, expected {sorted(_FIELDS)}")
        if not isinstance(entry["path"], str) or not entry["path"]:
            raise self._impossible(f"{where}.path must be a non-empty string, not {entry['path']!r}")
        for name in ("dev", "ino", "offset"):
            value = entry[name]
            # bool is an int to Python, never to a checkpoint.
            if type(value) is not int or value < 0:
                raise self._impossible(f"{where}.{name} must be a non-negative integer, not {value!r}")
        updated = entry["updated"]
        if type(updated) not in (int, float) or not math.isfinite(updated) or updated < 0:
            raise self._impossible(f"{where}.updated must be a non-negative number, not {updated!r}")
        return FileCheckpoint(**entry)

    def _impossible(self, what: str) -> StateFileError:
        return StateFileError(
            f"impossible checkpoint file {self.path}: {what}; fix or delete the file "
            "(without it, files are read again from where read_from says)"
        )

    def save(self, files: dict[str, FileCheckpoint]) -> None:
        doc = {"version": VERSION, "saved": time.time(), "files": {fp: asdict(c) for fp, c in files.items()}}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._lock:
                atomic_write(self.path, orjson.dumps(doc, option=orjson.OPT_INDENT_2))
        except OSError as exc:
            raise CheckpointError(f"cannot write checkpoints {self.path}: {exc.strerror}") from exc
