"""The processor: the hot loop that takes read chunks off the queue, has them processed, and hands
the results to every sink runner, in the order the chunks were read.

Two tasks. The *feeder* takes each chunk off the queue and submits it to the pool
(:mod:`logflume.workers.pool`): worker processes, or the daemon's own process with ``workers: 1``,
where parse, the stateless stages and the encoder run (:mod:`logflume.pipeline.job`). The
*applier* takes the results in the order the chunks were submitted, so acknowledgements,
checkpoints and event ids are exactly what one process would give; it adds the counters, runs
the windowed stages (aggregate, anomaly: they keep state, so they stay here) on what the job
took for them, and dispatches the lines to the runners. Nothing awaits per event: a chunk is one
job, and only the hand-over to the runners awaits (their buffers are the backpressure). A quiet
second runs the windowed stages on nothing (a *tick*), so windows close when input stops.

Batches adapt to the load without a timer: a reader hands over what it has as soon as it has it,
and a busy pipeline lets the next chunk grow in the file meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from logflume import lines, selflog
from logflume.events import Ack, Batch, DeadLetter, Event, RawChunk
from logflume.lines import Lines
from logflume.pipeline.aggregate.front import AggregateInput
from logflume.pipeline.anomaly.front import AnomalyInput
from logflume.pipeline.build import STATELESS
from logflume.pipeline.config import PipelineConfig
from logflume.pipeline.isolate import StageCounters, metered_call
from logflume.pipeline.job import ChunkResult, ChunkWork, ParseSettings, StageSet
from logflume.pipeline.stage import Chain
from logflume.workers.pool import LocalPool, Pool

if TYPE_CHECKING:
    from logflume.app.daemon import Daemon
    from logflume.sinks.runner import SinkRunner

# metered_call lived here; what imports it from here still finds it.
__all__ = ["Processor", "metered_call"]

log = logging.getLogger("logflume.app")

TICK_SECONDS = 1.0
# A chunk smaller than this (and than a quarter of what its reader reads at once) is processed in
# the daemon's own process even when it has workers: the reader had caught up with a file being
# written, and a few lines cost less here than the two hand-overs between processes, and arrive
# sooner. Larger chunks mean a reader is behind: they go to the workers.
LOCAL_BELOW = 64 * 1024
# The stage whose output the windowed stages start from (for the tap).
LAST_STATELESS = STATELESS[-1]
# At most one log line per windowed stage in this many seconds about its failures.
LOG_INTERVAL = 60.0


@dataclass(slots=True)
class Outgoing:
    """What one chunk (or tick) hands to the sinks, the dead-letter file and the alert channels."""

    lines: list[Lines]
    routes: dict[str, list[Lines]] | None = None
    acks: list[Ack] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    alerts: list[Event] = field(default_factory=list)


class Processor:
    """Feeds the pool and applies its results in order (see the module docstring). ``local`` runs
    small chunks in this process when ``pool`` is worker processes."""

    def __init__(self, daemon: Daemon, pool: Pool, local: LocalPool | None = None) -> None:
        self.daemon = daemon
        self.pool = pool
        self.local = local
        self._aggregate: Any = None
        self._anomaly: Any = None
        # Chunks submitted, in the order they were read, with their results to come; None: a tick.
        self._pending: asyncio.Queue[tuple[RawChunk, float, asyncio.Future[ChunkResult]] | None] = (
            asyncio.Queue(maxsize=max(2, pool.size * 3))
        )
        self._levels = selflog.levels()
        self._failures_logged: dict[str, float] = {}
        # Until the worker processes are up, chunks are processed here (see :meth:`start`).
        self._pool_up = local is None
        self._starting: asyncio.Task[None] | None = None

    def use(self, windowed: Chain) -> None:
        """Run these windowed stages from the next chunk on (pass-through slots are skipped)."""
        stages = {stage.name: stage for stage in windowed.stages}
        self._aggregate = stages.get("aggregate") if hasattr(stages.get("aggregate"), "take") else None
        self._anomaly = stages.get("anomaly") if hasattr(stages.get("anomaly"), "take") else None

    def start(self) -> None:
        """Start the pool's worker processes in the background: chunks read meanwhile are
        processed in this process, so reading starts at once (a worker takes ~0.3 s to import
        and build its stages)."""
        if self._starting is None:
            self._starting = asyncio.create_task(self._start_pool(), name="processor:workers")

    async def started(self) -> None:
        """Until the worker processes are up; WorkerError when they cannot start."""
        if self._starting is not None:
            await asyncio.shield(self._starting)

    async def _start_pool(self) -> None:
        await self.pool.start()
        self._pool_up = True

    async def stop(self) -> None:
        """End the worker processes (once every chunk is applied, or at a forced stop)."""
        if self._starting is not None and not self._starting.done():
            self._starting.cancel()
            await asyncio.gather(self._starting, return_exceptions=True)
        await self.pool.stop()

    def use_stages(self, pipeline: PipelineConfig, built: StageSet) -> None:
        """Jobs submitted from now on run ``pipeline``'s stages (``built`` here, for local jobs)."""
        self.pool.use(pipeline, built)
        if self.local is not None:
            self.local.use(pipeline, built)

    def add_source(self, settings: ParseSettings) -> None:
        """Chunks of this source read from now on are parsed with ``settings``."""
        self.pool.add_source(settings)
        if self.local is not None:
            self.local.add_source(settings)

    async def run(self) -> None:
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._feed(), name="processor:feed")
                group.create_task(self._apply(), name="processor:apply")
                group.create_task(self._ticker(), name="processor:tick")
        except* Exception as failed:
            # One task failed (and the other was cancelled): its error is the processor's.
            raise failed.exceptions[0] from None

    # -- feeding ------------------------------------------------------------------------------

    async def _feed(self) -> None:
        queue, pending, tap = self.daemon.queue, self._pending, self.daemon.tap
        while True:
            chunk = await queue.get()
            now = time.time()
            if chunk.data:
                taps = self._taps() if tap.active else {}
                runners = self.daemon.runners
                blocks = min((runner.config.batch.max_events for runner in runners), default=0)
                work = ChunkWork(
                    chunk.source,
                    chunk.fingerprint,
                    chunk.path,
                    chunk.start,
                    chunk.data,
                    now,
                    taps,
                    blocks,
                    _encodings(runners),
                )
                local = self.local is not None and (not self._pool_up or self._small(chunk))
                pool = self.local if local and self.local is not None else self.pool
                future = await pool.submit(work)
            else:
                # Nothing to parse (the reader's own dead letters, or an offset to move past).
                future = asyncio.get_running_loop().create_future()
                future.set_result(ChunkResult([], None, [], [], 0, {}, {}))
            await pending.put((chunk, now, future))

    def _small(self, chunk: RawChunk) -> bool:
        source = self.daemon.sources.get(chunk.source)
        reads = source.config.read_bytes if source is not None else LOCAL_BELOW
        return len(chunk.data) < min(LOCAL_BELOW, reads // 4)

    def _taps(self) -> dict[str, int]:
        """The stages whose output the job encodes for the tap; the windowed stages start from the
        last stateless one's."""
        wanted = self.daemon.tap.wanted()
        for name in ("aggregate", "anomaly"):
            if name in wanted:
                wanted[LAST_STATELESS] = max(wanted.get(LAST_STATELESS, 0), wanted[name])
        return wanted

    # -- applying -----------------------------------------------------------------------------

    async def _apply(self) -> None:
        pending, queue = self._pending, self.daemon.queue
        while True:
            item = await pending.get()
            if item is None:
                await self.tick(time.time())
                continue
            chunk, now, future = item
            try:
                await self.handle(chunk, await future, now)
            finally:
                queue.task_done()

    async def _ticker(self) -> None:
        """A tick in line with the chunks every TICK_SECONDS (behind those already waiting)."""
        while True:
            await asyncio.sleep(TICK_SECONDS)
            await self._pending.put(None)

    async def tick(self, now: float) -> None:
        """The windowed stages on nothing, so windows close when input goes quiet."""
        self._follow_levels()
        if self._aggregate is None and self._anomaly is None:
            return
        out = Outgoing([])
        self._windowed(out, None, None, 0, now, {})
        await self.dispatch(out)

    def _follow_levels(self) -> None:
        """Workers log at the daemon's levels, also after SIGUSR1/SIGUSR2 or ``/loglevel``."""
        levels = selflog.levels()
        if levels != self._levels:
            self._levels = levels
            self.pool.set_levels(levels)

    async def handle(self, chunk: RawChunk, result: ChunkResult, now: float) -> None:
        daemon = self.daemon
        stage_stats = daemon.stage_stats
        for name, count in result.counts.items():
            counters = stage_stats.get(name)
            if counters is None:
                counters = stage_stats[name] = StageCounters()
            count.add_to(counters)
        if result.parse is not None:
            daemon.count_parsed(chunk.source, result.parse)
        if result.reported:
            daemon.count_reported(result.reported)
        dead = result.dead
        if chunk.dead:
            dead.extend(chunk.dead)
        daemon.stats.chunks += 1
        if result.taps:
            for stage, (encoded, total) in result.taps.items():
                self._offer(stage, encoded, total)
        out = Outgoing(result.lines, result.routes, [chunk.ack], dead, result.alerts)
        self._windowed(out, result.aggregate, result.anomaly, result.events, now, result.taps)
        await self.dispatch(out)

    def _windowed(
        self,
        out: Outgoing,
        aggregate: AggregateInput | None,
        anomaly: AnomalyInput | None,
        events: int,
        now: float,
        taps: dict[str, tuple[list[bytes], int]],
    ) -> None:
        """The aggregate and anomaly stages on what the job took for them; the events they make
        (window metrics, alerts) join the main stream."""
        if self._aggregate is None and self._anomaly is None:
            return
        batch = Batch([], [], [], [])
        after: dict[str, int] = {}  # how many new events there were after each stage (for the tap)
        if self._aggregate is not None:
            taken = aggregate if aggregate is not None else AggregateInput()
            self._take("aggregate", events, batch, lambda: self._aggregate.take(taken, batch, now))
        after["aggregate"] = len(batch.events)
        if self._anomaly is not None:
            parts = [anomaly] if anomaly is not None else []
            parts.append(self._anomaly.front(batch.events))  # the metrics the aggregate just made
            self._take("anomaly", events, batch, lambda: self._anomaly.take(parts, batch, now))
        after["anomaly"] = len(batch.events)
        if self.daemon.tap.active:
            wanted = self.daemon.tap.wanted()
            base, count = taps.get(LAST_STATELESS, ([], 0))
            for name, made in after.items():
                if name in wanted:
                    new = [lines.encode_line(event) for event in batch.events[:made]]
                    self._offer(name, base + new, count + made)
        if batch.events:
            out.lines = [*out.lines, *lines.encode(batch.events)]
        out.alerts = [*out.alerts, *batch.alerts]

    def _take(self, name: str, events: int, batch: Batch, call: Any) -> None:
        """One windowed stage, counted like any stage. Should it raise (a bug), the chunk's events
        are still delivered; only that stage's windows miss them (counted and logged)."""
        counters = self.daemon.stage_stats.setdefault(name, StageCounters())
        before = len(batch.events)
        counters.batches += 1
        counters.events_in += events + before
        try:
            call()
        except Exception as exc:
            counters.failed_batches += 1
            now = time.monotonic()
            if now - self._failures_logged.get(name, float("-inf")) >= LOG_INTERVAL:
                self._failures_logged[name] = now
                log.error(
                    "Stage failed on a batch; its windows miss these events",
                    extra={"stage": name, "error_type": type(exc).__name__, "events": events},
                )
        counters.events_out += events + len(batch.events)

    def _offer(self, stage: str, encoded: list[bytes], events: int) -> None:
        """Lines for the tap clients; a tap that fails never stops the processor."""
        try:
            self.daemon.tap.offer_lines(stage, encoded, events)
        except Exception as exc:
            log.warning("Tap could not take events", extra={"stage": stage, "error_type": type(exc).__name__})

    async def dispatch(self, out: Outgoing) -> None:
        daemon = self.daemon
        stats = daemon.stats
        if out.dead:
            daemon.dead_letters.write(out.dead)
        if daemon.dead_letters.held:
            # The disk refused dead letters: hand nothing on (the readers pause behind the queue)
            # until they are written, so no acknowledgement passes a dead letter held in memory.
            await daemon.dead_letters.drain()
        if out.alerts:
            fired = stats.alerts_fired
            for alert in out.alerts:
                rule = str(alert.get("rule"))
                fired[rule] = fired.get(rule, 0) + 1
            daemon.alerts.submit(out.alerts)
        acks, routes = out.acks, out.routes
        if not out.lines and not acks and not (routes and any(routes.values())):
            return
        async with daemon.dispatch_lock:
            # The runners of this batch: a reload swapping them meanwhile waits for this lock, so
            # every batch completes on the runners it was given to.
            runners = daemon.runners
            for ack in acks:
                ack.retain(len(runners))
            for runner in runners:
                await runner.put(routes.get(runner.name, out.lines) if routes else out.lines, acks)
        for ack in acks:
            ack.done()  # the processor's own hold
        stats.events_out += lines.count(out.lines)
        stats.last_progress = time.monotonic()


def _encodings(runners: list[SinkRunner]) -> tuple[str, ...]:
    """The encodings the sinks take besides JSON lines (made by the job, see lines.Encoded)."""
    keys = {getattr(runner.sink, "encoding", None) for runner in runners}
    return tuple(sorted(key for key in keys if key is not None))
