"""The processor: the hot loop that takes read chunks off the queue, parses them, runs the stages
and hands each batch to every sink runner.

One task, on the event loop. It never awaits per event: a chunk is parsed and run through the
stages as one batch, and only the hand-over to the runners awaits (their buffers are the
backpressure). A quiet second runs an empty batch through the stages (a *tick*), so windows
close when input stops.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from logflume.events import Batch, Event, RawChunk
from logflume.ops.view import StageCounters
from logflume.pipeline.isolate import Snapshot, StageGuard
from logflume.pipeline.stage import Chain, Stage

if TYPE_CHECKING:
    from logflume.app.daemon import Daemon

log = logging.getLogger("logflume.app")

TICK_SECONDS = 1.0


class Processor:
    """Runs the daemon's chain on every chunk and dispatches the results (see the module docstring)."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        # Reruns a stage event by event when it raises on a batch (the culprits are dead-lettered).
        self.guard = StageGuard()
        self._metered: list[tuple[Stage, StageCounters]] = []

    def use(self, chain: Chain) -> None:
        """Run ``chain`` from the next batch on; counters of stages with the same name carry on."""
        stats = self.daemon.stage_stats
        self._metered = [(stage, stats.setdefault(stage.name, StageCounters())) for stage in chain.stages]

    async def run(self) -> None:
        queue = self.daemon.queue
        now = time.time
        last_tick = time.monotonic()
        while True:
            try:
                chunk = await asyncio.wait_for(queue.get(), TICK_SECONDS)
            except TimeoutError:
                await self.tick(now())
                last_tick = time.monotonic()
                continue
            try:
                await self.handle(chunk, now())
            finally:
                queue.task_done()
            if time.monotonic() - last_tick >= TICK_SECONDS:
                await self.tick(now())
                last_tick = time.monotonic()

    async def tick(self, now: float) -> None:
        """An empty batch through the stages, so windows close when input goes quiet."""
        if self.daemon.tap.active:
            await self.dispatch(self._run_stages_tapped(Batch([]), now))
        else:
            await self.dispatch(self._run_stages(Batch([]), now))

    async def handle(self, chunk: RawChunk, now: float) -> None:
        daemon = self.daemon
        events, dead = daemon.parsers[chunk.source](chunk, now)
        parse = daemon.stage_stats["parse"]
        parse.batches += 1
        parse.events_in += len(events) + len(dead)
        parse.events_out += len(events)
        parse.dead_letters += len(dead)
        if chunk.dead:
            dead.extend(chunk.dead)
        daemon.stats.chunks += 1
        daemon.stats.events_in += len(events)
        counters = daemon.source_stats[chunk.source]
        counters.chunks += 1
        counters.bytes += len(chunk.data)
        counters.events += len(events)
        counters.dead_letters += len(dead)
        batch = Batch(events, [chunk.ack], dead)
        # The only cost of tapping when nobody taps: this check, once per batch.
        if daemon.tap.active:
            self._offer("parse", events)
            batch = self._run_stages_tapped(batch, now)
        else:
            batch = self._run_stages(batch, now)
        await self.dispatch(batch)

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
            self.daemon.tap.offer(stage, events)
        except Exception as exc:
            log.warning("Tap could not take events", extra={"stage": stage, "error_type": type(exc).__name__})

    async def dispatch(self, batch: Batch) -> None:
        daemon = self.daemon
        stats = daemon.stats
        if batch.dead:
            daemon.dead_letters.write(batch.dead)
            stats.dead_letters += len(batch.dead)
        if daemon.dead_letters.held:
            # The disk refused dead letters: hand nothing on (the readers pause behind the queue)
            # until they are written, so no acknowledgement passes a dead letter held in memory.
            await daemon.dead_letters.drain()
        if batch.alerts:
            fired = stats.alerts_fired
            for alert in batch.alerts:
                rule = str(alert.get("rule"))
                fired[rule] = fired.get(rule, 0) + 1
            daemon.alerts.submit(batch.alerts)
        acks = batch.acks
        if not batch.events and not acks and not (batch.routes and any(batch.routes.values())):
            return
        async with daemon.dispatch_lock:
            # The runners of this batch: a reload swapping them meanwhile waits for this lock, so
            # every batch completes on the runners it was given to.
            runners = daemon.runners
            for ack in acks:
                ack.retain(len(runners))
            for runner in runners:
                await runner.put(batch.events_for(runner.name), acks)
        for ack in acks:
            ack.done()  # the processor's own hold
        stats.events_out += len(batch.events)
        stats.last_progress = time.monotonic()


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
