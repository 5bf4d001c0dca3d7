"""A real small filesystem for tests of full disks: a tmpfs mounted in the test, filled for real.

The ``small_disk`` fixture (this folder's conftest) mounts a tmpfs of a given size on a directory
and unmounts it when the test ends, even when it fails. Mounting needs root; elsewhere the test is
skipped, saying so. ``fill`` writes a filler file until the filesystem answers ENOSPC (down to the
last byte, so every new page a write needs is refused); deleting the filler frees the space again.
A file's partly used last page still takes appends on a full tmpfs: writes fail once they need a
new page, often after a short write, which is exactly the torn write the code must undo.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

FILLER = ".filler"

# The small_disk fixture: mounts a tmpfs of the given size on the directory and returns it.
Mount = Callable[[Path, int], Path]


def mount_tmpfs(directory: Path, size: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(directory)],
        check=True,
        capture_output=True,
    )


def unmount(directory: Path) -> None:
    # Lazy: a daemon a failing test left behind may still hold files open there.
    subprocess.run(["umount", "-l", str(directory)], check=False, capture_output=True)


def fill(directory: Path) -> Path:
    """Write a filler file in ``directory`` until its filesystem is full; return the filler."""
    filler = directory / FILLER
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        block = 1 << 20
        while block:
            try:
                os.write(fd, b"\0" * block)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                block //= 2
    finally:
        os.close(fd)
    return filler


def free(filler: Path) -> None:
    filler.unlink()
