"""Crash-safe file replacement, shared by checkpoints, disk-buffer pointers and detector state."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

_tmp_names = itertools.count()


def fsync_dir(directory: Path) -> None:
    """Make a rename inside ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, mode: int = 0o640) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves the old or the new content, never a mix:
    temp file → fsync → rename → fsync of the directory."""
    # A unique temp name: two writers (a save cut off by cancellation, and the final save) must
    # not rename each other's temp file away.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{next(_tmp_names)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def remove_stale_temps(path: Path) -> None:
    """Delete temp files of writes to ``path`` that a crash cut short."""
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        stale.unlink(missing_ok=True)
