"""``logflume query EXPR INPUT…``: the events that match a condition of the filter stage's language.

The condition is compiled by the filter stage's own compiler
(:func:`logflume.pipeline.filter.compile_condition`), so a query and a filter rule written the same
way match the same events. Lines are decoded in batches; a match is written as the line it was
read from, so the output is the stored event byte for byte.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from io import BufferedIOBase
from typing import IO, Any

import orjson

from logflume.analysis.inputs import LocalFile
from logflume.events import Event
from logflume.pipeline.filter import compile_condition, parse_expression
from logflume.pipeline.filter.expression import GROUP_KEYS
from logflume.pipeline.paths import MISSING, check_path, make_getter

READ_HINT = 4 << 20  # bytes of lines decoded per batch
TABLE_SAMPLE = 200  # rows that set the column widths of --fields output


@dataclass
class QueryStats:
    lines: int = 0
    skipped: int = 0
    matched: int = 0


class FieldsSeen:
    """Which of some fields occur in at least one event (checked until each is found once)."""

    def __init__(self, paths: Iterable[str]) -> None:
        self.unseen = {path: make_getter(path) for path in paths}

    def observe(self, events: Iterable[Event]) -> None:
        if not self.unseen:
            return
        for event in events:
            for path, get in list(self.unseen.items()):
                if get(event) is not MISSING:
                    del self.unseen[path]
            if not self.unseen:
                return


def condition_fields(spec: Any) -> list[str]:
    """The field paths a condition spec (mapping form) reads, in order of appearance."""
    found: list[str] = []
    if isinstance(spec, list):
        for item in spec:
            found += condition_fields(item)
    elif isinstance(spec, dict):
        for key, value in spec.items():
            if key in GROUP_KEYS:
                found += condition_fields(value)
            else:
                found.append(key)
    elif isinstance(spec, str):
        found += condition_fields(parse_expression(spec))
    return list(dict.fromkeys(found))


def _open(file: LocalFile) -> BufferedIOBase:
    if file.gzip:
        return gzip.open(file.path, "rb")
    return file.path.open("rb")


def read_batches(files: Iterable[LocalFile], stats: QueryStats) -> Iterator[list[tuple[bytes, Event]]]:
    """(line, event) pairs in batches; blank lines and lines that are not JSON objects are skipped."""
    loads = orjson.loads
    for file in files:
        with _open(file) as handle:
            while lines := handle.readlines(READ_HINT):
                batch: list[tuple[bytes, Event]] = []
                for line in lines:
                    line = line.rstrip(b"\r\n")
                    if not line.strip():
                        continue
                    stats.lines += 1
                    try:
                        event = loads(line)
                    except orjson.JSONDecodeError:
                        stats.skipped += 1
                        continue
                    if type(event) is not dict:
                        stats.skipped += 1
                        continue
                    batch.append((line, event))
                yield batch


def compile_query(expression: str) -> Callable[[Event], bool]:
    """The filter stage's condition for ``expression``; raises ConditionError when it is invalid."""
    return compile_condition(expression)


def matches(
    batches: Iterable[list[tuple[bytes, Event]]],
    condition: Callable[[Event], bool],
    limit: int | None,
    stats: QueryStats,
    seen: FieldsSeen | None = None,
) -> Iterator[list[tuple[bytes, Event]]]:
    """Batches of matching (line, event) pairs, stopping after ``limit`` matches; ``seen`` notes
    which of the condition's fields occur (only worth knowing when nothing matches)."""
    for batch in batches:
        if seen is not None and stats.matched == 0:
            seen.observe(event for _, event in batch)
        found = [pair for pair in batch if condition(pair[1])]
        if limit is not None and stats.matched + len(found) >= limit:
            found = found[: limit - stats.matched]
            stats.matched += len(found)
            if found:
                yield found
            return
        stats.matched += len(found)
        if found:
            yield found


def parse_fields(text: str) -> list[str]:
    """``a,b.c`` → ["a", "b.c"], each checked as a field path of the filter language."""
    fields = [part.strip() for part in text.split(",") if part.strip()]
    if not fields:
        raise ValueError("--fields needs at least one field name")
    for field in fields:
        check_path(field)
    return fields


def cell(value: Any) -> str:
    """How one field looks in a table: strings bare, missing empty, anything else as JSON."""
    if value is MISSING:
        return ""
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


class TableWriter:
    """Writes --fields rows aligned on the widths of the first TABLE_SAMPLE rows."""

    def __init__(self, fields: list[str], out: IO[str]) -> None:
        self.fields = fields
        self.getters = [make_getter(field) for field in fields]
        self.out = out
        self.pending: list[list[str]] = []
        self.widths: list[int] | None = None

    def add(self, events: Iterable[Event]) -> None:
        for event in events:
            row = [cell(get(event)).replace("\n", "\\n") for get in self.getters]
            if self.widths is None:
                self.pending.append(row)
                if len(self.pending) >= TABLE_SAMPLE:
                    self._flush_pending()
            else:
                self._write(row)

    def _flush_pending(self) -> None:
        rows = [self.fields, *self.pending]
        self.widths = [max(len(row[i]) for row in rows) for i in range(len(self.fields))]
        self._write(self.fields)
        for row in self.pending:
            self._write(row)
        self.pending = []

    def _write(self, row: list[str]) -> None:
        assert self.widths is not None
        line = "  ".join(value.ljust(width) for value, width in zip(row, self.widths, strict=True))
        self.out.write(line.rstrip() + "\n")

    def close(self) -> None:
        if self.widths is None:
            self._flush_pending()
