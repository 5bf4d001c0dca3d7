"""The file sink: JSON lines under a path template, rotated by size and age, gzip and retention.

Acknowledgement: a batch is acknowledged once written to the kernel (it survives a crash of the
daemon); before checkpoints are written the app calls :meth:`sync`, which fsyncs what was written,
so a checkpoint never covers data a power loss could take back (``fsync: checkpoint``).

Faults: a write that fails (full disk, I/O error) leaves its file as it was
(:class:`~logflume.fsutil.AppendFile`: the partial batch is truncated away) and is retried by the
runner, so output resumes without a torn or a repeated line once space returns; when a batch spans
several sources, the ones written are not sent again. A torn last line a crash left is cut off at
start and whenever a file is reopened. Rotation, closing and compression that fail are tried again
later; each kind of failure is logged once until it works again. Retention and leftover
compression only touch files the path template produced (:mod:`~logflume.sinks.file.naming`).

A failed fsync is different: Linux may already have dropped the pages it could not write, and a
later fsync succeeds without them. So after one, :meth:`FileSink.sync` fails until the daemon
restarts: no checkpoint passes data that may be gone, and the restart writes it again from the
last checkpoint.
"""

from __future__ import annotations

import asyncio
import errno
import glob
import gzip
import logging
import os
import shutil
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from logflume import digest, extras, lines
from logflume.errors import DigestError, FatalSinkError, RetryableSinkError
from logflume.events import Event
from logflume.fsutil import WriteFaults, describe, probe_directory, repair_tail
from logflume.lines import Lines
from logflume.sinks.base import ACCEPTED, LinesResult, WriteResult
from logflume.sinks.file.config import FileSinkConfig
from logflume.sinks.file.naming import ROTATED, Template
from logflume.sinks.file.output import OutputFile
from logflume.sinks.registry import SinkContext

log = logging.getLogger("logflume.sinks.file")

# Seconds between attempts to compress files whose compression failed (e.g. a full disk).
COMPRESS_RETRY_SECONDS = 30.0


_ACCEPTED_LINES = LinesResult()


def _by_source(blocks: list[Lines]) -> dict[str, list[Lines]]:
    """Blocks grouped by their source, in order of first appearance (one group in the common case)."""
    groups: dict[str, list[Lines]] = {}
    for block in blocks:
        groups.setdefault(block.source, []).append(block)
    return groups


class FileSink:
    def __init__(self, config: FileSinkConfig, context: SinkContext) -> None:
        self.name = config.name
        self.config = config
        self.template = Template(config.path)
        self._files: dict[str, OutputFile] = {}  # path -> open file
        self._current: dict[str, str] = {}  # source -> the path its events go to now
        self._sources: dict[str, str] = {}  # path -> the source writing it
        # Compression runs beside the writes, one file at a time, so rotation never stalls output.
        self._compressor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"gzip:{config.name}")
        self._compressions: list[Future[None]] = []
        # Digests are built with DuckDB (logflume[analysis]); without it they are skipped, once said.
        self._digests = config.compression == "gzip" and config.digest and extras.installed("analysis")
        if config.compression == "gzip" and config.digest and not self._digests:
            log.info(
                "Analysis digests off: DuckDB is not installed",
                extra={"sink": config.name, "install": extras.install_hint("analysis")},
            )
        # Closed files whose compression failed (path -> source), tried again every
        # COMPRESS_RETRY_SECONDS; written by the compression thread, read on the loop.
        self._uncompressed: dict[str, str | None] = {}
        self._uncompressed_lock = threading.Lock()
        self._compress_retry_at = 0.0
        self._rotation_faults = WriteFaults(log, "rotated file", config.name)
        self._fsync_failure: str | None = None  # set by the first failed fsync, for good
        self._compression_faults = WriteFaults(log, "compressed file", config.name)

    async def open(self) -> None:
        await asyncio.to_thread(self._recover)

    async def prepare(self) -> None:
        """Nothing to make ahead: directories are created when a file is opened."""

    def _recover(self) -> None:
        """After a crash: cut torn last lines off the files that were being written, compress
        rotated files left uncompressed (renamed, not yet gzipped) and delete half-written
        archives. Only this template's files."""
        for path in glob.glob(self.template.glob(None)):
            if path.endswith(".gz.tmp") and self.template.owns(path[: -len(".gz.tmp")], None):
                Path(path).unlink(missing_ok=True)  # its plain file is still there
                continue
            if path.endswith(".gz") or not self.template.owns(path, None):
                continue
            if ROTATED.search(path):
                if self.config.compression == "gzip":
                    self._submit_compression(path)
                continue
            try:
                fd = os.open(path, os.O_RDWR | os.O_APPEND)
                try:
                    repair_tail(path, fd, os.fstat(fd).st_size)
                finally:
                    os.close(fd)
            except OSError as exc:
                log.warning("Cannot check the end of a file", extra={"path": path, "error": exc.strerror})

    def render(self, source: str, now: float) -> str:
        return self.template.render(source, now)

    async def write(self, events: list[Event]) -> WriteResult:
        """Events (encoded first): for callers that hold decoded events; the runner writes lines."""
        result = await self.write_lines(lines.encode(events))
        return WriteResult(retry=lines.decode(result.retry)) if result.retry else ACCEPTED

    async def write_lines(self, blocks: list[Lines]) -> LinesResult:
        if not blocks:
            return _ACCEPTED_LINES
        now = time.time()
        groups = list(_by_source(blocks).items())
        # Written on the loop thread: a write() to the page cache takes microseconds, while handing
        # each batch to a worker thread made both threads fight for the GIL and cost ~30% more CPU
        # (bench/throughput.py). fsync, which can take long, runs in a thread (see sync()).
        for index, (source, group) in enumerate(groups):
            path = self.render(source, now)
            data = group[0].data if len(group) == 1 else b"".join(block.data for block in group)
            try:
                handle = self._handle(source, path, now)
                handle.write_batch(data, fsync=self.config.fsync == "always")
            except OSError as exc:
                if index == 0:
                    raise RetryableSinkError(_failure(exc, path)) from exc
                # The groups before this one are written: sending them again would repeat them.
                return LinesResult(retry=[block for _, rest in groups[index:] for block in rest])
            self._maybe_rotate(handle, now)
        return _ACCEPTED_LINES

    def _handle(self, source: str, path: str, now: float) -> OutputFile:
        handle = self._files.get(path)
        if handle is not None:
            return handle
        previous = self._current.get(source)
        self._current[source] = path
        if previous is not None and previous in self._files and previous != path:
            # The template moved on (a new day): close and compress what the source left behind.
            # A close that fails is tried again at the next sync.
            self._try_close(self._files[previous], rotate=False)
        handle = OutputFile.create(path, self.config.file_mode, now)
        self._files[path] = handle
        self._sources[path] = source
        return handle

    def _maybe_rotate(self, handle: OutputFile, now: float) -> None:
        rotation = self.config.rotation
        too_big = rotation.max_size is not None and handle.size >= rotation.max_size
        too_old = rotation.max_age is not None and now - handle.opened >= rotation.max_age
        if too_big or too_old:
            self._try_close(handle, rotate=True)

    def _try_close(self, handle: OutputFile, rotate: bool) -> None:
        """Close (and rotate) a file; when that fails it stays open, written to, and is tried again."""
        try:
            self._close(handle, rotate)
        except OSError as exc:
            self._rotation_faults.failed(handle.path, exc)
        else:
            self._rotation_faults.succeeded()

    def _close(self, handle: OutputFile, rotate: bool) -> None:
        """Close a file; rotated files get a unique name; closed files are compressed.

        Every step that can fail comes before the handle is given up, so a failure leaves it open.
        """
        self._fsync(handle.fd, handle.path)
        target = handle.path
        if rotate:
            stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
            target = f"{handle.path}.{stamp}.{time.time_ns() % 1_000_000_000:09d}"
            os.rename(handle.path, target)
        os.close(handle.fd)
        del self._files[handle.path]
        source = self._sources.pop(handle.path, None)
        if self.config.compression == "gzip":
            self._submit_compression(target, source, self._wants_digest(target))
        elif source is not None:
            self._apply_retention(source)

    def _submit_compression(self, path: str, source: str | None = None, with_digest: bool = False) -> None:
        def job() -> None:
            try:
                archive_file(path, self.config.compression_level, with_digest)
            except FileNotFoundError:
                pass  # compressed and removed meanwhile (a leftover found twice)
            except OSError as exc:
                self._compression_faults.failed(path, exc)
                with self._uncompressed_lock:
                    self._uncompressed[path] = source
                return
            else:
                self._compression_faults.succeeded()
            if source is not None:
                self._apply_retention(source)

        self._compressions = [f for f in self._compressions if not f.done()]
        self._compressions.append(self._compressor.submit(job))

    def _retry_compressions(self, now: float) -> None:
        if now < self._compress_retry_at:
            return
        self._compress_retry_at = now + COMPRESS_RETRY_SECONDS
        with self._uncompressed_lock:
            failed, self._uncompressed = self._uncompressed, {}
        for path, source in failed.items():
            # Without a digest: its build was tried once; analyze decodes the archive instead.
            self._submit_compression(path, source)

    def _wants_digest(self, path: str) -> bool:
        if not self._digests:
            return False
        try:
            return os.stat(path).st_size >= self.config.digest_min_size
        except OSError:
            return False

    def _apply_retention(self, source: str) -> None:
        retention = self.config.retention
        if retention.max_files is None and retention.max_age is None:
            return
        # Never the files being written: read here, in the compression thread, while the loop may
        # be reopening a template's path after a rotation (it is in _current before it exists).
        active = set(self._files) | set(self._current.values())
        closed = []
        for path in glob.glob(self.template.glob(source)):
            # Only files this template made for this source: another sink (or source) may write
            # beside them in the same directory, and its files are not ours to delete.
            if path in active or not self.template.owns(path, source):
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

    def _fsync(self, fd: int, path: str) -> None:
        try:
            os.fsync(fd)
        except OSError as exc:
            self._fsync_failed(path, exc)
            raise

    def _fsync_failed(self, path: str, exc: OSError) -> None:
        if self._fsync_failure is None:
            self._fsync_failure = f"{_failure(exc, path)} at fsync; a restart writes it again"
            log.error(
                "Fsync failed; checkpoints stop here until a restart writes the data again",
                extra={"path": path, "sink": self.name, **describe(exc)},
            )

    async def sync(self) -> None:
        if self._fsync_failure is not None:
            raise RetryableSinkError(self._fsync_failure)
        now = time.time()
        current = set(self._current.values())
        for handle in list(self._files.values()):
            if handle.path not in current:
                self._try_close(handle, rotate=False)  # a close that failed before
            else:
                # Age-based rotation must happen even when no events arrive.
                self._maybe_rotate(handle, now)
        self._retry_compressions(now)
        # fsync duplicates of the descriptors in a thread: writes (and rotations closing the
        # originals) go on meanwhile on the loop, and a duplicate syncs the same file.
        dirty = [handle for handle in self._files.values() if handle.dirty]
        fds = [os.dup(handle.fd) for handle in dirty]
        for handle in dirty:
            handle.dirty = False
        try:
            await asyncio.to_thread(_fsync_all, fds)
        except OSError as exc:
            for handle in dirty:
                handle.dirty = True
            self._fsync_failed(exc.filename or self.config.path, exc)
            raise RetryableSinkError(_failure(exc, self.config.path)) from exc

    async def close(self) -> None:
        await asyncio.to_thread(self._close_all)

    def _close_all(self) -> None:
        for handle in list(self._files.values()):
            os.fsync(handle.fd)
            os.close(handle.fd)
            del self._files[handle.path]
        self._compressor.shutdown(wait=True)

    async def check(self) -> str:
        """The output directory (of a source named ``check``) can be written, or created: probed
        without creating it (``logflume check`` leaves nothing behind)."""
        path = Path(self.render("check", time.time())).parent
        try:
            probed = await asyncio.to_thread(probe_directory, path)
        except OSError as exc:
            raise FatalSinkError(f"cannot create files in {exc.filename or path}: {exc.strerror}") from exc
        if probed == path:
            return f"directory {path} is writable"
        return f"directory {path} does not exist yet; it will be created in {probed}, which is writable"


def _failure(exc: OSError, path: str) -> str:
    """``cannot write PATH: No space left on device (ENOSPC)`` for the runner's log and last_error."""
    name = errno.errorcode.get(exc.errno, "") if exc.errno is not None else ""
    return f"cannot write {exc.filename or path}: {exc.strerror or exc}" + (f" ({name})" if name else "")


def _fsync_all(fds: list[int]) -> None:
    try:
        for fd in fds:
            os.fsync(fd)
    finally:
        for fd in fds:
            os.close(fd)


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
    try:
        with open(path, "rb") as src, open(tmp, "wb", opener=opener) as raw:
            with gzip.GzipFile(
                filename=os.path.basename(path), mode="wb", compresslevel=level, fileobj=raw
            ) as gz:
                shutil.copyfileobj(src, gz, 1 << 20)
            raw.flush()
            os.fsync(raw.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        # A half-written archive on a full disk only takes the space the retry needs.
        Path(tmp).unlink(missing_ok=True)
        raise
    os.unlink(path)
    return target
