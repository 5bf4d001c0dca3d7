"""Finding files: include/exclude globs, and a wake-up when the filesystem reports a change."""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import glob
import logging
import os
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger("logflume.sources")


def expand(include: Iterable[str], exclude: Iterable[str]) -> list[str]:
    """Regular files matching any include glob and no exclude glob, sorted, as absolute paths."""
    return matching(include, exclude)[0]


def matching(include: Iterable[str], exclude: Iterable[str]) -> tuple[list[str], dict[str, str]]:
    """Regular files matching an include glob: those to follow (sorted, absolute), and those an
    exclude glob set aside (path → the exclude glob)."""
    excluded = [(os.path.abspath(p), p) for p in exclude]
    found: set[str] = set()
    skipped: dict[str, str] = {}
    for pattern in include:
        for path in glob.iglob(os.path.abspath(pattern), recursive="**" in pattern):
            rule = next((given for ex, given in excluded if fnmatch.fnmatch(path, ex)), None)
            if not os.path.isfile(path):
                continue
            if rule is not None:
                skipped[path] = rule
            else:
                found.add(path)
    return sorted(found), skipped


def glob_directory(pattern: str) -> Path:
    """The directory part of a glob before its first wildcard: where its files would appear."""
    parts = Path(os.path.abspath(pattern)).parts
    fixed: list[str] = []
    for part in parts[:-1]:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path("/")


def missing_directories(include: Iterable[str]) -> list[str]:
    """The glob directories (:func:`glob_directory`) that do not exist."""
    return sorted({str(d) for d in map(glob_directory, include) if not d.is_dir()})


def watch_roots(include: Iterable[str]) -> list[str]:
    """The deepest existing directories above each glob's first wildcard."""
    roots: set[str] = set()
    for pattern in include:
        parts = Path(os.path.abspath(pattern)).parts
        fixed: list[str] = []
        for part in parts:
            if glob.has_magic(part):
                break
            fixed.append(part)
        root = Path(*fixed) if fixed else Path("/")
        if root.is_file():
            root = root.parent
        while not root.exists() and root != root.parent:
            root = root.parent
        roots.add(str(root))
    return sorted(roots)


class Wakeup:
    """Wakes every waiter at once; a waiter that misses a wake-up still wakes on its timeout."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def fire(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, at_most: float) -> None:
        event = self._event
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), at_most)


async def watch_changes(roots: list[str], patterns: list[str], wakeup: Wakeup, stop: asyncio.Event) -> None:
    """Fire ``wakeup`` on filesystem events for paths matching ``patterns`` (inotify via watchfiles).

    Only matching paths count: an output directory below the log directory must not turn every
    write the daemon makes into a wake-up.

    When events are unavailable (no inotify, a network filesystem, watch limit reached) this
    returns and the callers keep polling, which is the fallback.
    """
    try:
        from watchfiles import awatch
    except ImportError:  # pragma: no cover - watchfiles is a dependency
        return
    absolute = [os.path.abspath(p) for p in patterns]  # noqa: ASYNC240 - no I/O, string work only

    def relevant(_change: object, path: str) -> bool:
        return any(fnmatch.fnmatch(path, pattern) for pattern in absolute)

    try:
        async for _ in awatch(
            *roots, stop_event=stop, debounce=50, step=20, recursive=True, watch_filter=relevant
        ):
            wakeup.fire()
    except (OSError, RuntimeError) as exc:
        log.warning("Filesystem events unavailable, polling only", extra={"error": str(exc)})
