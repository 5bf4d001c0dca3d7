"""One chunk through parse, the stateless stages and the encoder: the work of a worker process.

A :class:`Job` holds what this needs, built once from the config: a parser per source (with its
mapping) and the stateless stages (audit, normalise, redact, enrich, filter, sample), plus the
*fronts* of the windowed stages (what the aggregate and anomaly stages need of each event,
computed without their state). :meth:`Job.run` turns a :class:`ChunkWork` (a chunk's bytes and
where they came from) into a :class:`ChunkResult`: the events as JSON lines for the sinks (the main
stream, and each route of the filter), the dead letters, the alerts the stateless stages raised,
the counters of each stage, lines for the tap, and the fronts' compact inputs.

Counts live where they are made (:mod:`logflume.telemetry`): here, in the parsers and stages of
the job, which may be in another process. So a result also carries what the chunk added to them
(parse's counts, and the own counts of each stage that keeps any), and the daemon adds those up:
its totals are the same whichever process ran the chunk, and survive a worker that is replaced.

No I/O and no awaiting: the daemon runs jobs in worker processes (or, with ``workers: 1``, in its
own), and applies their results in the order the chunks were read. Every stage runs under the
same safety net as always (:func:`~logflume.pipeline.isolate.metered_call`): an event a stage
raises on is dead-lettered, the rest goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from logflume.events import Ack, Batch, DeadLetter, Event, RawChunk
from logflume.lines import BlockEncoder, Lines, encode, encode_line
from logflume.pipeline.aggregate.front import AggregateFront, AggregateInput
from logflume.pipeline.anomaly.front import AnomalyFront, AnomalyInput
from logflume.pipeline.build import build_parser, build_stateless, build_windowed_fronts
from logflume.pipeline.config import PipelineConfig
from logflume.pipeline.isolate import StageCounters, StageGuard, metered_call
from logflume.pipeline.mapping import MappingConfig
from logflume.pipeline.parse import Parser, ParseStats
from logflume.pipeline.stage import Stage
from logflume.telemetry import Reporting

log = logging.getLogger("logflume.pipeline")

PARSE = "parse"


@dataclass(frozen=True, slots=True)
class ParseSettings:
    """How one source's lines are parsed: its name, whether non-JSON lines are wrapped, its mapping."""

    source: str
    wrap_invalid: bool = False
    preset: str | None = None
    mapping: MappingConfig | None = None


@dataclass(slots=True)
class ChunkWork:
    """A chunk to process: whole lines read from one file, and when it is processed."""

    source: str
    fingerprint: str
    path: str
    start: int
    data: bytes
    now: float
    # Stages being tapped, with how many events each tap wants at most.
    taps: dict[str, int] = field(default_factory=dict)
    # Encode into blocks of at most this many events (0: one block): the smallest batch of the
    # sinks, so that they need not cut (and copy) blocks apart again.
    block_events: int = 0
    # The sinks' own encodings to make of every block too (BlockEncoder keys, see lines.Encoded).
    encodings: tuple[str, ...] = ()


# (stage, count name, labels) → value: the own counts of stages that keep any (telemetry.Reporting).
Reported = dict[tuple[str, str, tuple[tuple[str, str], ...]], float]


def reported_counts(stages: list[Stage]) -> Reported:
    """The own counts of every stage that keeps any, now."""
    out: Reported = {}
    for stage in stages:
        if isinstance(stage, Reporting):
            name = stage.name
            for item in stage.telemetry():
                out[(name, item.name, item.labels)] = item.value
    return out


def counts_added(after: Reported, before: Reported) -> Reported:
    """The counts that grew from ``before`` to ``after``, by how much."""
    added: Reported = {}
    for key, value in after.items():
        was = before.get(key, 0.0)
        if value != was:
            added[key] = value - was
    return added


@dataclass(slots=True)
class ChunkResult:
    """What a chunk became. ``lines`` is the main stream; ``routes[sink]`` replaces it for a sink
    the filter routed to (as :attr:`Batch.routes` does)."""

    lines: list[Lines]
    routes: dict[str, list[Lines]] | None
    dead: list[DeadLetter]
    alerts: list[Event]
    parsed: int  # events parse made of the chunk
    counts: dict[str, StageCounters]  # each stateless stage (what every stage counts)
    taps: dict[str, tuple[list[bytes], int]]  # stage → (its first events' lines, its event count)
    aggregate: AggregateInput | None = None
    anomaly: AnomalyInput | None = None
    parse: ParseStats | None = None  # what parse counted of this chunk
    reported: Reported | None = None  # what the chunk added to the stages' own counts

    def blocks(self) -> list[Lines]:
        """Every block of lines, in one fixed order (main stream, then routes by sink)."""
        blocks = list(self.lines)
        for name in sorted(self.routes or {}):
            blocks.extend((self.routes or {})[name])
        return blocks

    @property
    def events(self) -> int:
        return sum(len(block) for block in self.lines)


@dataclass(slots=True)
class StageSet:
    """The stateless stages and the windowed fronts of a pipeline config, built."""

    stages: list[Stage]
    aggregate: AggregateFront | None
    anomaly: AnomalyFront | None

    @classmethod
    def build(cls, pipeline: PipelineConfig) -> StageSet:
        """Build them (reads lookup tables and the geo database: ConfigError when it cannot)."""
        return cls(build_stateless(pipeline), *build_windowed_fronts(pipeline))


def _no_ack(ack: Ack) -> None:
    """A worker's chunks are acknowledged by the daemon, never by the job."""


# Makes the block encoder named by a key (None: a key it does not know). Given by whoever runs
# the job: the encoders belong to the sinks, which the pipeline does not import.
EncoderFactory = Callable[[str], BlockEncoder | None]


class Job:
    """Parsers and stateless stages, built once; rebuilt by :meth:`use` and :meth:`add_source`."""

    def __init__(
        self,
        pipeline: PipelineConfig,
        sources: list[ParseSettings],
        make_encoder: EncoderFactory | None = None,
    ) -> None:
        self.guard = StageGuard()
        self._make_encoder = make_encoder
        self._encoders: dict[str, BlockEncoder | None] = {}
        self.stages: list[Stage] = []
        self.aggregate: AggregateFront | None = None
        self.anomaly: AnomalyFront | None = None
        self.parsers: dict[str, Parser] = {}
        self.use(pipeline)
        for source in sources:
            self.add_source(source)

    def use(self, pipeline: PipelineConfig, built: StageSet | None = None) -> None:
        """Run ``pipeline``'s stages (``built`` already, or built now: ConfigError when a lookup
        table or the geo database cannot be read)."""
        stage_set = built if built is not None else StageSet.build(pipeline)
        self.stages, self.aggregate, self.anomaly = stage_set.stages, stage_set.aggregate, stage_set.anomaly

    def add_source(self, settings: ParseSettings) -> None:
        """Parse a source's chunks with ``settings`` from now on (a new or changed source)."""
        on_invalid = "wrap" if settings.wrap_invalid else "dead_letter"
        self.parsers[settings.source] = build_parser(settings.preset, settings.mapping, on_invalid)

    def stage_names(self) -> list[str]:
        return [PARSE, *(stage.name for stage in self.stages)]

    def run(self, work: ChunkWork) -> ChunkResult:
        now = work.now
        chunk = RawChunk(work.source, work.fingerprint, work.path, work.start, work.data, Ack("", 0, _no_ack))
        parser = self.parsers[work.source]
        parsed_before = replace(parser.stats)
        reported_before = reported_counts(self.stages)
        events, dead = parser(chunk, now)
        counts: dict[str, StageCounters] = {}
        parsed = len(events)
        taps: dict[str, tuple[list[bytes], int]] = {}
        wanted = work.taps
        if wanted:
            _tap(taps, wanted, PARSE, events)
        batch = Batch(events, [], dead)
        guard = self.guard
        for stage in self.stages:
            count = counts[stage.name] = StageCounters()
            batch = metered_call(stage, count, batch, now, guard)
            if wanted:
                _tap(taps, wanted, stage.name, batch.events)
        result = ChunkResult(
            lines=self._encode(work.source, batch, work.block_events),
            routes=None,
            dead=batch.dead,
            alerts=batch.alerts,
            parsed=parsed,
            counts=counts,
            taps=taps,
            parse=parser.stats.since(parsed_before),
            reported=counts_added(reported_counts(self.stages), reported_before),
        )
        if batch.routes is not None:
            result.routes = {sink: encode(routed) for sink, routed in batch.routes.items()}
        if work.encodings and self._make_encoder is not None:
            encoders = [self._encoder(key) for key in work.encodings]
            known = [encoder for encoder in encoders if encoder is not None]
            if known:
                _attach(known, result.lines, batch.events, now)
                for sink, routed in (batch.routes or {}).items():
                    _attach(known, (result.routes or {})[sink], routed, now)
        if self.aggregate is not None:
            aggregate = self.aggregate
            result.aggregate = _front(
                "aggregate", lambda events: aggregate(events, now), batch.events, AggregateInput
            )
        if self.anomaly is not None:
            result.anomaly = _front("anomaly", self.anomaly, batch.events, AnomalyInput)
        return result

    def _encoder(self, key: str) -> BlockEncoder | None:
        if key not in self._encoders and self._make_encoder is not None:
            if len(self._encoders) > 64:
                self._encoders.clear()  # reloads that keep changing sinks' encodings
            self._encoders[key] = self._make_encoder(key)
        return self._encoders.get(key)

    @staticmethod
    def _encode(source: str, batch: Batch, block_events: int) -> list[Lines]:
        events = batch.events
        if not events:
            return []
        if not batch.alerts:
            # Every event is one the parser made of this chunk: all of this source.
            if not block_events or len(events) <= block_events:
                return [Lines.of(source, events)]
            starts = range(0, len(events), block_events)
            return [Lines.of(source, events[start : start + block_events]) for start in starts]
        return encode(events)


def _attach(encoders: list[BlockEncoder], blocks: list[Lines], events: list[Event], now: float) -> None:
    """Give every block the encoders' encodings of its events (the blocks hold ``events`` in order)."""
    start = 0
    for block in blocks:
        stop = start + len(block)
        mine = events[start:stop] if start or stop != len(events) else events
        encoded = {}
        for encoder in encoders:
            try:
                made = encoder(mine, block, now)
                if made is not None:
                    encoded[encoder.key] = made
            except Exception:
                # A bug in an encoder must not lose the chunk: without its encoding, the sink
                # encodes the block itself (and raises there, where its errors are handled).
                if encoder.key not in _failed_encoders:
                    _failed_encoders.add(encoder.key)
                    extra = {"encoding": encoder.key}
                    log.exception("Block encoder failed; the sink encodes instead", extra=extra)
        block.encoded = encoded or None
        start = stop


_failed_encoders: set[str] = set()


def _tap(
    taps: dict[str, tuple[list[bytes], int]], wanted: dict[str, int], stage: str, events: list[Event]
) -> None:
    limit = wanted.get(stage)
    if limit:
        # Encoded now: later stages change the events in place. Right-sized copies: orjson's own
        # result sits in an ~8 KiB block, too much for a tapper's queue of a thousand.
        taps[stage] = ([bytes(memoryview(encode_line(event))) for event in events[:limit]], len(events))


def _front(name: str, front: Any, events: list[Event], empty: Any) -> Any:
    """A windowed stage's front on a batch; should it raise (a bug: fronts read any value), it is
    run event by event and the events it still raises on are left out of the windows (logged)."""
    try:
        return front(events)
    except Exception as exc:
        taken = empty()
        failed = 0
        for event in events:
            try:
                taken.extend(front([event]))
            except Exception:
                failed += 1
        log.error(
            "Stage failed on a batch; its events were run one by one",
            extra={
                "stage": name,
                "error_type": type(exc).__name__,
                "events": len(events),
                "left_out": failed,
            },
        )
        return taken
