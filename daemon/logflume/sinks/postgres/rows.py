"""Events → row tuples for COPY, in the column order of :mod:`.schema`.

The hot path of the sink: per event one ``orjson.dumps`` and a handful of dict lookups. A bad
value never fails the batch: a typed column gets NULL when the value does not convert (it stays
in the ``jsonb``); text PostgreSQL cannot store (NUL characters, lone surrogates) is cleaned, and
what orjson cannot encode (integers beyond 64 bits) is encoded otherwise, on a slow path taken
only by the events that need it.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any

import orjson

from logflume import eventtime
from logflume.events import META_KEY, Event

_JSON_OPTS = orjson.OPT_NON_STR_KEYS
_INT64 = (-(2**63), 2**63 - 1)
_INT32 = (-(2**31), 2**31 - 1)
_NUL_ESCAPE = b"\\u0000"

Record = tuple[Any, ...]


@dataclass
class Rows:
    """One batch as rows per table, plus what could not become a row at all."""

    events: list[Record] = field(default_factory=list)
    metrics: list[Record] = field(default_factory=list)
    alerts: list[Record] = field(default_factory=list)
    rejected: list[tuple[Event, str]] = field(default_factory=list)
    # UTC days of the events table rows: the partitions this batch needs.
    days: set[date] = field(default_factory=set)


# -- value conversion (None when the value does not fit the column) ------------------------------


def to_text(value: Any) -> str | None:
    kind = type(value)
    if kind is str:
        return value  # type: ignore[no-any-return]
    if kind is int or kind is float or kind is bool:
        return str(value)
    return None


def to_int(value: Any, bounds: tuple[int, int] = _INT64) -> int | None:
    kind = type(value)
    if kind is int:
        number = value
    elif kind is float and value.is_integer():
        number = int(value)
    elif kind is str:
        try:
            number = int(value)
        except ValueError:
            return None
    else:
        return None
    return number if bounds[0] <= number <= bounds[1] else None


def to_float(value: Any) -> float | None:
    kind = type(value)
    if kind is float:
        return value  # type: ignore[no-any-return]
    if kind is int or kind is str:
        try:
            return float(value)
        except (ValueError, OverflowError):
            return None
    return None


@lru_cache(maxsize=65536)
def _valid_ip(text: str) -> bool:
    # PostgreSQL's inet has no IPv6 zone ("fe80::1%eth0"), which Python accepts.
    if "%" in text:
        return False
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


# Dotted-quad IPv4 exactly as ipaddress accepts it (0-255, no leading zeros, ASCII digits): most
# addresses are checked by one match instead of ipaddress's parser, which costs several µs.
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_ipv4 = re.compile(rf"(?:{_OCTET}\.){{3}}{_OCTET}").fullmatch


def to_inet(value: Any) -> str | None:
    """The address text when PostgreSQL's inet will take it (cast there), else None."""
    if type(value) is not str or len(value) > 45:
        return None
    # Other text (IPv6) is validated once per distinct address: client addresses repeat a lot.
    return value if _ipv4(value) is not None or _valid_ip(value) else None


# -- JSON ---------------------------------------------------------------------------------------


def sanitise(value: Any) -> Any:
    """A copy of ``value`` PostgreSQL's jsonb accepts: no NUL, valid UTF-8, finite numbers."""
    if isinstance(value, str):
        if "\x00" in value:
            value = value.replace("\x00", "")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-8", "replace").decode("utf-8")
        return value
    if isinstance(value, dict):
        return {sanitise(k if isinstance(k, str) else str(k)): sanitise(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [sanitise(v) for v in value]
    if isinstance(value, bool | int) or value is None:
        return value  # jsonb numbers have arbitrary precision: big integers stay numbers
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, bytes):
        return sanitise(value.decode("utf-8", "replace"))
    return sanitise(str(value))


def dump(event: Event) -> tuple[bytes, Event]:
    """The event as jsonb text, and the event the typed columns should be read from.

    Fast path: orjson validates every string on the way (it refuses lone surrogates), and it
    writes NUL as ``\\u0000``, so one byte search proves the whole event is storable. Anything
    else takes the slow path once, through the standard library's encoder, which (unlike
    orjson) writes integers beyond 64 bits.
    """
    try:
        data = orjson.dumps(event, option=_JSON_OPTS)
    except TypeError:  # orjson.JSONEncodeError: surrogates, >64-bit ints, unknown types
        data = b""
    if data and _NUL_ESCAPE not in data:
        return data, event
    clean: Event = sanitise(event)
    text = json.dumps(clean, ensure_ascii=False, separators=(",", ":"), default=str, allow_nan=False)
    return text.encode("utf-8"), clean


def content_id(data: bytes) -> str:
    """A stable id for an event without one (not from a source), so replays still dedupe."""
    return "h-" + hashlib.blake2b(data, digest_size=16).hexdigest()


# -- rows ---------------------------------------------------------------------------------------


def _first(event: Event, keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = event.get(key)
        if value is not None:
            return value
    return None


class RowBuilder:
    """Builds :class:`Rows` for a batch; ``now`` is the fallback when nothing dates an event."""

    def __init__(self, max_past_days: int, max_future_days: int) -> None:
        self.max_past_days = max_past_days
        self.max_future_days = max_future_days
        self._last_ingested: tuple[Any, datetime | None] = (None, None)

    def _ingested(self, meta: dict[str, Any]) -> datetime | None:
        # Every event of a chunk carries the same ingest time: parse it once.
        value = meta.get("ingested_at")
        last_value, last_parsed = self._last_ingested
        if value == last_value:
            return last_parsed
        parsed = eventtime.parse(value)
        self._last_ingested = (value, parsed)
        return parsed

    def build(self, events: list[Event], now: datetime) -> Rows:
        rows = Rows()
        append_event = rows.events.append
        days = rows.days
        dumps = orjson.dumps
        join = b"".join
        parse = eventtime.parse
        text = to_text
        today = now.date().toordinal()
        lo_day, hi_day = today - self.max_past_days, today + self.max_future_days
        for event in events:
            try:
                # dump()'s fast path, inlined. orjson returns its output in an over-allocated
                # buffer (~8 KiB for a 700-byte event with orjson 3.13) and rows live until their
                # COPY: joining copies it into a right-sized object, for a twentieth of a µs.
                data = join((dumps(event, option=_JSON_OPTS), b""))
            except TypeError:
                data = _NUL_ESCAPE
            original = event
            if _NUL_ESCAPE in data:
                try:
                    data, event = dump(event)
                except (TypeError, ValueError, RecursionError) as exc:
                    rows.rejected.append((event, f"cannot encode event as JSON: {exc}"))
                    continue
            get = event.get
            kind = get("type")
            if kind == "metric" or kind == "alert":
                self._daemon_event(rows, event, data, now)
                continue
            meta = get(META_KEY)
            if type(meta) is not dict:
                meta = {}
            ingested = self._ingested(meta)
            eid = text(meta.get("event_id"))
            if eid is None:
                eid = content_id(data)
            # eventtime.of_event, inline: the first of @timestamp, timestamp that parses (in UTC,
            # like the partitions' days). Read from the event as the other sinks see it: cleaning
            # can make a time of what is none ("0\x00" → "0").
            ts = parse(original.get("@timestamp"))
            if ts is None:
                ts = parse(original.get("timestamp"))
            fallback = ts is None
            if ts is None:
                ts = ingested or now
            day = ts.date()
            if lo_day <= day.toordinal() <= hi_day:
                days.add(day)
            source = meta.get("source")
            if source is None:
                source = get("source")
            # Alternative field names, inlined: this loop is the sink's hot path.
            message = get("message")
            if message is None:
                message = get("msg")
            tokens = get("tokens")
            if tokens is None:
                tokens = get("tokens_used")
            ip = get("ip_address")  # the canonical name first (logflume.canonical)
            if ip is None:
                ip = get("ip")
                if ip is None:
                    ip = get("client_ip")
            append_event(
                (
                    eid,
                    ts,
                    text(get("level")),
                    text(get("logger")),
                    text(message),
                    text(get("request_id")),
                    text(get("user_id")),
                    text(get("provider")),
                    text(get("model")),
                    to_int(tokens),
                    to_float(get("response_time_ms")),
                    to_int(get("status_code"), _INT32),
                    to_inet(ip),
                    text(source),
                    ingested,
                    data,
                    fallback,
                )
            )
        return rows

    def _daemon_event(self, rows: Rows, event: Event, data: bytes, now: datetime) -> None:
        meta = event.get(META_KEY)
        if type(meta) is not dict:
            meta = {}
        eid = to_text(meta.get("event_id"))
        if eid is None:
            eid = content_id(data)
        source = to_text(_first(meta, ("source",)) or event.get("source"))
        ts = eventtime.parse(_first(event, ("@timestamp", "timestamp", "window_end", "started_at")))
        if ts is None:
            ts = self._ingested(meta) or now
        if event.get("type") == "metric":
            window = event.get("window")
            window = window if type(window) is dict else {}
            dimensions = _first(event, ("dimensions", "group", "labels"))
            dims = None
            if type(dimensions) is dict:
                dims = orjson.dumps(dimensions, option=_JSON_OPTS, default=str)
            rows.metrics.append(
                (
                    eid,
                    ts,
                    to_text(_first(event, ("name", "metric"))),
                    eventtime.parse(_first(event, ("window_start",)) or window.get("start")),
                    eventtime.parse(_first(event, ("window_end",)) or window.get("end")),
                    to_int(event.get("count")),
                    source,
                    dims,
                    data,
                )
            )
        else:
            rows.alerts.append(
                (
                    eid,
                    ts,
                    to_text(_first(event, ("rule", "name"))),
                    to_text(event.get("severity")),
                    to_text(event.get("state")),
                    to_text(event.get("subject")),
                    to_text(_first(event, ("message", "summary"))),
                    eventtime.parse(event.get("started_at")),
                    source,
                    data,
                )
            )
