"""Wiring: builds sources, stages and sinks from a config and runs them until told to stop.

    sources ──RawChunk──▶ [bounded queue] ──▶ processor: parse → stages ──▶ one bounded queue per
    sink ──▶ SinkRunner ──ack──▶ source offsets ──▶ checkpointer (sync sinks, then save)

Only this module knows every component.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from logflume.alerts.dispatcher import AlertDispatcher
from logflume.config import Config
from logflume.deadletter import DeadLetterFile
from logflume.events import Batch, RawChunk
from logflume.pipeline.build import build_chain
from logflume.pipeline.parse import Parser
from logflume.pipeline.stage import Chain
from logflume.sinks.registry import SinkContext, build_sink
from logflume.sinks.runner import SinkRunner
from logflume.sources.tail import FileSource

log = logging.getLogger("logflume.app")

TICK_SECONDS = 1.0
STATE_SAVE_SECONDS = 30.0


@dataclass
class PipelineStats:
    chunks: int = 0
    events_in: int = 0
    events_out: int = 0
    dead_letters: int = 0
    last_progress: float = field(default_factory=time.monotonic)


class Daemon:
    """One running configuration."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.stats = PipelineStats()
        self.queue: asyncio.Queue[RawChunk] = asyncio.Queue(maxsize=config.queue_chunks)
        self.dead_letters = DeadLetterFile(config.dead_letter_path())
        self.sources = [FileSource(src, config.state_dir, self.queue.put) for src in config.sources]
        self.parsers = {src.name: Parser(wrap_invalid=src.on_invalid == "wrap") for src in config.sources}
        self.chain: Chain = build_chain(config.pipeline, config.state_dir)
        self.alerts = AlertDispatcher(config.alerts)
        context = SinkContext(state_dir=config.state_dir, host=socket.gethostname())
        self.runners = [
            SinkRunner(build_sink(sink, context), sink, self.dead_letters.write) for sink in config.sinks
        ]
        self._tasks: list[asyncio.Task[Any]] = []
        self._sources_done = asyncio.Event()

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        self.dead_letters.open()
        for source in self.sources:
            source.load_checkpoints()
        for runner in self.runners:
            await runner.start()
        await self.alerts.start()
        self._tasks = [
            asyncio.create_task(self._run_sources(), name="sources"),
            asyncio.create_task(self._process(), name="processor"),
            asyncio.create_task(self._checkpoint_loop(), name="checkpointer"),
        ]
        log.info("Daemon started", extra={"sources": len(self.sources), "sinks": len(self.runners)})

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set, then drain within ``shutdown_timeout``."""
        await self.start()
        stopped = asyncio.create_task(stop.wait())
        failed = asyncio.create_task(self._first_failure())
        await asyncio.wait({stopped, failed}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        failed.cancel()
        await self.shutdown()

    async def _first_failure(self) -> None:
        """Return when an internal task died: the daemon must not run half-broken."""
        done, _ = await asyncio.wait(self._tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                log.error("Internal task failed", exc_info=task.exception(), extra={"task": task.get_name()})
                raise task.exception()  # type: ignore[misc]

    async def shutdown(self) -> None:
        """Stop reading, deliver what was read, save checkpoints; cut off at shutdown_timeout."""
        log.info("Shutting down", extra={"timeout": self.config.shutdown_timeout})
        for source in self.sources:
            source.stop()
        try:
            async with asyncio.timeout(self.config.shutdown_timeout):
                await self._sources_done.wait()
                await self.queue.join()
                for runner in self.runners:
                    await runner.stop()
        except TimeoutError:
            log.warning("Shutdown timed out; undelivered events will be read again on restart")
            for runner in self.runners:
                runner.abort()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.save_checkpoints()
        self.save_stage_state()
        await self.alerts.stop(min(5.0, self.config.shutdown_timeout))
        self.dead_letters.close()
        log.info("Stopped", extra={"events": self.stats.events_out, "dead_letters": self.dead_letters.count})

    def abort(self) -> None:
        """Second signal: stop now, keeping only checkpoints of what was acknowledged."""
        for source in self.sources:
            if source.checkpoint_due():
                source.save_checkpoints()

    # -- tasks --------------------------------------------------------------------------------

    async def _run_sources(self) -> None:
        try:
            await asyncio.gather(*(source.run() for source in self.sources))
        finally:
            self._sources_done.set()

    async def _process(self) -> None:
        now = time.time
        last_tick = time.monotonic()
        while True:
            try:
                chunk = await asyncio.wait_for(self.queue.get(), TICK_SECONDS)
            except TimeoutError:
                await self._dispatch(self.chain(Batch([]), now()))
                last_tick = time.monotonic()
                continue
            try:
                await self._handle(chunk, now())
            finally:
                self.queue.task_done()
            if time.monotonic() - last_tick >= TICK_SECONDS:
                await self._dispatch(self.chain(Batch([]), now()))
                last_tick = time.monotonic()

    async def _handle(self, chunk: RawChunk, now: float) -> None:
        events, dead = self.parsers[chunk.source](chunk, now)
        if chunk.dead:
            dead.extend(chunk.dead)
        self.stats.chunks += 1
        self.stats.events_in += len(events)
        batch = self.chain(Batch(events, [chunk.ack], dead), now)
        await self._dispatch(batch)

    async def _dispatch(self, batch: Batch) -> None:
        if batch.dead:
            self.dead_letters.write(batch.dead)
            self.stats.dead_letters += len(batch.dead)
        if batch.alerts:
            self.alerts.submit(batch.alerts)
        acks = batch.acks
        if not batch.events and not acks:
            return
        for ack in acks:
            ack.retain(len(self.runners))
        for runner in self.runners:
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
        """Persist detector state of the stages that keep any (restored when they are built)."""
        for stage in self.chain.stages:
            save = getattr(stage, "save_state", None)
            if save is not None:
                try:
                    save()
                except OSError as exc:
                    log.warning("Cannot save stage state", extra={"stage": stage.name, "error": str(exc)})

    async def save_checkpoints(self) -> None:
        """Make every sink's accepted data durable, then record the acknowledged offsets."""
        due = [source for source in self.sources if source.checkpoint_due()]
        if not due:
            return
        snapshots = [(source, source.snapshot()) for source in due]
        for runner in self.runners:
            try:
                await runner.sync()
            except Exception as exc:  # a sink that cannot sync must not advance the checkpoint
                log.warning("Sink sync failed", extra={"sink": runner.name, "error": str(exc)})
                for source in due:
                    source.mark_dirty()
                return
        await asyncio.to_thread(self.dead_letters.sync)
        for source, snapshot in snapshots:
            await asyncio.to_thread(source.save_checkpoints, snapshot)


def tune_gc() -> None:
    """Make the cyclic GC rare: the hot path allocates millions of short-lived acyclic dicts, and
    with default thresholds collections of the young generation cost as much as parsing."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


async def run_daemon(config: Config) -> int:
    """Run in the foreground until SIGTERM/SIGINT; a second signal exits at once."""
    daemon = Daemon(config)
    tune_gc()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = 0

    def on_signal() -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            stop.set()
        else:
            log.warning("Second signal: exiting now")
            daemon.abort()
            raise SystemExit(0)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    try:
        await daemon.run(stop)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
    return 0
