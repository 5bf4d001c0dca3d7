"""The daemon: builds sources, stages and sinks from a config, starts them, and drains them at the end.

It owns what lives for the whole run (the queue, the dead-letter file, the state lock, the
counters) and the tasks beside the processor: the checkpointer, which saves acknowledged offsets
once every sink made what it accepted durable, and the watchdog. An internal task that dies stops
the daemon (:meth:`Daemon._watch`).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from typing import Any

from logflume.alerts.dispatcher import AlertDispatcher
from logflume.app import reload as reloading
from logflume.app.processor import Processor
from logflume.config import Config
from logflume.deadletter import DeadLetterFile
from logflume.errors import LogflumeError
from logflume.events import RawChunk
from logflume.fsutil import WriteFaults, os_error
from logflume.ops.health import ProgressMonitor
from logflume.ops.notify import Notifier
from logflume.ops.tap import TapHub
from logflume.ops.view import NamedStage, PipelineStats
from logflume.pipeline.build import STATELESS, build_windowed
from logflume.pipeline.isolate import StageCounters
from logflume.pipeline.job import PARSE, Job, ParseSettings, Reported
from logflume.pipeline.parse import ParseStats
from logflume.pipeline.redact import text_scrubber
from logflume.pipeline.stage import Chain
from logflume.sinks.config import SinkCommonConfig
from logflume.sinks.encoders import make_encoder
from logflume.sinks.registry import SinkContext, build_sink
from logflume.sinks.runner import SinkRunner
from logflume.sources.config import SourceConfig
from logflume.sources.tail import FileSource
from logflume.statelock import StateLock
from logflume.telemetry import Count
from logflume.workers.pool import LocalPool, ProcessPool, default_workers
from logflume.workers.wire import LogSettings

log = logging.getLogger("logflume.app")

STATE_SAVE_SECONDS = 30.0


class Daemon:
    """One running daemon; :meth:`reload` swaps its sources, stages and sinks in place."""

    def __init__(
        self, config: Config, config_path: str | None = None, notifier: Notifier | None = None
    ) -> None:
        self.config = config
        self.config_path = config_path
        self.notifier = notifier or Notifier()
        self.stats = PipelineStats()
        self.queue: asyncio.Queue[RawChunk] = asyncio.Queue(maxsize=config.queue_chunks)
        self.dead_letters = DeadLetterFile(
            config.dead_letter_path(),
            raw=config.dead_letter.raw,
            scrub=text_scrubber(config.pipeline.redact) if config.dead_letter.raw == "redacted" else None,
        )
        self.state_lock = StateLock(config.state_dir)
        self._stage_state_faults: dict[str, WriteFaults] = {}
        self._sync_failing: set[str] = set()  # sinks whose last sync failed (logged once)
        self.context = SinkContext(state_dir=config.state_dir, host=socket.gethostname())
        self.sources: dict[str, FileSource] = {}
        self.workers = config.workers or default_workers()
        # The counts of parse and of the stateless stages, added up from every chunk's result
        # (the stages may run in worker processes): by source, and by stage.
        self.parse_stats: dict[str, ParseStats] = {}
        self.reported: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
        self.stage_stats: dict[str, StageCounters] = {}
        self.processor = self._build_processor(config)
        for source_config in config.sources:
            self.add_source(source_config, announce=False)
        self.windowed = self.set_windowed(build_windowed(config.pipeline, config.state_dir))
        self.alerts = AlertDispatcher(config.alerts)
        self.runners = [self.build_runner(sink) for sink in config.sinks]
        self.tap = TapHub()
        self.checkpoint_times: dict[str, float] = {}
        self.ready = False
        self.stopping = False
        self.retiring: list[SinkRunner] = []  # removed by a reload, still draining
        self.source_tasks: dict[str, asyncio.Task[None]] = {}
        self._tasks: list[asyncio.Task[Any]] = []
        self._processor: asyncio.Task[None] | None = None
        self._reloads: set[asyncio.Task[bool]] = set()
        self._reload_pending = False  # a SIGHUP came while starting
        self._failure: asyncio.Future[BaseException] | None = None
        # Internal tasks that died (name → error): health reports them until the process exits.
        self.failed_tasks: dict[str, str] = {}
        # Held while a batch is handed to the runners, so a reload swaps them between batches.
        self.dispatch_lock = asyncio.Lock()
        self._checkpoint_lock = asyncio.Lock()
        self._reload_lock = asyncio.Lock()

    # -- building -----------------------------------------------------------------------------

    def _build_processor(self, config: Config) -> Processor:
        """The processor and where its chunks are processed. The job is built here either way, so
        a stage or mapping that cannot be built (a lookup table that cannot be read) stops the
        start, not a worker; with workers it also takes the small chunks (see the processor)."""
        parsers = [parse_settings(source) for source in config.sources]
        local = LocalPool(Job(config.pipeline, parsers, make_encoder))
        if self.workers == 1:
            return Processor(self, local)
        logs = LogSettings(config.log.level, config.log.format, dict(config.log.levels))
        return Processor(self, ProcessPool(self.workers, config.pipeline, parsers, logs), local)

    def add_source(self, config: SourceConfig, announce: bool = True) -> FileSource:
        """A source to follow; ``announce``: its chunks are parsed with its settings from now on."""
        source = FileSource(config, self.config.state_dir, self.queue.put)
        self.sources[config.name] = source
        if announce:
            self.processor.add_source(parse_settings(config))
        # A source changed by a reload keeps counting where it stopped.
        self.parse_stats.setdefault(config.name, ParseStats())
        return source

    def build_runner(self, config: SinkCommonConfig) -> SinkRunner:
        sink = build_sink(config, self.context)
        return SinkRunner(sink, config, self.dead_letters.write, state_dir=self.config.state_dir)

    def set_windowed(self, windowed: Chain) -> Chain:
        """Use these aggregate and anomaly stages from the next chunk on."""
        self.windowed = windowed
        self.processor.use(windowed)
        return windowed

    # -- what ops reads (logflume.ops.view.DaemonView) ----------------------------------------

    def all_runners(self) -> list[SinkRunner]:
        return [*self.runners, *self.retiring]

    def source_running(self, name: str) -> bool:
        task = self.source_tasks.get(name)
        return task is not None and not task.done()

    def stage_names(self) -> list[str]:
        return [PARSE, *STATELESS, *(stage.name for stage in self.windowed.stages)]

    def write_faults(self) -> list[tuple[str, str, WriteFaults]]:
        """(kind, name, faults) of every writer of local state: what failed writes are counted by."""
        faults = [("dead_letter", "", self.dead_letters.faults)]
        faults += [("checkpoint", name, source.checkpoint_faults) for name, source in self.sources.items()]
        for runner in self.all_runners():
            if runner.disk_faults is not None:
                faults.append(("disk_buffer", runner.name, runner.disk_faults))
        faults += [("stage_state", name, f) for name, f in self._stage_state_faults.items()]
        return faults

    def stages(self) -> list[NamedStage]:
        """The stages after parse: the stateless ones as their counts added up here (they run in
        the jobs), then the windowed ones themselves."""
        added = [AddedCounts(name, self.reported.get(name, {})) for name in STATELESS]
        return [*added, *self.windowed.stages]

    def count_parsed(self, source: str, parsed: ParseStats) -> None:
        stats = self.parse_stats.get(source)
        if stats is None:
            stats = self.parse_stats[source] = ParseStats()
        stats.add(parsed)

    def count_reported(self, reported: Reported) -> None:
        for (stage, name, labels), value in reported.items():
            totals = self.reported.get(stage)
            if totals is None:
                totals = self.reported[stage] = {}
            key = (name, labels)
            totals[key] = totals.get(key, 0.0) + value

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        # Before anything in state_dir is touched: a second daemon must not even repair files.
        self.state_lock.acquire()
        self.dead_letters.open()
        self._failure = asyncio.get_running_loop().create_future()
        for source in self.sources.values():
            source.load_checkpoints()
        for runner in self.runners:
            await runner.start()
        await self.alerts.start()
        self.processor.start()
        for source in self.sources.values():
            self.start_source(source)
        self._processor = asyncio.create_task(self.processor.run(), name="processor")
        self._tasks = [self._processor, asyncio.create_task(self._checkpoint_loop(), name="checkpointer")]
        for task in self._tasks:
            task.add_done_callback(self._watch)
        # Started (and ready) once the workers are up; lines are read and processed meanwhile.
        await self.processor.started()
        self.ready = True
        self.notifier.ready()
        # The watchdog pings from READY on (systemd reads a ping before READY as a start-up ping).
        watchdog = asyncio.create_task(self.notifier.watchdog(ProgressMonitor(self).check), name="watchdog")
        watchdog.add_done_callback(self._watch)
        self._tasks.append(watchdog)
        if self._reload_pending:
            self._reload_pending = False
            self.request_reload()
        log.info(
            "Daemon started",
            extra={"sources": len(self.sources), "sinks": len(self.runners), "workers": self.workers},
        )

    def start_source(self, source: FileSource) -> None:
        task = asyncio.create_task(source.run(), name=f"source:{source.name}")
        task.add_done_callback(self._watch)
        self.source_tasks[source.name] = task

    def _watch(self, task: asyncio.Task[Any]) -> None:
        """An internal task that dies takes the daemon down: it must not run half-broken.

        Logged with its name, counted (``logflume_task_failures``), reported by ``/healthz`` and
        ``/readyz`` while the daemon drains, and the process exits 1, so systemd restarts it. No
        event can cause this any more (stages isolate the events they raise on): it is a bug or a
        fault of the machine, which a restart may cure.
        """
        if task.cancelled() or task.exception() is None:
            return
        exc = task.exception()
        assert exc is not None
        name = task.get_name()
        self.stats.task_failures[name] = self.stats.task_failures.get(name, 0) + 1
        self.failed_tasks[name] = f"{type(exc).__name__}: {exc}"
        extra = {"task": name, "error_type": type(exc).__name__}
        log.error("Internal task failed; stopping", exc_info=exc, extra=extra)
        if self._failure is not None and not self._failure.done():
            self._failure.set_result(exc)

    async def wait(self, stop: asyncio.Event) -> BaseException | None:
        """Until ``stop`` is set (None) or an internal task fails (its exception)."""
        assert self._failure is not None, "start() first"
        stopped = asyncio.create_task(stop.wait())
        waiting: list[asyncio.Future[Any]] = [stopped, self._failure]
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        return self._failure.result() if self._failure.done() else None

    async def run(self, stop: asyncio.Event) -> bool:
        """Start, run until ``stop`` is set, then drain within ``shutdown_timeout``.

        False when it stopped because an internal task failed.
        """
        await self.start()
        failure = await self.wait(stop)
        await self.shutdown()
        return failure is None

    async def shutdown(self) -> None:
        """Stop reading, deliver what was read, save checkpoints; cut off at shutdown_timeout."""
        self.stopping = True
        self.notifier.stopping()
        log.info("Shutting down", extra={"timeout": self.config.shutdown_timeout})
        for task in self._reloads:
            task.cancel()
        await asyncio.gather(*self._reloads, return_exceptions=True)
        for source in self.sources.values():
            source.stop()
        try:
            async with asyncio.timeout(self.config.shutdown_timeout):
                await asyncio.gather(*self.source_tasks.values(), return_exceptions=True)
                await self._queue_processed()
                for runner in self.all_runners():
                    await runner.stop()
        except TimeoutError:
            log.warning("Shutdown timed out; undelivered events will be read again on restart")
            for runner in self.all_runners():
                runner.abort()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.processor.stop()
        try:
            await self.save_checkpoints()
        except (LogflumeError, OSError) as exc:
            # What was acknowledged since the last checkpoint is read again at the next start.
            log.error("Cannot save checkpoints at shutdown", extra={"error": str(exc)})
        self.save_stage_state()
        await self.alerts.stop(min(5.0, self.config.shutdown_timeout))
        self.dead_letters.close()
        log.info("Stopped", extra={"events": self.stats.events_out, "dead_letters": self.dead_letters.count})
        self.state_lock.release()

    async def _queue_processed(self) -> None:
        """Until the processor has handled every queued chunk; at once when it is not running (a
        dead processor handles nothing: those chunks are unacknowledged and read again)."""
        processor = self._processor
        if processor is None or processor.done():
            return
        joined = asyncio.create_task(self.queue.join())
        try:
            await asyncio.wait([joined, processor], return_when=asyncio.FIRST_COMPLETED)
        finally:
            joined.cancel()

    def abort(self) -> None:
        """Second signal: stop now, keeping only checkpoints of what was acknowledged.

        Acknowledged means written to the kernel (file sink), accepted by the backend, or fsync'd
        to a disk buffer: all of it survives the process, so these checkpoints lose nothing.
        Not while dead letters are held in memory (the disk refused them): their input must be
        read again.
        """
        if self.dead_letters.held:
            return
        for source in self.sources.values():
            if source.checkpoint_due():
                source.save_checkpoints()

    # -- checkpoints and stage state ----------------------------------------------------------

    async def _checkpoint_loop(self) -> None:
        last_state_save = time.monotonic()
        while True:
            await asyncio.sleep(self.config.checkpoint_interval)
            await self.save_checkpoints()
            if time.monotonic() - last_state_save >= STATE_SAVE_SECONDS:
                self.save_stage_state()  # on the loop: stages mutate this state there
                last_state_save = time.monotonic()

    def save_stage_state(self) -> None:
        """Persist detector state of the stages that keep any (restored when they are built).

        A save the disk refuses is logged once, counted and tried again at the next save.
        """
        for stage in self.windowed.stages:
            save = getattr(stage, "save_state", None)
            if save is None:
                continue
            faults = self._stage_state_faults.get(stage.name)
            if faults is None:
                faults = self._stage_state_faults[stage.name] = WriteFaults(log, "stage state", stage.name)
            try:
                save()
            except (OSError, LogflumeError) as exc:
                faults.failed(self.config.state_dir, os_error(exc))
            else:
                faults.succeeded()

    async def save_checkpoints(self, sources: list[FileSource] | None = None) -> None:
        """Make every sink's accepted data durable, then record the acknowledged offsets (of
        ``sources``, default: every source with something new to record)."""
        async with self._checkpoint_lock:
            now = time.time()
            candidates = list(self.sources.values()) if sources is None else sources
            due = [source for source in candidates if sources is not None or source.checkpoint_due()]
            for source in candidates:
                if source not in due:
                    self.checkpoint_times[source.name] = now  # nothing new: the saved one is current
            if not due:
                return
            snapshots = [(source, source.snapshot()) for source in due]
            unsaved = set(due)
            try:
                if not await self._sync_for_checkpoints():
                    return
                for source, snapshot in snapshots:
                    if await asyncio.to_thread(source.save_checkpoints, snapshot):
                        self.checkpoint_times[source.name] = now
                        unsaved.discard(source)
            finally:
                # Not saved (a sink or the dead letters could not sync, the disk refused, or this
                # was cancelled by a shutdown): the next save must not think there is nothing new.
                for source in unsaved:
                    source.mark_dirty()

    async def _sync_for_checkpoints(self) -> bool:
        """Make what every sink accepted and every dead letter durable; False when that failed."""
        for runner in self.all_runners():
            try:
                await runner.sync()
            except Exception as exc:  # a sink that cannot sync must not advance the checkpoint
                if runner.name not in self._sync_failing:  # once, not every interval
                    self._sync_failing.add(runner.name)
                    log.warning("Sink sync failed", extra={"sink": runner.name, "error": str(exc)})
                return False
            if runner.name in self._sync_failing:
                self._sync_failing.discard(runner.name)
                log.info("Sink sync works again", extra={"sink": runner.name})
        # False while a dead letter is not on disk: no checkpoint may pass its input.
        return await asyncio.to_thread(self.dead_letters.sync)

    # -- reload -------------------------------------------------------------------------------

    def request_reload(self) -> None:
        """SIGHUP: reload in the background (reloads run one after another); one that comes while
        the daemon starts (which takes a moment with worker processes) runs once it has started."""
        if self.stopping:
            log.warning("Reload ignored while stopping")
            return
        if not self.ready:
            log.info("Reload requested while starting; it runs once started")
            self._reload_pending = True
            return
        task = asyncio.create_task(self._notified_reload(), name="reload")
        self._reloads.add(task)
        task.add_done_callback(self._reloads.discard)

    async def _notified_reload(self) -> bool:
        self.notifier.reloading()
        try:
            return await self.reload()
        finally:
            self.notifier.ready()

    async def reload(self) -> bool:
        """Load the config file again and apply it (:func:`logflume.app.reload.reload`)."""
        if self.config_path is None:
            log.warning("Nothing to reload: running the embedded default config")
            return False
        async with self._reload_lock:
            return await reloading.reload(self, self.config_path)


class AddedCounts:
    """A stateless stage as the daemon sees it: its name and its own counts, added up from the
    results of the jobs that ran it (:class:`logflume.telemetry.Reporting`)."""

    def __init__(self, name: str, totals: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> None:
        self.name = name
        self._totals = totals

    def telemetry(self) -> list[Count]:
        return [Count(name, value, labels) for (name, labels), value in sorted(self._totals.items())]


def parse_settings(config: SourceConfig) -> ParseSettings:
    """How a source's chunks are parsed (what a job needs of the source's config)."""
    return ParseSettings(config.name, config.on_invalid == "wrap", config.preset, config.mapping)
