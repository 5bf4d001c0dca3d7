"""Parse: whole lines of a chunk → events, and dead letters for lines that are not JSON objects.

The hot path. One ``orjson.loads`` per line and one small metadata dict; the reasons for a
failure are worked out only on the failure path, so valid input pays nothing for them.

A source with a mapping (a preset or its own, :mod:`logflume.pipeline.mapping`) maps each event
right after it is parsed, before any stage sees it; an event the mapping cannot convert becomes a
dead letter (the line as read, the reason naming the field). Sources without one pay nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from logflume.errors import MappingError
from logflume.events import META_KEY, DeadLetter, Event, RawChunk
from logflume.pipeline.mapping import Mapper
from logflume.telemetry import CONVERSION_FAILED, PARSER_FAILED, Count, count


@dataclass
class ParseStats:
    """What one source's parser saw: the one place these are counted (stage and source metrics
    both read them)."""

    lines: int = 0
    events: int = 0
    blank: int = 0
    invalid: int = 0
    mapping_errors: int = 0

    def add(self, other: ParseStats) -> None:
        """Count what ``other`` counted too (a worker's counts of one chunk)."""
        self.lines += other.lines
        self.events += other.events
        self.blank += other.blank
        self.invalid += other.invalid
        self.mapping_errors += other.mapping_errors

    def since(self, before: ParseStats) -> ParseStats:
        """What was counted since ``before`` (a copy taken earlier)."""
        return ParseStats(
            self.lines - before.lines,
            self.events - before.events,
            self.blank - before.blank,
            self.invalid - before.invalid,
            self.mapping_errors - before.mapping_errors,
        )

    def telemetry(self) -> list[Count]:
        """As the ``parse`` stage (summed over the sources' parsers)."""
        dead = self.invalid + self.mapping_errors
        return [
            count("events_in", self.lines - self.blank),
            count("events_out", self.events),
            count("events_dropped", 0),
            count("events_routed", 0),
            count("events_dead_lettered", dead),
            count("batch_failures", 0),
            count("blank_lines", self.blank),
            *self.errors(),
        ]

    def source_telemetry(self) -> list[Count]:
        """As part of its source's counts."""
        return [
            count("events_read", self.events),
            count("events_dead_lettered", self.invalid + self.mapping_errors),
            *self.errors(),
        ]

    def errors(self) -> list[Count]:
        return [
            count("errors", self.invalid, error_type=PARSER_FAILED),
            count("errors", self.mapping_errors, error_type=CONVERSION_FAILED),
        ]


def failure_reason(line: bytes, error: Exception | None) -> str:
    """Why a line is not a JSON object, most specific cause first."""
    if b"\x00" in line:
        return "line contains a NUL byte"
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"invalid UTF-8 at byte {exc.start}"
    if error is None:
        return "not a JSON object"
    return f"invalid JSON: {error}"


def _dead(chunk: RawChunk, offset: int, line: bytes, reason: str) -> DeadLetter:
    # The bytes as read: the dead-letter file decides how to store them (redacted, base64…).
    return DeadLetter(chunk.source, chunk.path, offset, reason, line)


def iso_now(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Parser:
    """Turns a :class:`RawChunk` into events (with metadata) and dead letters."""

    name = "parse"

    def __init__(
        self, wrap_invalid: bool = False, mapper: Mapper | None = None, stats: ParseStats | None = None
    ) -> None:
        # wrap_invalid: a non-JSON line becomes {"message": <line>} instead of a dead letter.
        self.wrap_invalid = wrap_invalid
        self.mapper = mapper
        # Given: the counts of the parser this one replaces (a reload), which carry on.
        self.stats = stats if stats is not None else ParseStats()

    def __call__(self, chunk: RawChunk, now: float) -> tuple[list[Event], list[DeadLetter]]:
        loads = orjson.loads
        decode_error = orjson.JSONDecodeError
        events: list[Event] = []
        append = events.append
        dead: list[DeadLetter] = []
        source, path, prefix = chunk.source, chunk.path, chunk.fingerprint + "-"
        ingested = iso_now(now)
        offset = chunk.start
        blank = 0
        lines = chunk.data.split(b"\n")
        lines.pop()  # data ends with b"\n": the last piece is always empty
        for line in lines:
            size = len(line)
            if not size or line.isspace():
                blank += 1
                offset += size + 1
                continue
            try:
                obj = loads(line)
            except decode_error as exc:
                obj = self._invalid(chunk, offset, line, exc, dead)
                if obj is None:
                    offset += size + 1
                    continue
            if type(obj) is not dict:
                obj = self._invalid(chunk, offset, line, None, dead)
                if obj is None:
                    offset += size + 1
                    continue
            obj[META_KEY] = {
                "event_id": f"{prefix}{offset:x}",
                "source": source,
                "file": path,
                "offset": offset,
                "ingested_at": ingested,
            }
            append(obj)
            offset += size + 1
        stats = self.stats
        stats.lines += len(lines)
        stats.blank += blank
        stats.invalid += len(dead)
        if self.mapper is not None:
            events = self._map(chunk, events, dead)
        stats.events += len(events)
        return events, dead

    def _map(self, chunk: RawChunk, events: list[Event], dead: list[DeadLetter]) -> list[Event]:
        mapper = self.mapper
        assert mapper is not None
        kept: list[Event] = []
        for event in events:
            try:
                mapper(event)
            except MappingError as exc:
                offset = event[META_KEY]["offset"]
                start = offset - chunk.start
                line = chunk.data[start : chunk.data.index(b"\n", start)]
                dead.append(_dead(chunk, offset, line, f"mapping: {exc}"))
                self.stats.mapping_errors += 1
                continue
            kept.append(event)
        return kept

    def _invalid(
        self, chunk: RawChunk, offset: int, line: bytes, error: Exception | None, dead: list[DeadLetter]
    ) -> Event | None:
        if self.wrap_invalid and b"\x00" not in line:
            try:
                return {"message": line.decode("utf-8")}
            except UnicodeDecodeError:
                pass
        dead.append(_dead(chunk, offset, line, failure_reason(line, error)))
        return None
