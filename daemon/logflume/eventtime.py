"""Event time: one parser, one formatter and one rule, used by every stage, sink and query.

An event's time is read from one JSON value, the same way everywhere:

* **ISO 8601 text**: ``2024-01-15T10:30:00Z``, with an offset (``+05:30``, converted to UTC) or
  without a zone (taken as UTC), a space instead of the ``T``, any number of fraction digits
  (cut to microseconds).
* **Epoch numbers**, and text that is a JSON number (``"1705314600"``, ``"1.7e9"``), in a unit
  told by the magnitude: below :data:`MILLIS_FROM` (1e11) seconds, below :data:`MICROS_FROM`
  (1e14) milliseconds, below :data:`NANOS_FROM` (1e17) microseconds, else nanoseconds. Seconds
  reach the year 5138, and each finer unit starts in March 1973, so any time since then reads
  right in any of the four units.
* **Anything else is "no event time"** (None), never an exception: booleans, null, objects, lists,
  NaN and infinities, digits that are not ASCII (``"²"``, ``"١٢"``), text longer than
  :data:`MAX_TEXT`, impossible dates, and times outside the years 1 to 9999 once in UTC.

The canonical form (:func:`format_utc`), which normalise writes to ``@timestamp``, is UTC with a
``Z`` and milliseconds (microseconds when the time has finer digits). Text already in that shape
(:func:`looks_canonical`, up to nine fraction digits) is kept as it is.

Analysis reads times with DuckDB; its SQL is built from the constants here
(:func:`logflume.digest.event_time_sql`), so an epoch number means the same instant there too.

Imports only :mod:`logflume.events`: sinks may use it like that module.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from logflume.events import META_KEY

# Epoch magnitudes (absolute values) from which a number is read in a finer unit.
MILLIS_FROM: Final = 1e11
MICROS_FROM: Final = 1e14
NANOS_FROM: Final = 1e17
# Text longer than this is no time (the longest ISO form with nine fraction digits and an offset
# with seconds is 45 characters); it also keeps hostile megabyte strings away from the parsers.
MAX_TEXT: Final = 64
# A JSON number, the only text read as an epoch number (ASCII only; Python's float() would also
# take "١٢", " 12", "1_000" and "nan").
NUMBER_PATTERN: Final = r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?"
# The fields an event's own time is read from, in order; the first that parses wins.
EVENT_TIME_FIELDS: Final = ("@timestamp", "timestamp")

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
# The range every parsed time lies in (Python's datetime: years 1 to 9999), in epoch seconds.
MIN_SECONDS: Final = (datetime(1, 1, 1, tzinfo=UTC) - EPOCH).total_seconds()
MAX_SECONDS: Final = (datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC) - EPOCH).total_seconds()

_number = re.compile(NUMBER_PATTERN).fullmatch
_fromisoformat = datetime.fromisoformat
# Lengths of canonical text: no fraction, or a "." and 1-9 digits.
CANONICAL_SIZES: Final = frozenset({20, *range(22, 31)})


def looks_canonical(text: str) -> bool:
    """Laid out as ``YYYY-MM-DDTHH:MM:SS[.f…]Z`` with 1-9 ASCII fraction digits, *given that
    fromisoformat reads it* (it checks the other digits and the calendar).

    Hot paths (normalise) repeat this test inline; a property test keeps the two equal.
    """
    # Only what fromisoformat lets through is checked here (tests/test_eventtime.py tries every
    # one-character change of canonical text): another character for the T, a week date
    # (2024-W03-1T…), "," or "." for the last ":", an empty fraction, and anything in a
    # fraction beyond its sixth digit, which fromisoformat does not read (it reads no other
    # character that is not ASCII).
    size = len(text)
    return (
        size in CANONICAL_SIZES
        and text[-1] == "Z"
        and text[10] == "T"
        and text[7] == "-"
        and text[16] == ":"
        and (size == 20 or text[19] == ".")
        and (size < 27 or (text[20:-1].isdigit() and text.isascii()))
    )


def parse(value: object) -> datetime | None:
    """The aware UTC datetime of a JSON value (see the module docstring), or None."""
    kind = type(value)
    if kind is str:
        return _parse_text(value)  # type: ignore[arg-type]
    if kind is int:
        return _from_int(value)  # type: ignore[arg-type]
    if kind is float:
        return _from_float(value)  # type: ignore[arg-type]
    return None


def _parse_text(text: str) -> datetime | None:
    # fromisoformat stops reading at a NUL in some positions: such text is no time.
    if len(text) > MAX_TEXT or not text.isascii() or "\x00" in text:
        return None
    if text[-1:] == "Z":  # the common case: no number ends in Z, and the time is UTC and in range
        try:
            return _fromisoformat(text)
        except ValueError:
            pass
    text = text.strip()
    if _number(text) is not None:
        if text.lstrip("-").isdigit():
            return _from_int(int(text))
        return _from_float(float(text))
    try:
        moment = _fromisoformat(text)
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        if moment.tzinfo is not UTC:
            moment = moment.astimezone(UTC)
    except (ValueError, OverflowError):  # no ISO text; or an offset moved it past year 1 or 9999
        return None
    return moment


def _from_int(number: int) -> datetime | None:
    # Exact integer arithmetic: nanosecond epochs do not fit a float's 53 bits.
    size = abs(number)
    if size < MILLIS_FROM:
        micros = number * 1_000_000
    elif size < MICROS_FROM:
        micros = number * 1000
    elif size < NANOS_FROM:
        micros = number
    else:
        micros = number // 1000
    try:
        return EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        return None


def _from_float(number: float) -> datetime | None:
    if not math.isfinite(number):
        return None
    size = abs(number)
    if size >= NANOS_FROM:
        number /= 1e9
    elif size >= MICROS_FROM:
        number /= 1e6
    elif size >= MILLIS_FROM:
        number /= 1e3
    try:
        return EPOCH + timedelta(seconds=number)
    except OverflowError:
        return None


def seconds(value: object) -> float | None:
    """Epoch seconds of a JSON value (the instant :func:`parse` reads), or None."""
    moment = parse(value)
    return None if moment is None else (moment - EPOCH).total_seconds()


def format_utc(moment: datetime) -> str:
    """The canonical text: UTC, ``Z``, milliseconds unless the time has finer digits."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    spec = "milliseconds" if moment.microsecond % 1000 == 0 else "microseconds"
    return moment.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def format_seconds(value: float) -> str:
    """The canonical text of epoch seconds, for times the daemon computes (window ends, alerts).

    Clamped to the years 1 to 9999: a window that would end past 9999-12-31 (only an event dated
    there can open one) is written as ending at the last second of that year, never an exception.
    """
    if not value >= MIN_SECONDS:  # also NaN
        value = MIN_SECONDS
    elif value > MAX_SECONDS:
        value = MAX_SECONDS
    return format_utc(EPOCH + timedelta(seconds=value))


def canonical(value: object) -> str | None:
    """The ``@timestamp`` text of a JSON value: canonical text as it is, else :func:`format_utc`."""
    if type(value) is str and looks_canonical(value):
        try:
            _fromisoformat(value)
        except ValueError:
            return None
        return value
    moment = parse(value)
    return None if moment is None else format_utc(moment)


def of_event(event: Mapping[str, Any]) -> datetime | None:
    """The event's own time: the first of :data:`EVENT_TIME_FIELDS` that parses, or None."""
    for field in EVENT_TIME_FIELDS:
        value = event.get(field)
        if value is not None:
            moment = parse(value)
            if moment is not None:
                return moment
    return None


def event_seconds(event: Mapping[str, Any]) -> float | None:
    """:func:`of_event` in epoch seconds."""
    moment = of_event(event)
    return None if moment is None else (moment - EPOCH).total_seconds()


def ingested(event: Mapping[str, Any]) -> datetime | None:
    """When the daemon read the event (its metadata's ``ingested_at``), or None."""
    meta = event.get(META_KEY)
    return parse(meta.get("ingested_at")) if type(meta) is dict else None
