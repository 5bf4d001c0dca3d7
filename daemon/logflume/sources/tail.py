"""A file source: discovers files, runs one reader per file identity, tracks acks and checkpoints.

Faults. A matching file that cannot be read (permissions, I/O error) is logged once with its path
and errno, counted (``open_errors``, and listed in :attr:`FileSource.unreadable`), and tried again
on every scan; once it can be read it is followed like any other. A checkpoint that cannot be saved
(state_dir full) is logged once, counted, and saved at the next interval: delivery goes on, and
until a save succeeds a restart re-sends from the last saved checkpoint.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from logflume.errors import CheckpointError
from logflume.events import Ack, RawChunk
from logflume.fsutil import WriteFaults, describe, os_error
from logflume.sources.checkpoint import CheckpointStore, FileCheckpoint
from logflume.sources.config import SourceConfig
from logflume.sources.discovery import Wakeup, matching, missing_directories, watch_changes, watch_roots
from logflume.sources.fingerprint import fingerprint_path, is_gzip
from logflume.sources.notices import FileNotices
from logflume.sources.notify import FileEvents
from logflume.sources.reader import FileReader
from logflume.sources.state import FileState, SourceStats
from logflume.telemetry import READER_FAILED, Count, count

log = logging.getLogger("logflume.sources")

# Checkpoints of files not seen for this long are forgotten.
CHECKPOINT_TTL = 7 * 86400.0


class FileSource:
    """Follows every file matching the source's globs."""

    def __init__(
        self, config: SourceConfig, state_dir: Path, emit: Callable[[RawChunk], Awaitable[None]]
    ) -> None:
        self.name = config.name
        self.config = config
        self.wakeup = Wakeup()
        # Readers at the end of their file wait on this: fired by inotify when a followed file is
        # written (watch: auto), and whenever ``wakeup`` fires.
        self.written = Wakeup()
        self.file_events = FileEvents(self.written) if config.watch == "auto" else None
        self.stats = SourceStats()
        self.store = CheckpointStore(state_dir / "checkpoints" / f"{config.name}.json")
        self.files: dict[str, FileState] = {}  # fingerprint -> state
        self._emit = emit
        self._present: dict[tuple[int, int], str] = {}  # (dev, ino) -> path, from the last scan
        self._gz_done: set[tuple[int, int, int, int]] = set()
        self._gz_fingerprints: dict[tuple[int, int, int, int], str | None] = {}
        self._readers: dict[str, asyncio.Task[None]] = {}
        self._stop = asyncio.Event()
        self._dirty = False
        self._first_scan = True
        self._checkpoints: dict[str, FileCheckpoint] = {}
        self.checkpoint_faults = WriteFaults(log, "checkpoints", config.name)
        # Matching files that could not be read at the last scan: path -> errno name.
        self.unreadable: dict[str, str] = {}
        self.notices = FileNotices(config.name, list(config.include))
        self._found: list[tuple[str, str, os.stat_result, bool]] = []

    # -- what readers ask -------------------------------------------------------------------

    def new_ack(self, state: FileState, end_offset: int) -> Ack:
        ack = Ack(state.fingerprint, end_offset, self._acked)
        state.pending.append(ack)
        self.stats.chunks += 1
        return ack

    def reachable(self, state: FileState) -> bool:
        path = self._present.get((state.dev, state.ino))
        if path is not None:
            self._moved(state, path)
        return path is not None

    def _moved(self, state: FileState, path: str) -> None:
        """The file followed as ``state`` is at ``path`` now (renamed within the globs)."""
        if path != state.path:
            extra = {"source": self.name, "path": state.path, "to": path}
            log.info("File rotated", extra=extra)
            state.path = path

    def stopping(self) -> bool:
        return self._stop.is_set()

    def telemetry(self) -> list[Count]:
        """What reading counted (events and parse failures are its parser's, added by the caller)."""
        stats = self.stats
        return [
            count("chunks", stats.chunks),
            count("bytes_read", stats.bytes_read),
            count("events_dead_lettered", stats.lines_too_long),
            count("files_finished", stats.files_finished),
            count("errors", stats.open_errors + stats.lines_too_long, error_type=READER_FAILED),
        ]

    def _acked(self, ack: Ack) -> None:
        state = self.files.get(ack.key)
        if state is not None and state.complete(ack):
            state.updated = time.time()
            self._dirty = True

    # -- checkpoints ------------------------------------------------------------------------

    def load_checkpoints(self) -> None:
        self._checkpoints = self.store.load()

    def checkpoint_due(self) -> bool:
        return self._dirty

    def mark_dirty(self) -> None:
        self._dirty = True

    def snapshot(self) -> dict[str, FileCheckpoint]:
        """The acknowledged offsets now; save them once the sinks synced (``save_checkpoints``)."""
        self._dirty = False
        now = time.time()
        merged = {fp: cp for fp, cp in self._checkpoints.items() if now - cp.updated < CHECKPOINT_TTL}
        for fp, state in self.files.items():
            merged[fp] = FileCheckpoint(
                state.path, state.dev, state.ino, state.acked_offset, state.updated or now
            )
        return merged

    def save_checkpoints(self, snapshot: dict[str, FileCheckpoint] | None = None) -> bool:
        """Write a snapshot (by default, the offsets acknowledged now); False when the disk refused
        (logged once, counted; the next interval tries again)."""
        merged = self.snapshot() if snapshot is None else snapshot
        try:
            self.store.save(merged)
        except CheckpointError as exc:
            self.checkpoint_faults.failed(self.store.path, os_error(exc))
            self._dirty = True
            return False
        self._checkpoints = merged
        self.checkpoint_faults.succeeded()
        return True

    def in_flight(self) -> int:
        return sum(len(s.pending) for s in self.files.values())

    def live_files(self) -> list[FileState]:
        """The files being read that are still at their path: one per path.

        A file renamed out of the globs or deleted is still drained for ``rotate_wait``, but its
        old path already names its successor: it is no longer reported under that path.
        """
        live: dict[str, FileState] = {}
        present = self._present
        for state in self.files.values():
            if state.active and (state.compressed or present.get((state.dev, state.ino)) == state.path):
                live[state.path] = state
        return sorted(live.values(), key=lambda state: state.path)

    def lag_bytes(self) -> dict[str, int]:
        """Bytes each live file (:meth:`live_files`, plain ones) has beyond what was read."""
        lag: dict[str, int] = {}
        for state in self.live_files():
            if state.compressed:
                continue  # its size is compressed bytes, its offset decompressed ones
            try:
                lag[state.path] = max(0, os.stat(state.path).st_size - state.read_offset)
            except OSError:
                continue
        return lag

    # -- running ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Scan and follow until :meth:`stop`; then wait for readers to return."""
        watcher = None
        if self.config.watch == "auto":
            roots = watch_roots(self.config.include)
            watcher = asyncio.create_task(
                watch_changes(roots, self.config.include, self.wakeup, self._stop), name=f"watch:{self.name}"
            )
            if self.file_events is not None and not self.file_events.start():
                self.file_events = None
        try:
            while not self._stop.is_set():
                await asyncio.to_thread(self._scan_blocking_part)
                self._start_readers()
                # Readers look again too: a rotation the scan found may end one of them.
                self.written.fire()
                await self.wakeup.wait(self.config.scan_interval)
        finally:
            if watcher is not None:
                self._stop.set()
                await watcher
            if self._readers:
                await asyncio.gather(*self._readers.values(), return_exceptions=True)
            if self.file_events is not None:
                self.file_events.close()

    def stop(self) -> None:
        self._stop.set()
        self.wakeup.fire()
        self.written.fire()

    # Discovery does blocking stat/read calls: it runs in a worker thread and only records what
    # it found; readers are started on the loop by _start_readers.
    def _scan_blocking_part(self) -> None:
        limit = self.config.fingerprint_bytes
        notices = self.notices
        present: dict[tuple[int, int], str] = {}
        found: list[tuple[str, str, os.stat_result, bool]] = []
        unreadable: dict[str, str] = {}
        paths, excluded = matching(self.config.include, self.config.exclude)
        for path, rule in excluded.items():
            notices.skipped(path, f"excluded by {rule}")
        for path in paths:
            try:
                st = os.stat(path)
            except OSError:
                continue
            compressed = path.endswith(".gz") or is_gzip(path)
            if not compressed:
                present[(st.st_dev, st.st_ino)] = path
            try:
                fp = self._fingerprint(path, st, compressed, limit)
            except OSError as exc:
                unreadable[path] = self._cannot_read(path, exc)
                continue
            if fp is not None:
                found.append((fp, path, st, compressed))
            elif st.st_size:
                reason = f"too small to identify yet: no whole first line and under {limit} bytes"
                notices.skipped(path, reason)
            else:
                log.debug("Empty file waits for its first line", extra={"source": self.name, "path": path})
        for path in self.unreadable.keys() - unreadable.keys():
            log.info("File can be read again", extra={"source": self.name, "path": path})
        self.unreadable = unreadable
        notices.forget([*paths, *excluded])
        following = bool(found) or self.stats.files_open > 0
        notices.coverage(following, [] if following else missing_directories(self.config.include))
        if self._first_scan:
            found = self._orphans({fp for fp, *_ in found}) + found
        self._present = present
        self._found = found

    def _cannot_read(self, path: str, exc: OSError) -> str:
        """Count a failed read of a matching file; log it the first time in a row it fails."""
        self.stats.open_errors += 1
        fields = describe(exc)
        if path not in self.unreadable:
            extra = {"source": self.name, "path": path, **fields}
            log.warning("Cannot read file; will retry at every scan", extra=extra)
        return str(fields["errno"])

    def _fingerprint(self, path: str, st: os.stat_result, compressed: bool, limit: int) -> str | None:
        if not compressed:
            return fingerprint_path(path, limit, False)
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        if key not in self._gz_fingerprints:
            self._gz_fingerprints[key] = fingerprint_path(path, limit, True)
        return self._gz_fingerprints[key]

    def _orphans(self, seen: set[str]) -> list[tuple[str, str, os.stat_result, bool]]:
        """Checkpointed files rotated out of the globs while the daemon was down.

        Looks in the directory each was last seen in for the same inode (renamed) or a
        compressed copy of it, so its unread remainder is finished before anything else.
        """
        limit = self.config.fingerprint_bytes
        out: list[tuple[str, str, os.stat_result, bool]] = []
        for fp, cp in self._checkpoints.items():
            if fp in seen:
                continue
            directory = os.path.dirname(cp.path)
            base = os.path.basename(cp.path)
            try:
                entries = list(os.scandir(directory))
            except OSError:
                continue
            for entry in entries:
                try:
                    st = entry.stat()
                except OSError:
                    continue
                compressed = entry.name.endswith(".gz")
                same_inode = (st.st_dev, st.st_ino) == (cp.dev, cp.ino)
                if not (same_inode or (compressed and entry.name.startswith(base))):
                    continue
                try:
                    same = fingerprint_path(entry.path, limit, compressed) == fp
                except OSError:
                    continue  # unreadable: reported by the scan when it matches a glob
                if same:
                    log.info(
                        "Finishing file rotated while stopped",
                        extra={"source": self.name, "path": entry.path, "offset": cp.offset},
                    )
                    out.append((fp, entry.path, st, compressed))
                    break
        return out

    def _start_readers(self) -> None:
        first = self._first_scan
        self._first_scan = False
        by_inode = {(s.dev, s.ino): s for s in self.files.values() if s.active}
        for fp, path, st, compressed in self._found:
            holder = None if compressed else by_inode.get((st.st_dev, st.st_ino))
            if holder is not None and holder.fingerprint != fp:
                # Truncated and rewritten past the old offset between two looks: the inode now
                # holds another identity; its reader must stop.
                holder.truncated = True
            state = self.files.get(fp)
            if state is not None and state.active:
                if not compressed and (st.st_dev, st.st_ino) == (state.dev, state.ino):
                    self._moved(state, path)
                else:
                    copy = f"a copy of {state.path} (the same first line), which is being read"
                    self.notices.skipped(path, copy)
                continue
            if compressed:
                gz_key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
                if gz_key in self._gz_done:
                    continue
            if state is None:
                cp = self._checkpoints.get(fp)
                if cp is not None:
                    offset, start = cp.offset, "checkpoint"
                elif first and self.config.read_from == "end" and not compressed:
                    offset, start = st.st_size, "end"
                else:
                    offset, start = 0, "beginning"
                state = FileState(fp, path, st.st_dev, st.st_ino, offset, offset, updated=time.time())
                self.files[fp] = state
                if cp is None and offset:
                    self._dirty = True
                extra = {"source": self.name, "path": path, "fingerprint": fp, "offset": offset}
                log.info("File found", extra={**extra, "start": start})
            elif state.truncated and (st.st_dev, st.st_ino) == (state.dev, state.ino) and not compressed:
                continue  # the truncated inode: its new content has another fingerprint
            if not compressed:
                state.dev, state.ino, state.truncated = st.st_dev, st.st_ino, False
            state.path = path
            state.compressed = compressed
            state.active = True
            self.notices.not_skipped(path)
            reader = FileReader(self, state, path, compressed, self._emit)
            done_key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) if compressed else None
            self._readers[fp] = asyncio.create_task(self._read(reader, done_key), name=f"read:{path}")

    async def _read(self, reader: FileReader, gz_key: tuple[int, int, int, int] | None) -> None:
        state = reader.state
        self.stats.files_open += 1
        try:
            finished = await reader.run()
        except Exception:
            log.exception("Reader failed", extra={"source": self.name, "path": reader.path})
            finished = False
        finally:
            self.stats.files_open -= 1
            state.active = False
            self._readers.pop(state.fingerprint, None)
            if self.file_events is not None and not reader.compressed:
                self.file_events.unwatch((state.dev, state.ino))
        if finished:
            self.stats.files_finished += 1
            if gz_key is not None:
                self._gz_done.add(gz_key)
        self.wakeup.fire()
