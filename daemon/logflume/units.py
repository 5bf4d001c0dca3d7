"""Durations ("500ms", "10s", "1h") and byte sizes ("64KiB", "100MB") as config field types.

Both are bounded: a value no run could use (a size past 1 PiB, a duration past ten years, 400
digits, ``.inf``) is a validation error at its key path, never an OverflowError at start-up.
Fields that size memory (line, batch, buffer lengths) set their own, lower bounds.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "kib": 1024,
    "ki": 1024,
    "m": 1000**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "mi": 1024**2,
    "g": 1000**3,
    "gb": 1000**3,
    "gib": 1024**3,
    "gi": 1024**3,
    "t": 1000**4,
    "tb": 1000**4,
    "tib": 1024**4,
    "ti": 1024**4,
}
# Far beyond any sensible setting, far below what breaks a timer or a file offset.
MAX_SIZE = 1024**5  # 1 PiB
MAX_DURATION = 10 * 365 * 86400.0  # ten years, in seconds
# More digits than this before the point cannot be a real setting (and 400 would overflow a float).
_MAX_DIGITS = 20


def parse_duration(value: Any) -> float:
    """Seconds from a number (seconds) or a string such as "250ms", "10s", "5m", "1h", "7d"."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as '10s', not a boolean")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"invalid duration {_short(value)}: use a number with ms, s, m, h or d")
        _check_digits(match.group(1), "duration")
        seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    else:
        raise ValueError(f"expected a duration such as '10s', got {type(value).__name__}")
    if math.isnan(seconds):
        raise ValueError("a duration must be a number of seconds, not NaN")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    if seconds > MAX_DURATION:
        raise ValueError("a duration cannot be longer than ten years (3650d)")
    return seconds


def parse_size(value: Any) -> int:
    """Bytes from an integer or a string such as "512KiB", "100MB", "1GiB"."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as '100MB', not a boolean")
    if isinstance(value, int):
        size = value
    elif isinstance(value, str):
        match = _SIZE.match(value)
        unit = (match.group(2) or "").lower() if match else None
        if not match or unit not in _SIZE_UNITS:
            raise ValueError(
                f"invalid size {_short(value)}: use a number with B, KB, KiB, MB, MiB, GB or GiB"
            )
        _check_digits(match.group(1), "size")
        # Decimal, not float: exact for "1.5GiB", and no float overflow to convert.
        size = int(Decimal(match.group(1)) * _SIZE_UNITS[unit])
    else:
        raise ValueError(f"expected a size such as '100MB', got {type(value).__name__}")
    if size < 0:
        raise ValueError("a size cannot be negative")
    if size > MAX_SIZE:
        raise ValueError("a size cannot be larger than 1 PiB")
    return size


def _check_digits(number: str, what: str) -> None:
    if len(number.partition(".")[0]) > _MAX_DIGITS:
        raise ValueError(f"a {what} with more than {_MAX_DIGITS} digits cannot be a real setting")


def _short(value: str) -> str:
    """A value quoted for an error message, cut if it is long (a hostile config can be)."""
    return repr(value) if len(value) <= 40 else repr(value[:40]) + "…"


Duration = Annotated[float, BeforeValidator(parse_duration), PlainSerializer(lambda v: f"{v}s")]
"""Seconds, written in config as "500ms", "10s", "5m", "1h" or a number of seconds."""

ByteSize = Annotated[int, BeforeValidator(parse_size)]
"""Bytes, written in config as "64KiB", "100MB" or an integer."""
