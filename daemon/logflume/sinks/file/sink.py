"""The file sink: JSON lines under a path template, rotated by size and age, gzip and retention.

Acknowledgement: a batch is acknowledged once written to the kernel (it survives a crash of the
daemon); before checkpoints are written the app calls :meth:`sync`, which fsyncs what was written,
so a checkpoint never covers data a power loss could take back (``fsync: checkpoint``).
"""

from __future__ import annotations

import asyncio
import glob
import gzip
import logging
import os
import re
import shutil
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import orjson

from logflume import digest
from logflume.errors import DigestError, RetryableSinkError
from logflume.events import META_KEY, Event
from logflume.sinks.base import ACCEPTED, WriteResult
from logflume.sinks.file.config import FileSinkConfig
from logflume.sinks.registry import SinkContext

log = logging.getLogger("logflume.sinks.file")

_dumps = orjson.dumps
_OPTS = orjson.OPT_APPEND_NEWLINE


@dataclass
class _OpenFile:
    path: str
    fd: int
    size: int
    opened: float
    dirty: bool = False


def _by_source(events: list[Event]) -> dict[str, list[Event]]:
    """Events grouped by their source (one group in the common case)."""
    first = events[0].get(META_KEY)
    last = events[-1].get(META_KEY)
    groups: dict[str, list[Event]] = {}
    if isinstance(first, dict) and isinstance(last, dict):
        source = first.get("source", "logflume")
        if source == last.get("source") and all(e[META_KEY]["source"] == source for e in events):
            return {source: events}
    for event in events:
        meta = event.get(META_KEY)
        source = meta.get("source", "logflume") if isinstance(meta, dict) else "logflume"
        groups.setdefault(source, []).append(event)
    return groups


def encode(events: list[Event]) -> bytearray:
    """JSON lines for ``events``; values orjson cannot encode become strings.

    Appended one by one to a buffer rather than joined from a list: orjson returns each line in
    an ~8 KiB allocation, so a list of a batch's lines costs ~8 KiB per event until the join
    (and ~5 us per event in page faults) where appending reuses one block (~0.7 us).
    """
    out = bytearray()
    extend = out.extend
    try:
        for event in events:
            extend(_dumps(event, option=_OPTS))
    except TypeError:
        out.clear()
        for event in events:
            extend(_dumps(event, option=_OPTS, default=str))
    return out


class FileSink:
    def __init__(self, config: FileSinkConfig, context: SinkContext) -> None:
        self.name = config.name
        self.config = config
        self._files: dict[str, _OpenFile] = {}  # path -> open file
        self._current: dict[str, str] = {}  # source -> the path its events go to now
        # Compression runs beside the writes, one file at a time, so rotation never stalls output.
        self._compressor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"gzip:{config.name}")
        self._compressions: list[Future[None]] = []

    async def open(self) -> None:
        await asyncio.to_thread(self._compress_leftovers)

    def _compress_leftovers(self) -> None:
        """Compress rotated files a crash left uncompressed (renamed, not yet gzipped)."""
        if self.config.compression != "gzip":
            return
        for path in glob.glob(self._pattern(None)):
            if _ROTATED.search(path) and not path.endswith((".gz", ".tmp")):
                self._submit_compression(path)

    def render(self, source: str, now: float) -> str:
        return time.strftime(
            self.config.path.replace("{source}", source.replace("%", "%%")), time.gmtime(now)
        )

    async def write(self, events: list[Event]) -> WriteResult:
        if not events:
            return ACCEPTED
        now = time.time()
        # Written on the loop thread: a write() to the page cache takes microseconds, while handing
        # each batch to a worker thread made both threads fight for the GIL and cost ~30% more CPU
        # (bench/throughput.py). fsync, which can take long, runs in a thread (see sync()).
        try:
            self._write_outputs(
                [
                    (source, self.render(source, now), encode(group))
                    for source, group in _by_source(events).items()
                ],
                now,
            )
        except OSError as exc:
            raise RetryableSinkError(
                f"cannot write {exc.filename or self.config.path}: {exc.strerror}"
            ) from exc
        return ACCEPTED

    def _write_outputs(self, outputs: list[tuple[str, str, bytearray]], now: float) -> None:
        for source, path, data in outputs:
            handle = self._handle(source, path, now)
            view = memoryview(data)
            while view:
                view = view[os.write(handle.fd, view) :]
            handle.size += len(data)
            handle.dirty = True
            if self.config.fsync == "always":
                os.fsync(handle.fd)
                handle.dirty = False
            self._maybe_rotate(handle, now)

    def _handle(self, source: str, path: str, now: float) -> _OpenFile:
        handle = self._files.get(path)
        if handle is not None:
            return handle
        previous = self._current.get(source)
        if previous is not None and previous in self._files and previous != path:
            # The template moved on (a new day): close and compress what the source left behind.
            self._close(self._files[previous], rotate=False)
        self._current[source] = path
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, self.config.file_mode)
        os.fchmod(fd, self.config.file_mode)
        handle = _OpenFile(path, fd, os.fstat(fd).st_size, now)
        self._files[path] = handle
        return handle

    def _maybe_rotate(self, handle: _OpenFile, now: float) -> None:
        rotation = self.config.rotation
        too_big = rotation.max_size is not None and handle.size >= rotation.max_size
        too_old = rotation.max_age is not None and now - handle.opened >= rotation.max_age
        if too_big or too_old:
            self._close(handle, rotate=True)

    def _close(self, handle: _OpenFile, rotate: bool) -> None:
        """Close a file; rotated files get a unique name; closed files are compressed."""
        os.fsync(handle.fd)
        os.close(handle.fd)
        del self._files[handle.path]
        target = handle.path
        if rotate:
            stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
            target = f"{handle.path}.{stamp}.{time.time_ns() % 1_000_000_000:09d}"
            os.rename(handle.path, target)
        source = next((s for s, p in self._current.items() if p == handle.path), None)
        if self.config.compression == "gzip":
            self._submit_compression(target, source)
        elif source is not None:
            self._apply_retention(source)

    def _submit_compression(self, path: str, source: str | None = None) -> None:
        def job() -> None:
            try:
                archive_file(path, self.config.compression_level, self._wants_digest(path))
            except OSError as exc:
                log.warning("Cannot compress file", extra={"path": path, "error": exc.strerror})
            if source is not None:
                self._apply_retention(source)

        self._compressions = [f for f in self._compressions if not f.done()]
        self._compressions.append(self._compressor.submit(job))

    def _wants_digest(self, path: str) -> bool:
        if not self.config.digest:
            return False
        try:
            return os.stat(path).st_size >= self.config.digest_min_size
        except OSError:
            return False

    def _pattern(self, source: str | None) -> str:
        """A glob matching every file the template makes for ``source`` (None: any), rotated too."""
        template = self.config.path.replace("{source}", "*" if source is None else glob.escape(source))
        return re.sub(r"%[a-zA-Z%]", "*", template) + "*"

    def _apply_retention(self, source: str) -> None:
        retention = self.config.retention
        if retention.max_files is None and retention.max_age is None:
            return
        # Never the files being written: read here, in the compression thread, while the loop may
        # be reopening a template's path after a rotation (it is in _current before it exists).
        active = set(self._files) | set(self._current.values())
        closed = []
        for path in glob.glob(self._pattern(source)):
            if path in active or path.endswith(".tmp"):
                continue
            try:
                closed.append((os.stat(path).st_mtime, path))
            except OSError:
                continue
        closed.sort(reverse=True)
        now = time.time()
        for index, (mtime, path) in enumerate(closed):
            expired = retention.max_age is not None and now - mtime > retention.max_age
            surplus = retention.max_files is not None and index >= retention.max_files
            if expired or surplus:
                try:
                    os.unlink(path)
                except OSError as exc:
                    log.warning("Cannot delete rotated file", extra={"path": path, "error": exc.strerror})
                    continue
                for sidecar in digest.sidecars_of(Path(path)):
                    sidecar.unlink(missing_ok=True)

    async def sync(self) -> None:
        # Age-based rotation must happen even when no events arrive.
        now = time.time()
        for handle in list(self._files.values()):
            self._maybe_rotate(handle, now)
        # fsync duplicates of the descriptors in a thread: writes (and rotations closing the
        # originals) go on meanwhile on the loop, and a duplicate syncs the same file.
        dirty = [handle for handle in self._files.values() if handle.dirty]
        fds = [os.dup(handle.fd) for handle in dirty]
        for handle in dirty:
            handle.dirty = False
        try:
            await asyncio.to_thread(_fsync_all, fds)
        except OSError:
            for handle in dirty:
                handle.dirty = True
            raise

    async def close(self) -> None:
        await asyncio.to_thread(self._close_all)

    def _close_all(self) -> None:
        for handle in list(self._files.values()):
            os.fsync(handle.fd)
            os.close(handle.fd)
            del self._files[handle.path]
        self._compressor.shutdown(wait=True)

    async def check(self) -> str:
        path = Path(self.render("check", time.time())).parent
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".logflume-check-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
        return f"directory {path} is writable"


def _fsync_all(fds: list[int]) -> None:
    try:
        for fd in fds:
            os.fsync(fd)
    finally:
        for fd in fds:
            os.close(fd)


_ROTATED = re.compile(r"\.\d{8}T\d{6}\.\d{9}$")


def archive_file(path: str, level: int, with_digest: bool) -> str:
    """Close out a finished file: its analysis digest (when wanted), then ``path.gz``.

    A digest that cannot be built is logged and skipped: ``analyze`` then decodes the archive,
    so the file is never held back for it.
    """
    if with_digest:
        plain = Path(path)
        try:
            digest.build_in_child(plain, Path(path + ".gz"), digest.Fingerprint.of_plain(plain))
        except (DigestError, OSError) as exc:
            log.warning("Cannot build analysis digest", extra={"path": path, "error": str(exc)})
    return compress_file(path, level)


def compress_file(path: str, level: int) -> str:
    """gzip ``path`` to ``path.gz`` (temp, fsync, rename), then remove the original."""
    target = path + ".gz"
    tmp = target + ".tmp"
    mode = os.stat(path).st_mode & 0o777
    # Created with the file's mode (not the umask's): the archive is never more readable than it.
    opener = lambda name, flags: os.open(name, flags, mode)  # noqa: E731 - one use, right here
    with open(path, "rb") as src, open(tmp, "wb", opener=opener) as raw:
        with gzip.GzipFile(
            filename=os.path.basename(path), mode="wb", compresslevel=level, fileobj=raw
        ) as gz:
            shutil.copyfileobj(src, gz, 1 << 20)
        raw.flush()
        os.fsync(raw.fileno())
    os.chmod(tmp, mode)
    os.replace(tmp, target)
    os.unlink(path)
    return target
