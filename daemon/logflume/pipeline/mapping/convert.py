"""Conversions of the mapping language: a value as a source logs it → the canonical type.

Each converter takes a present, non-null value and returns the converted value, or raises
:class:`~logflume.errors.MappingError` saying what it could not read (the parser turns that into
a dead letter). Nothing is guessed: a value that is not what the rule says is an error.

Timestamps come out as ISO 8601 in UTC with ``Z``; durations as milliseconds (float).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal

from logflume import eventtime
from logflume.errors import MappingError
from logflume.eventtime import format_utc

Unit = Literal["s", "ms", "us", "µs", "ns"]
# Per unit: (multiply by, divide by) to get milliseconds. Dividing for the small units keeps
# 30002345678 ns exactly 30002.345678 ms (multiplying by 1e-6 would round it).
_TO_MS: dict[str, tuple[float, float]] = {
    "h": (3_600_000.0, 1.0), "m": (60_000.0, 1.0), "s": (1000.0, 1.0), "ms": (1.0, 1.0),
    "us": (1.0, 1e3), "µs": (1.0, 1e3), "μs": (1.0, 1e3), "ns": (1.0, 1e6),
}  # fmt: skip
# Go's time.Duration.String() and Caddy's `duration_format string`: 1h2m3.5s, 6.31ms, 120µs.
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_CLF = "%d/%b/%Y:%H:%M:%S %z"  # nginx $time_local, Apache, Caddy's common_log time format
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})
_LEVEL_BY_CLASS = {5: "ERROR", 4: "WARNING"}


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _fail(value: Any, what: str) -> MappingError:
    return MappingError(f"cannot read {_describe(value)} as {what}")


def in_ms(number: float, unit: str) -> float:
    """``number`` of ``unit`` in milliseconds."""
    times, per = _TO_MS[unit]
    return number * times / per


def number_text(text: str) -> float | None:
    """The finite number a string spells (``"12"``, ``" 0.5 "``, ``"1e3"``), or None."""
    try:
        number = float(text)
    except ValueError:
        return None
    # float() also takes "nan", "inf" and "1_000", which no log means as a number.
    if not math.isfinite(number) or "_" in text:
        return None
    return number


def to_string(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return value  # type: ignore[no-any-return]
    if kind is int or kind is float:
        return str(value)
    raise _fail(value, "a string")


def to_int(value: Any) -> int:
    kind = type(value)
    if kind is int:
        return value  # type: ignore[no-any-return]
    if kind is str:
        if value.isascii() and value.isdigit():
            return int(value)
        number = number_text(value)
        if number is not None and number.is_integer():
            return int(number)
    elif kind is float and value.is_integer():
        return int(value)
    raise _fail(value, "an integer")


def to_float(value: Any) -> float:
    kind = type(value)
    if kind is float or kind is int:
        return float(value)
    if kind is str:
        number = number_text(value)
        if number is not None:
            return number
    raise _fail(value, "a number")


def to_bool(value: Any) -> bool:
    kind = type(value)
    if kind is bool:
        return value  # type: ignore[no-any-return]
    if kind is int and value in (0, 1):
        return bool(value)
    if kind is str:
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise _fail(value, "a boolean")


def epoch_seconds(value: Any, unit: str | None) -> float:
    """Seconds since the epoch of a timestamp value (for arithmetic on times)."""
    return parse_time(value, unit).timestamp()


def to_timestamp(value: Any, unit: str | None) -> str:
    return format_utc(parse_time(value, unit))


def parse_time(value: Any, unit: str | None) -> datetime:
    """A timestamp in any common form as an aware UTC datetime.

    Without ``unit``, the daemon's one event-time rule (:mod:`logflume.eventtime`: ISO 8601 /
    RFC 3339, epoch numbers by magnitude) and then two forms that rule does not read: the access-log
    form ``10/Oct/2000:13:55:36 -0700`` and RFC 2822 (``Tue, 15 Nov 1994 08:12:31 GMT``). With a
    ``unit``, numbers (and numeric strings) are epoch time in that unit.
    """
    kind = type(value)
    if unit is not None:
        if kind is int or kind is float:
            return _from_epoch(float(value), unit, value)
        if kind is str:
            number = number_text(value.strip())
            if number is not None:
                return _from_epoch(number, unit, value)
    moment = eventtime.parse(value)
    if moment is not None:
        return moment
    if kind is not str or len(value) > eventtime.MAX_TEXT:
        raise _fail(value, "a timestamp")
    return _odd_time(value.strip(), value)


def _odd_time(text: str, value: Any) -> datetime:
    try:
        moment = datetime.strptime(text, _CLF)
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            raise _fail(value, "a timestamp") from None
    try:
        return moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    except OverflowError:  # an offset moved it past year 1 or 9999
        raise _fail(value, "a timestamp") from None


def _from_epoch(number: float, unit: str, value: Any) -> datetime:
    try:
        return datetime.fromtimestamp(in_ms(number, unit) / 1000.0, UTC)
    except (OverflowError, OSError, ValueError):
        raise _fail(value, f"a timestamp in epoch {unit}") from None


def to_duration_ms(value: Any, unit: str | None) -> float:
    """Milliseconds of a duration: a number in ``unit``, or a string with units (``1.5s``, ``6.31ms``)."""
    kind = type(value)
    if (kind is int or kind is float) and unit is not None:
        return in_ms(float(value), unit)
    if kind is str:
        text = value.strip()
        number = number_text(text)
        if number is not None and unit is not None:
            return in_ms(number, unit)
        sign = -1.0 if text.startswith("-") else 1.0
        body = text.lstrip("+-")
        parts = _DURATION_PART.findall(body)
        if parts and "".join(number + suffix for number, suffix in parts) == body:
            return sign * sum(in_ms(float(number), suffix) for number, suffix in parts)
    raise _fail(value, "a duration" + (f" in {unit}" if unit else " with a unit (1.5s, 250ms)"))


def to_path(value: Any) -> str:
    """The path of a request URI or URL: no scheme, host, query string or fragment."""
    if type(value) is not str:
        raise _fail(value, "a request path")
    text: str = value
    scheme = text.find("://")
    if scheme > 0 and "/" not in text[:scheme]:
        slash = text.find("/", scheme + 3)
        text = text[slash:] if slash >= 0 else "/"
    for mark in ("?", "#"):
        cut = text.find(mark)
        if cut >= 0:
            text = text[:cut]
    return text


def status_level(value: Any) -> str:
    """The level of an HTTP status: ERROR for 5xx, WARNING for 4xx, INFO otherwise."""
    status = to_int(value)
    if not 0 <= status <= 999:
        raise _fail(value, "an HTTP status")
    return _LEVEL_BY_CLASS.get(status // 100, "INFO")


def converter(kind: str, unit: str | None) -> Callable[[Any], Any] | None:
    """The conversion for a rule's ``type`` (None: the value is kept as read)."""
    if kind == "timestamp":
        return lambda value: to_timestamp(value, unit)
    if kind == "duration":
        return lambda value: to_duration_ms(value, unit)
    simple: dict[str, Callable[[Any], Any]] = {
        "string": to_string,
        "int": to_int,
        "float": to_float,
        "bool": to_bool,
        "path": to_path,
        "status_level": status_level,
    }
    return simple.get(kind)


def to_number(path: str, value: Any) -> int | float:
    """A field value as a number for arithmetic: numbers, numeric strings, timestamps (epoch s)."""
    kind = type(value)
    if kind is int or kind is float:
        return value  # type: ignore[no-any-return]
    if kind is str:
        number = number_text(value)
        if number is not None:
            return number
        try:
            return epoch_seconds(value, None)
        except MappingError:
            pass
    raise MappingError(f"{path}: cannot read {_describe(value)} as a number or a time")
