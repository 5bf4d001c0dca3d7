"""Crash-safe file replacement and write-failure bookkeeping, shared by everything that writes state.

Checkpoints, disk-buffer pointers and detector state are replaced with :func:`atomic_write`.
Every writer of local files reports failures (a full disk: ENOSPC; a failing one: EIO) through a
:class:`WriteFaults`, so an operator sees one log line when writes start failing and one when they
work again, however often the write is retried in between, and a counter that grows with every
failed attempt.
"""

from __future__ import annotations

import errno
import itertools
import logging
import os
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("logflume.fsutil")

_tmp_names = itertools.count()
_TAIL_BLOCK = 64 * 1024


def fsync_dir(directory: Path) -> None:
    """Make a rename inside ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def probe_directory(directory: Path) -> Path:
    """Can files be created in ``directory``? Looks at it, or at its nearest existing ancestor
    when it does not exist yet (it would be created there), by creating and removing a probe file:
    nothing is left behind and no directory is made. Returns the directory probed; raises OSError
    naming it when a file cannot be created there."""
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "not a directory", str(existing))
    # Opening is the only sure test: access() answers for the real uid, and root passes it anyway.
    probe = existing / f".logflume-check-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(existing)) from exc
    os.close(fd)
    probe.unlink()
    return existing


def write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    """``os.write`` until everything is written (a write may be short, e.g. just before ENOSPC)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def atomic_write(path: Path, data: bytes, mode: int = 0o640) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves the old or the new content, never a mix:
    temp file → fsync → rename → fsync of the directory. A failed write removes its temp file (a
    full disk must not be filled further by the retries)."""
    # A unique temp name: two writers (a save cut off by cancellation, and the final save) must
    # not rename each other's temp file away.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{next(_tmp_names)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        try:
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def remove_stale_temps(path: Path) -> None:
    """Delete temp files of writes to ``path`` that a crash cut short."""
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        stale.unlink(missing_ok=True)


@dataclass
class AppendFile:
    """A file of lines appended in whole batches: a batch lands whole or not at all.

    A write cut short — the disk filled up (ENOSPC), the device failed (EIO) — must neither leave
    half a line for readers nor be written twice when it is retried. So the length before the
    batch is remembered and, when the write fails, the file is truncated back to it; if even that
    fails, the file is marked and truncated before the next append.

    A crash or power loss can still leave a torn last line (a write the kernel took only in part,
    unsynced data half on disk), so :meth:`open` cuts off whatever follows the last newline.
    That loses nothing as long as a checkpoint only covers fsync'd data: the torn line's input is
    read again from the checkpoint and written whole.
    """

    path: str
    fd: int
    size: int  # end of the last whole batch
    torn: bool = False  # bytes past ``size`` that a failed truncation left behind

    @classmethod
    def open(cls, path: str, mode: int) -> AppendFile:
        """Open (creating it and its directory) for appending, after cutting off a torn last line."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, mode)  # read: the tail check
        try:
            os.fchmod(fd, mode)
            size = repair_tail(path, fd, os.fstat(fd).st_size)
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd, size)

    def append(self, data: bytes | bytearray, fsync: bool = False) -> None:
        """Append ``data`` (whole lines); on failure the file is left as it was and OSError raised."""
        if self.torn:
            os.ftruncate(self.fd, self.size)
            self.torn = False
        try:
            write_all(self.fd, data)
            if fsync:
                os.fsync(self.fd)
        except OSError:
            try:
                os.ftruncate(self.fd, self.size)
            except OSError:
                self.torn = True
            raise
        self.size += len(data)

    def close(self) -> None:
        os.close(self.fd)


def repair_tail(path: str, fd: int, size: int) -> int:
    """Cut off whatever follows the last newline of the file open as ``fd``; return the new size.
    A file without any newline is emptied."""
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return size
    end = size
    keep = 0
    while end > 0:
        start = max(0, end - _TAIL_BLOCK)
        newline = os.pread(fd, end - start, start).rfind(b"\n")
        if newline >= 0:
            keep = start + newline + 1
            break
        end = start
    os.ftruncate(fd, keep)
    os.fsync(fd)
    log.warning(
        "Removed a torn last line; its input is read again from the checkpoint",
        extra={"path": path, "bytes": size - keep},
    )
    return keep


def os_error(exc: BaseException) -> OSError:
    """The OS error behind ``exc`` (itself, or what it was raised from), for :class:`WriteFaults`."""
    if isinstance(exc, OSError):
        return exc
    if isinstance(exc.__cause__, OSError):
        return exc.__cause__
    return OSError(str(exc))


def describe(exc: OSError) -> dict[str, object]:
    """Log fields for an OS error: its errno name (``ENOSPC``) and message."""
    code = exc.errno
    return {
        "errno": errno.errorcode.get(code, str(code)) if code is not None else None,
        "error": exc.strerror or str(exc),
    }


class WriteFaults:
    """Failed writes to one kind of local state (``what``: checkpoints, dead letters, …).

    ``failed`` counts every failed attempt and logs only the first of a run of failures;
    ``succeeded`` logs once that writing works again. Callers retry on their own schedule.
    """

    def __init__(self, logger: logging.Logger, what: str, name: str = "") -> None:
        self.log = logger
        self.what = what
        self.name = name
        self.errors = 0  # failed attempts, ever
        self.failing = False  # the latest attempt failed

    def failed(self, path: str | Path, exc: OSError) -> None:
        self.errors += 1
        if not self.failing:
            self.failing = True
            extra = {"what": self.what, "path": str(path), **describe(exc)}
            if self.name:
                extra["component"] = self.name
            self.log.error("Cannot write state; holding it and retrying", extra=extra)

    def succeeded(self) -> None:
        if self.failing:
            self.failing = False
            extra = {"what": self.what, "failed_attempts": self.errors}
            if self.name:
                extra["component"] = self.name
            self.log.info("State written again", extra=extra)
