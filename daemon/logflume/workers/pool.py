"""Where jobs run: in worker processes (:class:`ProcessPool`) or in the daemon's own (:class:`LocalPool`).

Both take a :class:`~logflume.pipeline.job.ChunkWork` and give a future of its
:class:`~logflume.pipeline.job.ChunkResult`; the caller applies results in the order it
submitted them, so acknowledgements, checkpoints and event ids are the same whichever pool ran
them and in whatever order the workers finished.

A :class:`ProcessPool` starts its workers as fresh interpreters (``python -m
logflume.workers.process``, never a fork: the daemon has threads) and keeps at most
``PER_WORKER`` chunks at each: one being processed and one waiting in its pipe, so no worker
idles between chunks and memory stays bounded. A worker that dies (killed, out of memory, a
crash in a library) is replaced at once and the chunks it held are sent to the new one, in
order: nothing is lost or reordered. A chunk that kills ``MAX_ATTEMPTS`` workers in a row, or a
worker that cannot start, fails the pool with :class:`~logflume.errors.WorkerError`: the daemon
then stops with exit code 1 rather than go on without those lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from logflume.errors import WorkerError
from logflume.gctune import MALLOC_ENV
from logflume.lines import Data
from logflume.pipeline.config import PipelineConfig
from logflume.pipeline.job import ChunkResult, ChunkWork, Job, ParseSettings, StageSet
from logflume.workers.channel import Channel, Message, widen
from logflume.workers.ring import Ring, RingReader
from logflume.workers.wire import LogSettings, frame, restore, split

log = logging.getLogger("logflume.workers")

PER_WORKER = 2
RESULT_RING_BYTES = 4 * 1024 * 1024  # two results of a 1 MiB chunk (~1.4 MB each) and the slack
MAX_ATTEMPTS = 3
START_TIMEOUT = 120.0
STOP_TIMEOUT = 10.0


class Pool(Protocol):
    """What the processor needs from wherever jobs run."""

    size: int

    async def start(self) -> None: ...

    async def submit(self, work: ChunkWork) -> asyncio.Future[ChunkResult]:
        """Hand over ``work`` (waiting while the pool is full); its result comes in the future."""

    def use(self, pipeline: PipelineConfig, built: StageSet) -> None:
        """Run ``pipeline``'s stages (``built`` here, for a pool that runs jobs in this process)
        for every chunk submitted from now on."""

    def add_source(self, settings: ParseSettings) -> None:
        """Parse the source's chunks submitted from now on with ``settings``."""

    def set_levels(self, levels: dict[str, str]) -> None: ...

    async def stop(self) -> None: ...


class LocalPool:
    """Jobs run in the daemon's process, when they are submitted: ``workers: 1``."""

    size = 1

    def __init__(self, job: Job) -> None:
        self.job = job

    async def start(self) -> None:
        return None

    async def submit(self, work: ChunkWork) -> asyncio.Future[ChunkResult]:
        future: asyncio.Future[ChunkResult] = asyncio.get_running_loop().create_future()
        future.set_result(self.job.run(work))
        return future

    def use(self, pipeline: PipelineConfig, built: StageSet) -> None:
        self.job.use(pipeline, built)

    def add_source(self, settings: ParseSettings) -> None:
        self.job.add_source(settings)

    def set_levels(self, levels: dict[str, str]) -> None:
        return None  # the daemon's own loggers

    async def stop(self) -> None:
        return None


@dataclass(eq=False)
class _Task:
    seq: int
    work: ChunkWork
    future: asyncio.Future[ChunkResult]
    attempts: int = 0


@dataclass(eq=False)
class _Worker:
    index: int
    process: subprocess.Popen[bytes]
    ring: Ring  # its chunks
    results: RingReader  # its results
    channel: Channel | None = None
    ready: asyncio.Future[Message] | None = None
    tasks: deque[_Task] = field(default_factory=deque)
    alive: bool = True


class ProcessPool:
    """``size`` worker processes (see the module docstring)."""

    def __init__(
        self, size: int, pipeline: PipelineConfig, parsers: list[ParseSettings], logs: LogSettings
    ) -> None:
        self.size = size
        self.pipeline = pipeline
        self.parsers = {settings.source: settings for settings in parsers}
        self.logs = logs
        self.restarts = 0  # workers started again after one died
        self._workers: list[_Worker | None] = [None] * size
        self._seq = 0
        self._freed = asyncio.Event()
        self._stopping = False
        self._broken: WorkerError | None = None
        self._respawning: set[asyncio.Task[None]] = set()

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start every worker; WorkerError when one cannot start (with its reason)."""
        spawns = (self._spawn(index) for index in range(self.size))
        started = await asyncio.gather(*spawns, return_exceptions=True)
        for outcome in started:
            if isinstance(outcome, _Worker):
                self._workers[outcome.index] = outcome
        failed = [outcome for outcome in started if isinstance(outcome, BaseException)]
        if failed:
            await self.stop()
            raise failed[0]
        log.info("Worker processes started", extra={"workers": self.size, "pids": self.pids()})

    def pids(self) -> list[int]:
        return [worker.process.pid for worker in self._workers if worker is not None]

    async def _spawn(self, index: int) -> _Worker:
        to_worker_r, to_worker_w = os.pipe()
        from_worker_r, from_worker_w = os.pipe()
        ring, results = Ring(), RingReader(RESULT_RING_BYTES)
        results_fd = results.fd  # the same number in the worker (pass_fds)
        try:
            process = await asyncio.to_thread(
                subprocess.Popen,
                [sys.executable, "-m", "logflume.workers.process"],
                stdin=to_worker_r,
                stdout=from_worker_w,
                pass_fds=(ring.fd, results_fd),
                env={**os.environ, **MALLOC_ENV},
            )
        except OSError as exc:
            for fd in (to_worker_r, to_worker_w, from_worker_r, from_worker_w):
                os.close(fd)
            ring.close()
            results.close()
            raise WorkerError(f"cannot start a worker process: {exc}") from exc
        os.close(to_worker_r)
        os.close(from_worker_w)
        results.handed_over()
        widen(to_worker_w)
        widen(from_worker_r)
        worker = _Worker(index, process, ring, results)
        worker.ready = asyncio.get_running_loop().create_future()
        worker.channel = Channel(
            to_worker_w,
            from_worker_r,
            lambda message, data: self._received(worker, message, data),
            lambda: self._ended(worker),
        )
        rings = (ring.fd, ring.size), (results_fd, results.size)
        setup = ("setup", self.logs, self.pipeline, list(self.parsers.values()), *rings)
        worker.channel.send(frame(setup))
        try:
            async with asyncio.timeout(START_TIMEOUT):
                reply = await worker.ready
        except (TimeoutError, WorkerError) as exc:
            worker.alive = False
            await self._end(worker, 0.0)
            reason = f"no answer within {START_TIMEOUT:g}s" if isinstance(exc, TimeoutError) else str(exc)
            raise WorkerError(f"worker process {process.pid} did not start: {reason}") from exc
        if reply[0] != "ready":
            worker.alive = False
            await self._end(worker, 0.0)
            raise WorkerError(f"worker process {process.pid} did not start: {reply[1]}")
        return worker

    async def stop(self) -> None:
        """Close every worker's input and wait for it to end (killing it after STOP_TIMEOUT)."""
        self._stopping = True
        for respawn in self._respawning:
            respawn.cancel()
        await asyncio.gather(*self._respawning, return_exceptions=True)
        workers = [worker for worker in self._workers if worker is not None]
        for worker in workers:
            worker.alive = False
            if worker.channel is not None:
                worker.channel.close_output()
        await asyncio.gather(*(self._end(worker, STOP_TIMEOUT) for worker in workers))
        for worker in workers:
            for pending in worker.tasks:
                if not pending.future.done():
                    pending.future.cancel()
        self._workers = [None] * self.size

    async def _end(self, worker: _Worker, grace: float) -> None:
        """Wait up to ``grace`` seconds for the worker to exit, then kill it; close its pipes."""
        process = worker.process
        if process.poll() is None and grace > 0:
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(process.wait, grace)
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await asyncio.to_thread(process.wait)
        if worker.channel is not None:
            worker.channel.close()
        worker.ring.close()
        worker.results.close()

    # -- work ---------------------------------------------------------------------------------

    async def submit(self, work: ChunkWork) -> asyncio.Future[ChunkResult]:
        while True:
            if self._broken is not None:
                raise self._broken
            worker = self._least_busy()
            if worker is not None and len(worker.tasks) < PER_WORKER:
                break
            self._freed.clear()
            await self._freed.wait()
        self._seq += 1
        task = _Task(self._seq, work, asyncio.get_running_loop().create_future())
        self._send(worker, task)
        return task.future

    def _least_busy(self) -> _Worker | None:
        alive = [worker for worker in self._workers if worker is not None and worker.alive]
        return min(alive, key=lambda worker: len(worker.tasks), default=None)

    def _send(self, worker: _Worker, task: _Task) -> None:
        work = task.work
        data, work.data = work.data, b""
        try:
            assert worker.channel is not None
            region = worker.ring.put(data)  # through shared memory when it fits (see .ring)
            worker.channel.send(frame(("chunk", task.seq, work, region), [] if region else [data]))
        finally:
            work.data = data  # kept: a worker that dies hands it to the next one
        worker.tasks.append(task)

    def use(self, pipeline: PipelineConfig, built: StageSet) -> None:
        # Each worker builds its own from the config (what ``built`` was made of).
        self.pipeline = pipeline
        self._broadcast(("stages", pipeline))

    def add_source(self, settings: ParseSettings) -> None:
        self.parsers[settings.source] = settings
        self._broadcast(("source", settings))

    def set_levels(self, levels: dict[str, str]) -> None:
        self.logs = LogSettings(self.logs.level, self.logs.format, dict(levels))
        self._broadcast(("levels", dict(levels)))

    def _broadcast(self, message: Message) -> None:
        # Queued behind the chunks already sent: those still run with what was in use when they
        # were submitted. A worker started later gets the pool's current settings in its setup.
        for worker in self._workers:
            if worker is not None and worker.alive and worker.channel is not None:
                worker.channel.send(frame(message))

    # -- results and deaths -------------------------------------------------------------------

    def _received(self, worker: _Worker, message: Message, data: bytearray) -> None:
        kind = message[0]
        if kind == "result":
            _, seq, result, sizes, region = message
            # Copied out at once, whatever becomes of the result: the worker reuses the region.
            parts: list[Data] = (
                list(worker.results.take_parts(region, sizes)) if region is not None else split(sizes, data)
            )
            if not worker.tasks or worker.tasks[0].seq != seq:
                self._fail(WorkerError(f"worker process {worker.process.pid} answered out of turn"))
                return
            task = worker.tasks.popleft()
            self._freed.set()
            if not task.future.done():
                task.future.set_result(restore(result, parts))
        elif worker.ready is not None and not worker.ready.done():
            worker.ready.set_result(message)

    def _ended(self, worker: _Worker) -> None:
        """The worker's output ended: it exited (or was killed)."""
        if worker.ready is not None and not worker.ready.done():
            worker.ready.set_exception(WorkerError(f"exited with {worker.process.wait()}"))
            return
        if self._stopping or not worker.alive:
            return
        worker.alive = False
        respawn = asyncio.create_task(self._replace(worker), name=f"worker:{worker.index}:respawn")
        self._respawning.add(respawn)
        respawn.add_done_callback(self._respawning.discard)

    async def _replace(self, dead: _Worker) -> None:
        """Start a worker in the dead one's place and give it the dead one's chunks, in order."""
        await self._end(dead, STOP_TIMEOUT)
        log.error(
            "Worker process died; starting another and sending it the chunks it held",
            extra={"pid": dead.process.pid, "exit_code": dead.process.returncode, "chunks": len(dead.tasks)},
        )
        self.restarts += 1
        for task in dead.tasks:
            task.attempts += 1
            if task.attempts >= MAX_ATTEMPTS:
                where = f"{task.work.path} at offset {task.work.start}"
                self._fail(WorkerError(f"the chunk of {where} ended {task.attempts} worker processes"))
                return
        try:
            worker = await self._spawn(dead.index)
        except WorkerError as exc:
            self._fail(exc)
            return
        self._workers[dead.index] = worker
        for task in dead.tasks:
            self._send(worker, task)
        self._freed.set()

    def _fail(self, error: WorkerError) -> None:
        """The pool cannot go on: every waiting chunk, and every later submit, gets ``error``."""
        log.error("Worker processes failed", extra={"error": str(error)})
        self._broken = error
        for worker in self._workers:
            if worker is None:
                continue
            for task in worker.tasks:
                if not task.future.done():
                    task.future.set_exception(error)
        self._freed.set()


def default_workers() -> int:
    """One per core the daemon may run on, at most four (see ``Config.workers``)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))
