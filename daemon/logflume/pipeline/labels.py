"""Group values: what an event's field becomes as a window's group key or a rule's subject.

Dimensions and subjects end up in metric and alert events, their ids and messages, and every sink
must be able to write them. An event may carry anything (integers past 64 bits, NaN, lists nested
hundreds deep, lone surrogates from paths other than JSON), so values are made safe once, here:
JSON scalars stay as they are, anything else becomes short text.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

GroupValue = str | int | float | bool | None
_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def group_value(value: Any) -> GroupValue:
    """``value`` as a hashable, printable, JSON-writable group value."""
    if isinstance(value, str):
        if value.isascii():
            return value
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates
            return value.encode("utf-8", "replace").decode("utf-8")
        return value
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        # Past 64 bits orjson cannot write it (and past 4300 digits str() refuses it).
        return value if -(2**63) <= value < 2**64 else "<int>"
    if isinstance(value, float):
        # NaN is not even equal to itself: as a key, every NaN would be a group of its own.
        return value if math.isfinite(value) else str(value)
    return text(value)


def text(value: Any) -> str:
    """A list or object as a group value: its JSON, or its type when even that cannot be written."""
    try:
        return orjson.dumps(value, default=str, option=_OPTIONS).decode()
    except TypeError:  # nested deeper than orjson writes, or an integer beyond 64 bits inside
        return f"<{type(value).__name__}>"
