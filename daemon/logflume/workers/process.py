"""A worker process: ``python -m logflume.workers.process``, started by the daemon's pool.

It reads frames from stdin (:mod:`.wire`), runs each chunk through its :class:`~logflume.pipeline.job.Job`
and writes the result to stdout (from a thread, see :class:`Replies`), one chunk at a time, in the
order they came. It imports only
what the stages need (no sinks, no HTTP server, no asyncio loop).

Its life is the daemon's: signals are the daemon's to handle (SIGINT from a terminal, SIGTERM
from systemd for the whole group), so the worker ignores them and ends when its stdin ends — when
the daemon closes it, or when the daemon process is gone, however it ended. Anything written to
stdout by a library would corrupt the frames, so fd 1 is pointed at stderr and the frames go to a
private copy of the original stdout.
"""

from __future__ import annotations

import gc
import logging
import os
import queue
import signal
import sys
import threading
from typing import BinaryIO

from logflume import selflog
from logflume.gctune import tune_gc, tune_malloc
from logflume.lines import Data
from logflume.pipeline.job import Job
from logflume.sinks.encoders import make_encoder
from logflume.workers.ring import Ring, RingReader
from logflume.workers.wire import LogSettings, frame, read_frame, result_frame, write_frame

log = logging.getLogger("logflume.workers")

IGNORED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)


class Replies:
    """Frames to the daemon, written by a thread of their own: a result (~1.4 MB for a 1 MiB
    chunk) is more than the pipe holds, so writing it waits for the daemon to read; meanwhile the
    worker already works on its next chunk. At most ``QUEUED`` results wait."""

    QUEUED = 2

    def __init__(self, out: int) -> None:
        self.out = out
        self.failed: BaseException | None = None
        self._queue: queue.Queue[list[Data] | None] = queue.Queue(self.QUEUED)
        self._thread = threading.Thread(target=self._write, name="replies", daemon=True)
        self._thread.start()

    def send(self, parts: list[Data]) -> None:
        if self.failed is not None:
            raise self.failed
        self._queue.put(parts)

    def close(self) -> None:
        """Write what is queued, then stop the thread."""
        self._queue.put(None)
        self._thread.join()

    def _write(self) -> None:
        while (parts := self._queue.get()) is not None:
            try:
                write_frame(self.out, parts)
            except OSError as exc:  # the daemon is gone: nothing more can be delivered
                self.failed = exc
                return


def serve(inp: int, out: int) -> int:
    """Answer frames from ``inp`` on ``out`` until ``inp`` ends; the exit code."""
    replies = Replies(out)
    try:
        return _serve(os.fdopen(inp, "rb", buffering=1 << 20), replies)
    finally:
        replies.close()


def _serve(stream: BinaryIO, replies: Replies) -> int:
    job: Job | None = None
    ring: RingReader | None = None
    results: Ring | None = None
    while True:
        received = read_frame(stream)
        if received is None:
            return 0
        message, data = received
        kind = message[0]
        if kind == "chunk":
            assert job is not None, "setup first"
            assert ring is not None, "setup first"
            _, seq, work, region = message
            work.data = ring.take(region) if region is not None else data
            replies.send(result_frame(seq, job.run(work), results))
        elif kind == "setup":
            _, settings, pipeline, parsers, (ring_fd, ring_size), (results_fd, results_size) = message
            ring = RingReader(ring_size, ring_fd)
            results = Ring(results_size, results_fd)
            _log_like(settings)
            try:
                job = Job(pipeline, parsers, make_encoder)
            except Exception as exc:  # reported to the daemon, which cannot start without workers
                replies.send(frame(("failed", f"{type(exc).__name__}: {exc}")))
                return 1
            gc.freeze()  # the stages, tables and patterns live as long as the worker: never scan them
            replies.send(frame(("ready", os.getpid())))
        elif kind == "stages":
            assert job is not None, "setup first"
            # The daemon built the same stages before sending them, so this fails only if a file
            # they read changed in between: exit, and the daemon starts a worker that reads it again.
            job.use(message[1])
        elif kind == "source":
            assert job is not None, "setup first"
            job.add_source(message[1])
        elif kind == "levels":
            selflog.apply_levels(message[1].get(selflog.ROOT, "INFO"), message[1])


def _log_like(settings: LogSettings) -> None:
    selflog.setup_logging(settings.level, settings.format, settings.levels)


def main() -> int:
    for sig in IGNORED:
        signal.signal(sig, signal.SIG_IGN)
    out = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    tune_gc()
    tune_malloc()
    try:
        return serve(0, out)
    except BrokenPipeError:
        return 0  # the daemon is gone: nobody is waiting for the result
    except Exception:
        log.exception("Worker process failed", extra={"pid": os.getpid()})
        return 1


if __name__ == "__main__":
    sys.exit(main())
