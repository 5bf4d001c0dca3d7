"""Wiring: builds sources, stages and sinks from a config and runs them until told to stop.

    sources ──RawChunk──▶ [bounded queue] ──▶ processor: parse → stages ──▶ one bounded queue per
    sink ──▶ SinkRunner ──ack──▶ source offsets ──▶ checkpointer (sync sinks, then save)

Signals (set up by :func:`run_daemon`): SIGTERM/SIGINT drain and stop (a second one exits at once),
SIGHUP reloads the config (:meth:`Daemon.reload`), SIGUSR1/SIGUSR2 make the own logs more/less
verbose. The local HTTP endpoint and systemd notification come from :mod:`logflume.ops`.

Only this module knows every component.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import time
from typing import Any

from logflume import selflog
from logflume.alerts.dispatcher import AlertDispatcher
from logflume.config import Config, load_config
from logflume.deadletter import DeadLetterFile
from logflume.errors import EXIT_CONFIG, ConfigError, LogflumeError, StateFileError
from logflume.events import Batch, Event, RawChunk
from logflume.fsutil import WriteFaults, os_error
from logflume.ops.health import LoopMonitor, ProgressMonitor
from logflume.ops.http import OpsServer
from logflume.ops.notify import Notifier
from logflume.ops.reload import ReloadPlan, effective_config, plan_reload
from logflume.ops.tap import TapHub
from logflume.ops.view import PipelineStats, StageCounters
from logflume.pipeline.build import build_chain, build_parser
from logflume.pipeline.isolate import Snapshot, StageGuard
from logflume.pipeline.parse import Parser
from logflume.pipeline.redact import text_scrubber
from logflume.pipeline.stage import Chain, Stage
from logflume.sinks.config import SinkCommonConfig
from logflume.sinks.registry import SinkContext, build_sink
from logflume.sinks.runner import SinkRunner
from logflume.sources.config import SourceConfig
from logflume.sources.tail import FileSource
from logflume.statelock import StateLock

log = logging.getLogger("logflume.app")

TICK_SECONDS = 1.0
STATE_SAVE_SECONDS = 30.0
# How often a reload looks whether a removed source's last chunks were acknowledged.
DRAIN_POLL_SECONDS = 0.05


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
        self.parsers: dict[str, Parser] = {}
        for source_config in config.sources:
            self._add_source(source_config)
        self.stage_stats: dict[str, StageCounters] = {}
        # Reruns a stage event by event when it raises on a batch (the culprits are dead-lettered).
        self.guard = StageGuard()
        self.chain = self._set_chain(build_chain(config.pipeline, config.state_dir))
        self.alerts = AlertDispatcher(config.alerts)
        self.runners = [self._build_runner(sink) for sink in config.sinks]
        self.tap = TapHub()
        self.checkpoint_times: dict[str, float] = {}
        self.ready = False
        self.stopping = False
        self._retiring: list[SinkRunner] = []  # removed by a reload, still draining
        self._source_tasks: dict[str, asyncio.Task[None]] = {}
        self._tasks: list[asyncio.Task[Any]] = []
        self._processor: asyncio.Task[None] | None = None
        self._reloads: set[asyncio.Task[bool]] = set()
        self._failure: asyncio.Future[BaseException] | None = None
        # Internal tasks that died (name → error): health reports them until the process exits.
        self.failed_tasks: dict[str, str] = {}
        # Held while a batch is handed to the runners, so a reload swaps them between batches.
        self._dispatch_lock = asyncio.Lock()
        self._checkpoint_lock = asyncio.Lock()
        self._reload_lock = asyncio.Lock()

    # -- building -----------------------------------------------------------------------------

    def _add_source(self, config: SourceConfig) -> FileSource:
        source = FileSource(config, self.config.state_dir, self.queue.put)
        self.sources[config.name] = source
        # A source changed by a reload keeps counting where its old parser stopped.
        old = self.parsers.get(config.name)
        stats = old.stats if old is not None else None
        self.parsers[config.name] = build_parser(config.preset, config.mapping, config.on_invalid, stats)
        return source

    def _build_runner(self, config: SinkCommonConfig) -> SinkRunner:
        sink = build_sink(config, self.context)
        return SinkRunner(sink, config, self.dead_letters.write, state_dir=self.config.state_dir)

    def _set_chain(self, chain: Chain) -> Chain:
        """Use ``chain`` from the next batch on; counters of stages with the same name carry on."""
        self.chain = chain
        self._metered: list[tuple[Stage, StageCounters]] = [
            (stage, self.stage_stats.setdefault(stage.name, StageCounters())) for stage in chain.stages
        ]
        return chain

    # -- what ops reads (logflume.ops.view.DaemonView) ----------------------------------------

    def all_runners(self) -> list[SinkRunner]:
        return [*self.runners, *self._retiring]

    def source_running(self, name: str) -> bool:
        task = self._source_tasks.get(name)
        return task is not None and not task.done()

    def stage_names(self) -> list[str]:
        return ["parse", *(stage.name for stage in self.chain.stages)]

    def stages(self) -> list[Stage]:
        return list(self.chain.stages)

    def write_faults(self) -> list[tuple[str, str, WriteFaults]]:
        """(kind, name, faults) of every writer of local state: what failed writes are counted by."""
        faults = [("dead_letter", "", self.dead_letters.faults)]
        faults += [("checkpoint", name, source.checkpoint_faults) for name, source in self.sources.items()]
        for runner in self.all_runners():
            if runner.disk_faults is not None:
                faults.append(("disk_buffer", runner.name, runner.disk_faults))
        faults += [("stage_state", name, f) for name, f in self._stage_state_faults.items()]
        return faults


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
        for source in self.sources.values():
            self._start_source(source)
        self._processor = asyncio.create_task(self._process(), name="processor")
        self._tasks = [
            self._processor,
            asyncio.create_task(self._checkpoint_loop(), name="checkpointer"),
            asyncio.create_task(self.notifier.watchdog(ProgressMonitor(self).check), name="watchdog"),
        ]
        for task in self._tasks:
            task.add_done_callback(self._watch)
        self.ready = True
        self.notifier.ready()
        log.info("Daemon started", extra={"sources": len(self.sources), "sinks": len(self.runners)})

    def _start_source(self, source: FileSource) -> None:
        task = asyncio.create_task(source.run(), name=f"source:{source.name}")
        task.add_done_callback(self._watch)
        self._source_tasks[source.name] = task

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
                await asyncio.gather(*self._source_tasks.values(), return_exceptions=True)
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

    # -- tasks --------------------------------------------------------------------------------

    async def _process(self) -> None:
        now = time.time
        last_tick = time.monotonic()
        while True:
            try:
                chunk = await asyncio.wait_for(self.queue.get(), TICK_SECONDS)
            except TimeoutError:
                await self._tick(now())
                last_tick = time.monotonic()
                continue
            try:
                await self._handle(chunk, now())
            finally:
                self.queue.task_done()
            if time.monotonic() - last_tick >= TICK_SECONDS:
                await self._tick(now())
                last_tick = time.monotonic()

    async def _tick(self, now: float) -> None:
        """An empty batch through the stages, so windows close when input goes quiet."""
        if self.tap.active:
            await self._dispatch(self._run_stages_tapped(Batch([]), now))
        else:
            await self._dispatch(self._run_stages(Batch([]), now))

    async def _handle(self, chunk: RawChunk, now: float) -> None:
        # The parser counts what it parsed, the source what it read (logflume.telemetry).
        events, dead = self.parsers[chunk.source](chunk, now)
        if chunk.dead:
            dead.extend(chunk.dead)
        self.stats.chunks += 1
        batch = Batch(events, [chunk.ack], dead)
        # The only cost of tapping when nobody taps: this check, once per batch.
        if self.tap.active:
            self._offer("parse", events)
            batch = self._run_stages_tapped(batch, now)
        else:
            batch = self._run_stages(batch, now)
        await self._dispatch(batch)

    def _run_stages(self, batch: Batch, now: float) -> Batch:
        # The chain's loop, counting per stage (a few integer additions per stage and batch).
        guard = self.guard
        for stage, counters in self._metered:
            batch = metered_call(stage, counters, batch, now, guard)
        return batch

    def _run_stages_tapped(self, batch: Batch, now: float) -> Batch:
        offer, guard = self._offer, self.guard
        for stage, counters in self._metered:
            batch = metered_call(stage, counters, batch, now, guard)
            offer(stage.name, batch.events)
        return batch

    def _offer(self, stage: str, events: list[Event]) -> None:
        """Copies for the tap clients; a tap that fails never stops the processor."""
        try:
            self.tap.offer(stage, events)
        except Exception as exc:
            log.warning("Tap could not take events", extra={"stage": stage, "error_type": type(exc).__name__})

    async def _dispatch(self, batch: Batch) -> None:
        if batch.dead:
            self.dead_letters.write(batch.dead)
        if self.dead_letters.held:
            # The disk refused dead letters: hand nothing on (the readers pause behind the queue)
            # until they are written, so no acknowledgement passes a dead letter held in memory.
            await self.dead_letters.drain()
        if batch.alerts:
            fired = self.stats.alerts_fired
            for alert in batch.alerts:
                rule = str(alert.get("rule"))
                fired[rule] = fired.get(rule, 0) + 1
            self.alerts.submit(batch.alerts)
        acks = batch.acks
        if not batch.events and not acks and not (batch.routes and any(batch.routes.values())):
            return
        async with self._dispatch_lock:
            # The runners of this batch: a reload swapping them meanwhile waits for this lock, so
            # every batch completes on the runners it was given to.
            runners = self.runners
            for ack in acks:
                ack.retain(len(runners))
            for runner in runners:
                await runner.put(batch.events_for(runner.name), acks)
        for ack in acks:
            ack.done()  # the processor's own hold
        self.stats.events_out += len(batch.events)
        self.stats.last_progress = time.monotonic()

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
        for stage in self.chain.stages:
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
        """SIGHUP: reload in the background (reloads run one after another)."""
        if not self.ready or self.stopping:
            log.warning("Reload ignored while starting or stopping")
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
        """Load and validate the config file again and apply it; keep the running one if invalid.

        Unchanged sinks and sources keep running untouched; removed ones are drained and closed;
        new ones start; the chain is rebuilt after the stages saved their state. Returns True
        when the new config runs.
        """
        if self.config_path is None:
            log.warning("Nothing to reload: running the embedded default config")
            return False
        async with self._reload_lock:
            try:
                # The same path as `logflume validate` and start-up.
                new = await asyncio.to_thread(load_config, self.config_path)
            except ConfigError as exc:
                self.stats.reload_failures += 1
                issues = [str(issue) for issue in exc.issues]
                log.error(
                    "Config reload failed; keeping the running config",
                    extra={"file": self.config_path, "issues": issues},
                )
                return False
            except Exception as exc:
                # Loading should only ever raise ConfigError; anything else is a bug in it, and a
                # SIGHUP must not take a running daemon down or leave a traceback on stderr.
                self.stats.reload_failures += 1
                log.error(
                    "Config reload failed; keeping the running config",
                    extra={"file": self.config_path, "issues": [f"{type(exc).__name__}: {exc}"]},
                )
                return False
            plan = plan_reload(self.config, new)
            if plan.restart_only:
                log.warning(
                    "Changed settings take effect at the next start", extra={"keys": plan.restart_only}
                )
            if not await self._apply(effective_config(self.config, new), plan):
                self.stats.reload_failures += 1
                return False
            self.stats.reloads += 1
            log.info("Config reloaded", extra=plan.summary())
            return True

    async def _apply(self, new: Config, plan: ReloadPlan) -> bool:
        sinks: list[Any] = new.sinks  # a union of every sink type's model
        sink_configs = {sink.name: sink for sink in sinks}
        started: list[SinkRunner] = []
        # A changed sink starts only once its old runner is drained and closed: both would use
        # the same disk-buffer directory and backend objects (files, partitions) at once.
        replacements: list[SinkRunner] = []
        alerts: AlertDispatcher | None = None
        try:
            for name in plan.sinks_start:
                runner = self._build_runner(sink_configs[name])
                if name in plan.sinks_stop:
                    replacements.append(runner)
                    continue
                await runner.start()
                started.append(runner)
            if plan.alerts_changed:
                alerts = AlertDispatcher(new.alerts)
                await alerts.start()
            async with self._dispatch_lock:
                # No await from here to the swap: no batch runs through the stages in between,
                # so the state saved is the state the new chain restores.
                self.save_stage_state()
                chain = build_chain(new.pipeline, new.state_dir)
                retiring = [runner for runner in self.runners if runner.name in plan.sinks_stop]
                by_name = {
                    runner.name: runner for runner in self.runners if runner.name not in plan.sinks_stop
                }
                by_name.update((runner.name, runner) for runner in [*started, *replacements])
                self.runners = [by_name[sink.name] for sink in sinks]
                self._retiring.extend(retiring)
                self._set_chain(chain)
                if self.dead_letters.raw_mode == "redacted":
                    self.dead_letters.use_scrubber(text_scrubber(new.pipeline.redact))
                old_alerts, self.alerts = self.alerts, alerts or self.alerts
                old_config, self.config = self.config, new
                started, alerts = [], None  # swapped in: no longer ours to clean up
        except Exception as exc:
            log.error("Config reload failed; keeping the running config", extra={"error": str(exc)})
            for runner in started:
                await runner.stop()
            if alerts is not None:
                await alerts.stop(0)
            return False
        if plan.log_changed:
            selflog.apply_levels(new.log.level, dict(new.log.levels))
        await asyncio.gather(*(self._retire_runner(runner) for runner in retiring))
        for runner in replacements:
            # Batches for it wait in its memory buffer meanwhile (backpressure, nothing lost).
            try:
                await runner.start()
            except Exception as exc:
                log.error("Changed sink could not start", extra={"sink": runner.name, "error": str(exc)})
        if old_alerts is not self.alerts:
            await old_alerts.stop(min(5.0, old_config.shutdown_timeout))
        await asyncio.gather(*(self._retire_source(name) for name in plan.sources_stop))
        source_configs = {source.name: source for source in new.sources}
        for name in plan.sources_start:
            source = self._add_source(source_configs[name])
            source.load_checkpoints()
            self._start_source(source)
        return True

    async def _retire_runner(self, runner: SinkRunner) -> None:
        """Deliver what a removed sink holds (at most shutdown_timeout), then close it."""
        try:
            async with asyncio.timeout(self.config.shutdown_timeout):
                await runner.stop()
        except TimeoutError:
            log.warning("Removed sink did not drain in time; stopped it", extra={"sink": runner.name})
            runner.abort()
        finally:
            self._retiring.remove(runner)

    async def _retire_source(self, name: str) -> None:
        """Stop a removed (or changed) source once everything it read is acknowledged, and save
        its checkpoint, so its replacement resumes exactly there."""
        source = self.sources[name]
        source.stop()
        task = self._source_tasks.get(name)
        try:
            async with asyncio.timeout(self.config.shutdown_timeout):
                if task is not None:
                    await asyncio.wait([task])
                # Polled: acknowledgements complete in sink tasks, and FileSource signals none.
                while source.in_flight():  # noqa: ASYNC110
                    await asyncio.sleep(DRAIN_POLL_SECONDS)
        except TimeoutError:
            log.warning(
                "Removed source did not drain in time; its unacknowledged lines will be read again",
                extra={"source": name, "chunks": source.in_flight()},
            )
        source.mark_dirty()
        await self.save_checkpoints([source])
        self.sources.pop(name, None)
        self._source_tasks.pop(name, None)


def metered_call(
    stage: Stage, counters: StageCounters, batch: Batch, now: float, guard: StageGuard
) -> Batch:
    """One stage on one batch, counted; a stage that raises is rerun event by event (the events
    it still raises on are dead-lettered), so no event can stop the processor."""
    before = Snapshot.of(batch)
    events_in, dead_in, routed_in = before.count, before.dead, _routed(batch)
    try:
        batch = stage(batch, now)
    except Exception as exc:
        counters.failed_batches += 1
        batch = guard.rerun(stage, before.restore(batch), now, exc)
    events_out = len(batch.events)
    routed = _routed(batch) - routed_in
    counters.batches += 1
    counters.events_in += events_in
    counters.events_out += events_out
    counters.routed += routed
    if events_in > events_out + routed:
        counters.dropped += events_in - events_out - routed
    counters.dead_letters += len(batch.dead) - dead_in
    return batch


def _routed(batch: Batch) -> int:
    return sum(map(len, batch.routes.values())) if batch.routes else 0


def tune_gc() -> None:
    """Make the cyclic GC rare: the hot path allocates millions of short-lived acyclic dicts, and
    with default thresholds collections of the young generation cost as much as parsing."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def _exit_now(daemon: Daemon) -> None:
    """Second SIGTERM/SIGINT: record what was acknowledged and leave without waiting for anything."""
    log.warning("Second signal: exiting now")
    daemon.abort()
    for handler in logging.getLogger(selflog.ROOT).handlers:
        handler.flush()
    # Not SystemExit: unwinding would wait for cancelled tasks and blocked worker threads.
    os._exit(0)


async def run_daemon(config: Config, config_path: str | None = None) -> int:
    """Run in the foreground until SIGTERM/SIGINT; exit code 0, or 1 when it could not run or an
    internal task failed (so systemd's Restart=on-failure restarts it)."""
    daemon = Daemon(config, config_path)
    tune_gc()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    monitor = LoopMonitor()
    server = OpsServer(config.http, daemon, daemon.tap, monitor) if config.http.enabled else None

    def on_stop() -> None:
        if stop.is_set():
            _exit_now(daemon)
        stop.set()

    def on_verbosity(steps: int) -> None:
        levels = selflog.step(steps)
        # WARNING so the change shows whatever the new level is.
        log.warning("Log level changed", extra={"levels": levels})

    handlers = {
        signal.SIGTERM: on_stop,
        signal.SIGINT: on_stop,
        signal.SIGHUP: daemon.request_reload,
        signal.SIGUSR1: lambda: on_verbosity(1),
        signal.SIGUSR2: lambda: on_verbosity(-1),
    }
    for sig, handler in handlers.items():
        loop.add_signal_handler(sig, handler)
    beat = asyncio.create_task(monitor.run(), name="loop-monitor")
    try:
        try:
            # First: a second daemon on the same state_dir (often with the same config, so the
            # same HTTP address) must be told that, not that the address is taken.
            daemon.state_lock.acquire()
        except (LogflumeError, OSError) as exc:
            log.error("Cannot start", extra={"error": str(exc)})
            return 1
        if server is not None:
            try:
                await server.start()
            except OSError as exc:
                log.error(
                    "Cannot listen on the HTTP address",
                    extra={"address": config.http.address, "error": str(exc)},
                )
                return 1
        try:
            await daemon.start()
        except StateFileError as exc:
            log.error("Cannot start", extra={"error": str(exc)})
            return EXIT_CONFIG
        except (LogflumeError, OSError) as exc:
            log.error("Cannot start", extra={"error": str(exc)})
            return 1
        failure = await daemon.wait(stop)
        await daemon.shutdown()
        return 0 if failure is None else 1
    finally:
        beat.cancel()
        if server is not None:
            await server.stop()
        for sig in handlers:
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
