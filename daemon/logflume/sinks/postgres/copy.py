"""Rows of the events staging table in PostgreSQL's binary COPY format, made in the workers.

A :class:`~logflume.lines.BlockEncoder`: beside each block of JSON lines a worker returns the
block's staging rows, built by the same :class:`~.rows.RowBuilder` the sink uses and encoded as
binary COPY tuples, one item per event, with the UTC days the rows need partitions for. The sink
then sends them with one ``COPY … FROM STDIN (FORMAT binary)`` (header, items, trailer) instead of
decoding every line and building the rows in the daemon's process.

Only plain events take this path. A block with an event the row builder files elsewhere (a
``metric`` or ``alert`` row) or cannot store at all is left to the sink, which builds its rows as
before. Columns follow :data:`~.schema.STAGE_EVENT_COLUMNS`; binary formats per PostgreSQL's
``typsend`` functions: text and bytea as their bytes, bigint/integer big-endian, double precision
IEEE 754, timestamptz as microseconds since 2000-01-01 UTC, boolean one byte.
"""

from __future__ import annotations

import struct
from array import array
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from logflume.events import Event
from logflume.lines import Encoded, Lines
from logflume.sinks.postgres.rows import Record, RowBuilder
from logflume.sinks.postgres.schema import STAGE_EVENT_COLUMNS

ENCODING = "postgres-copy:"
# Signature, flags, header extension length (PostgreSQL's "COPY" documentation, binary format).
HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
TRAILER = b"\xff\xff"

_NULL = b"\xff\xff\xff\xff"
_FIELDS = struct.pack(">h", len(STAGE_EVENT_COLUMNS))
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_size = struct.Struct(">i").pack
_int8 = struct.Struct(">iq").pack
_int4 = struct.Struct(">ii").pack
_float8 = struct.Struct(">id").pack
_TRUE = b"\x00\x00\x00\x01\x01"
_FALSE = b"\x00\x00\x00\x01\x00"


def encoding_key(max_past_days: int, max_future_days: int) -> str:
    """The key of the rows a sink with these partition bounds builds (the days they file under)."""
    return f"{ENCODING}{max_past_days}:{max_future_days}"


def days_of(names: frozenset[str]) -> set[date]:
    return {date.fromisoformat(name) for name in names}


def _text(out: bytearray, value: str | None) -> None:
    if value is None:
        out += _NULL
    else:
        raw = value.encode()
        out += _size(len(raw))
        out += raw


def encode_row(out: bytearray, row: Record) -> None:
    """Append one staging row (see :data:`STAGE_EVENT_COLUMNS` for the order and types)."""
    (eid, ts, level, logger, message, request_id, user_id, provider, model, tokens, rt, status,
     ip, source, ingested, data, fallback) = row  # fmt: skip
    out += _FIELDS
    _text(out, eid)  # never NULL: an event without an id gets one from its content
    out += _int8(8, (ts - _EPOCH) // _MICROSECOND)
    for value in (level, logger, message, request_id, user_id, provider, model):
        _text(out, value)
    out += _NULL if tokens is None else _int8(8, tokens)
    out += _NULL if rt is None else _float8(8, rt)
    out += _NULL if status is None else _int4(4, status)
    _text(out, ip)
    _text(out, source)
    out += _NULL if ingested is None else _int8(8, (ingested - _EPOCH) // _MICROSECOND)
    out += _size(len(data))
    out += data
    out += _TRUE if fallback else _FALSE


class CopyEncoder:
    """Builds a block's staging rows and encodes them for binary COPY (see the module docstring)."""

    def __init__(self, max_past_days: int, max_future_days: int) -> None:
        self.key = encoding_key(max_past_days, max_future_days)
        self._rows = RowBuilder(max_past_days, max_future_days)

    def __call__(self, events: Sequence[Event], block: Lines, now: float) -> Encoded | None:
        rows = self._rows.build(list(events), datetime.fromtimestamp(now, UTC))
        if rows.metrics or rows.alerts or rows.rejected or len(rows.events) != len(block):
            return None
        out = bytearray()
        ends: array[int] = array("q")
        for row in rows.events:
            encode_row(out, row)
            ends.append(len(out))
        return Encoded(out, ends, frozenset(day.isoformat() for day in rows.days))
