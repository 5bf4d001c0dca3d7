"""The state_dir lock: one daemon per state directory, as Vector and Filebeat do.

Two daemons on one state_dir would read the same files, overwrite each other's checkpoints and
append to the same disk buffers and dead-letter file. The running daemon holds an advisory
``flock`` on ``<state_dir>/lock`` for its lifetime (the kernel drops it when the process dies,
even by ``kill -9``, so a crash never leaves a stale lock) and writes its pid there so the one
refused can say who holds it. ``validate`` and ``check`` never take it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from logflume.errors import StateLockedError

LOCK_FILE = "lock"


class StateLock:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / LOCK_FILE
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock or raise :class:`StateLockedError` naming the holder's pid."""
        if self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f"pid {holder}" if holder else "another process"
            raise StateLockedError(
                f"state_dir {self.path.parent} is in use by another logflume daemon ({who}); "
                "stop it or give this one its own state_dir"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        # The pid is a courtesy for the message above; the lock itself is the flock, so a
        # failure to write it (a full disk) does not matter.
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # releases the flock; the file stays (deleting it would race)
            self._fd = None


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
