"""Writes to the files being followed, as they happen: inotify on each followed file, on the event loop.

Discovery (new files, rotations) keeps its debounced directory watch (:func:`.discovery.watch_changes`),
which groups changes over up to 50 ms so that a busy log does not rescan the globs on every line.
A reader at the end of its file must not wait that long: the seed's latency target is about the
time from a line being written to it being in the sinks. So each followed file gets its own
watch (``IN_MODIFY`` and what ends a file: moved, deleted, its link count changed), read by the
event loop itself (``add_reader`` on the inotify descriptor, no thread), and a write wakes the
source's readers at once; the kernel merges repeated events for one file while they are unread,
so a busy file costs no more wake-ups than the reader can take.

Linux only (through ``ctypes``, as glibc exports it). Where inotify is missing or a watch cannot be
added (``max_user_watches`` reached), readers fall back to polling every ``poll_interval``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import struct

from logflume.sources.discovery import Wakeup

log = logging.getLogger("logflume.sources")

IN_MODIFY = 0x002
IN_ATTRIB = 0x004
IN_MOVE_SELF = 0x800
IN_DELETE_SELF = 0x400
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC
MASK = IN_MODIFY | IN_ATTRIB | IN_MOVE_SELF | IN_DELETE_SELF
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len (then len bytes of name)


def _libc() -> ctypes.CDLL | None:
    try:
        # The process's own symbols include the C library's; find_library would run ldconfig.
        libc = ctypes.CDLL(None, use_errno=True)
        libc.inotify_init1  # noqa: B018 - present on Linux only
    except (OSError, AttributeError):
        return None
    return libc


class FileEvents:
    """One inotify instance per source; :meth:`watch` a followed file, and ``wakeup`` fires on its writes."""

    def __init__(self, wakeup: Wakeup) -> None:
        self.wakeup = wakeup
        self._libc = _libc()
        self._fd = -1
        self._watches: dict[tuple[int, int], int] = {}  # (dev, inode) → watch descriptor
        self._warned = False

    def start(self) -> bool:
        """Open the inotify instance on the running loop; False when it is not available."""
        if self._libc is None:
            return False
        fd = self._libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            self._unavailable(ctypes.get_errno())
            return False
        self._fd = fd
        asyncio.get_running_loop().add_reader(fd, self._readable)
        return True

    def watch(self, path: str, inode: tuple[int, int]) -> None:
        """Wake the readers when the file at ``path`` (device and inode ``inode``, followed
        whatever it is renamed to) is written."""
        if self._fd < 0 or inode in self._watches or self._libc is None:
            return
        wd = self._libc.inotify_add_watch(self._fd, os.fsencode(path), MASK)
        if wd < 0:
            self._unavailable(ctypes.get_errno())
            return
        self._watches[inode] = wd

    def unwatch(self, inode: tuple[int, int]) -> None:
        wd = self._watches.pop(inode, None)
        if wd is not None and self._libc is not None and wd not in self._watches.values():
            self._libc.inotify_rm_watch(self._fd, wd)  # fails harmlessly once the file is gone

    def close(self) -> None:
        if self._fd >= 0:
            asyncio.get_running_loop().remove_reader(self._fd)
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1
            self._watches.clear()

    def _readable(self) -> None:
        try:
            while os.read(self._fd, 1 << 16):
                pass  # which file does not matter: every reader of the source looks at its own
        except BlockingIOError:
            pass
        except OSError:
            return
        self.wakeup.fire()

    def _unavailable(self, errno_value: int) -> None:
        if not self._warned:
            self._warned = True
            log.warning(
                "Cannot watch followed files; readers poll instead",
                extra={"error": os.strerror(errno_value) if errno_value else "unknown"},
            )
