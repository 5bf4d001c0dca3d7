"""JSON text of any value, never an exception: for failure paths (dead letters, and events a sink
could not encode the fast way).

orjson refuses integers beyond 64 bits, lone surrogates and nesting deeper than 255 levels (it
reads 1024), and the standard library's encoder recursion deeper than about 1000. This writer
takes anything: integers beyond 64 bits as text (orjson, which reads what the daemon wrote, reads
no number past a float's range), NaN and infinities as ``null``, lone surrogates as U+FFFD, other
types as their ``str()``, any depth (it keeps its own stack). It is slow, and only runs once the
fast encoder has failed.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS


def dumps(value: Any) -> bytes:
    """UTF-8 JSON of ``value``: orjson's when it can, else this module's writer."""
    try:
        return orjson.dumps(value, default=str, option=_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError
        return write(value).encode("utf-8")


def write(root: Any) -> str:
    """The JSON text of ``root``, built with an explicit stack (no recursion)."""
    parts: list[str] = []
    # (True, text) is written as it is; (False, value) is a value still to write.
    stack: list[tuple[bool, Any]] = [(False, root)]
    while stack:
        verbatim, item = stack.pop()
        if verbatim:
            parts.append(item)
        elif isinstance(item, dict):
            stack.append((True, "}"))
            entries = list(item.items())
            for index in range(len(entries) - 1, -1, -1):
                key, value = entries[index]
                stack.append((False, value))
                stack.append((True, _string(key if isinstance(key, str) else _text(key)) + ":"))
                if index:
                    stack.append((True, ","))
            stack.append((True, "{"))
        elif isinstance(item, list | tuple):
            stack.append((True, "]"))
            for index in range(len(item) - 1, -1, -1):
                stack.append((False, item[index]))
                if index:
                    stack.append((True, ","))
            stack.append((True, "["))
        else:
            parts.append(_scalar(item))
    return "".join(parts)


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        if -(2**63) <= value < 2**64:
            return str(int(value))
        try:  # as text: orjson reads no number past a float's range, and readers must read it
            return f'"{int(value)}"'
        except ValueError:  # more digits than int→str converts
            return '"<integer too large>"'
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else "null"
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, bytes | bytearray):
        return _string(bytes(value).decode("utf-8", "replace"))
    return _string(_text(value))


def _text(value: Any) -> str:
    try:
        return str(value)
    except Exception:  # a hostile __str__ (or a recursion) must not stop the writer
        return f"<{type(value).__name__}>"


def _string(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return json.dumps(text, ensure_ascii=False)
