"""Dotted field paths (``extra_data.temperature``) into nested event dicts.

Each path is turned once, at build time, into a small function, so the hot path does one or two
dict lookups per event and never splits strings. A path without dots is a plain key; a dotted path
walks nested objects and, when that fails, falls back to a flat key spelt with dots (logs written
as ``{"http.status": 200}``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from logflume.events import Event


class _Missing:
    """The value of a field that is absent (distinct from a JSON ``null``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final[Any] = _Missing()

Getter = Callable[[Event], Any]


def check_path(path: str) -> str:
    """Reject paths with empty segments (``a..b``, ``.a``); returns the path unchanged."""
    if not path or any(not part for part in path.split(".")):
        raise ValueError(f"invalid field path {path!r}: segments separated by '.' cannot be empty")
    return path


def make_getter(path: str) -> Getter:
    """A function returning the value at ``path`` in an event, or :data:`MISSING`."""
    parts = tuple(path.split("."))
    if len(parts) == 1:
        key = parts[0]

        def get_key(event: Event) -> Any:
            return event.get(key, MISSING)

        return get_key

    def get_nested(event: Event) -> Any:
        node: Any = event
        for part in parts:
            if type(node) is not dict:
                return event.get(path, MISSING)
            node = node.get(part, MISSING)
            if node is MISSING:
                return event.get(path, MISSING)
        return node

    return get_nested


def make_popper(path: str) -> Getter:
    """A function removing the value at ``path`` from an event and returning it (or MISSING)."""
    parts = path.split(".")
    if len(parts) == 1:
        key = parts[0]

        def pop_key(event: Event) -> Any:
            return event.pop(key, MISSING)

        return pop_key

    parents, last = parts[:-1], parts[-1]

    def pop_nested(event: Event) -> Any:
        node: Any = event
        for part in parents:
            node = node.get(part) if type(node) is dict else None
        if type(node) is dict and last in node:
            return node.pop(last)
        return event.pop(path, MISSING)

    return pop_nested


def make_setter(path: str) -> Callable[[Event, Any], bool]:
    """A function setting ``path`` in an event, creating missing parent objects.

    Returns False (and changes nothing) when a parent exists but is not an object: an enrichment
    must never destroy a field the log already had.
    """
    parts = path.split(".")
    if len(parts) == 1:
        key = parts[0]

        def set_key(event: Event, value: Any) -> bool:
            event[key] = value
            return True

        return set_key

    parents, last = parts[:-1], parts[-1]

    def set_nested(event: Event, value: Any) -> bool:
        node: Any = event
        for part in parents:
            child = node.get(part, MISSING)
            if child is MISSING:
                child = node[part] = {}
            elif type(child) is not dict:
                return False
            node = child
        node[last] = value
        return True

    return set_nested
