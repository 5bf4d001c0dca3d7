"""Durations ("500ms", "10s", "1h") and byte sizes ("64KiB", "100MB") as config field types."""

from __future__ import annotations

import re
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


def parse_duration(value: Any) -> float:
    """Seconds from a number (seconds) or a string such as "250ms", "10s", "5m", "1h", "7d"."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as '10s', not a boolean")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"invalid duration {value!r}: use a number with ms, s, m, h or d")
        seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    else:
        raise ValueError(f"expected a duration such as '10s', got {type(value).__name__}")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
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
            raise ValueError(f"invalid size {value!r}: use a number with B, KB, KiB, MB, MiB, GB or GiB")
        size = int(float(match.group(1)) * _SIZE_UNITS[unit])
    else:
        raise ValueError(f"expected a size such as '100MB', got {type(value).__name__}")
    if size < 0:
        raise ValueError("a size cannot be negative")
    return size


Duration = Annotated[float, BeforeValidator(parse_duration), PlainSerializer(lambda v: f"{v}s")]
"""Seconds, written in config as "500ms", "10s", "5m", "1h" or a number of seconds."""

ByteSize = Annotated[int, BeforeValidator(parse_size)]
"""Bytes, written in config as "64KiB", "100MB" or an integer."""
