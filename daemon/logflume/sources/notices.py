"""What the daemon's own log says about the files of one source: each fact once, with its path.

A scan runs every ``scan_interval`` and sees the same files again and again; an operator wants to
read *found*, *skipped and why*, *rotated*, … once per file, not once per scan. Reader-side facts
(opened, deleted, finished) are logged by the reader, once per reader. Also whether the source
follows any file at all: a glob under a missing directory is a config or mount mistake an
operator must hear about (once, at WARNING), and hear about again when it is mended.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

log = logging.getLogger("logflume.sources")

# Source states, as /readyz and logflume_source_state report them.
STARTING = "starting"  # no scan finished yet
FOLLOWING = "following"  # at least one file matches (or is still being read)
WAITING = "waiting"  # nothing matches yet; every glob's directory exists (files may come)
MISSING = "missing"  # nothing matches and a glob's directory does not exist
STATES = (STARTING, FOLLOWING, WAITING, MISSING)


class FileNotices:
    """Remembers what was said about each path of one source, and says only what is new."""

    def __init__(self, source: str, include: list[str]) -> None:
        self.source = source
        self.include = include
        self.state = STARTING
        self.missing: list[str] = []  # glob directories that do not exist (when not following)
        self._skipped: dict[str, str] = {}  # path -> the reason last logged
        self._warned: str | None = None  # the not-following state last logged

    def skipped(self, path: str, reason: str) -> None:
        """A matching file is not read (yet): say why, once per path and reason."""
        if self._skipped.get(path) != reason:
            self._skipped[path] = reason
            log.info("File skipped", extra={"source": self.source, "path": path, "reason": reason})

    def not_skipped(self, path: str) -> None:
        self._skipped.pop(path, None)

    def forget(self, present: Iterable[str]) -> None:
        """Forget paths no longer there (a file that comes back is reported again)."""
        keep = set(present)
        for path in [path for path in self._skipped if path not in keep]:
            del self._skipped[path]

    def coverage(self, following: bool, missing: list[str]) -> str:
        """Record whether the source follows any file after a scan; log a change of that."""
        state = FOLLOWING if following else MISSING if missing else WAITING
        self.missing = missing if not following else []
        if state != FOLLOWING and state != self._warned:
            self._warned = state
            extra = {"source": self.source, "include": self.include, "missing_directories": missing}
            log.warning("Source follows no file", extra=extra)
        elif state == FOLLOWING and self._warned is not None:
            self._warned = None
            log.info("Source follows files again", extra={"source": self.source})
        self.state = state
        return state
