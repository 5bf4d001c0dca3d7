"""A batch → gzip NDJSON objects: one source per object, at most ``max_bytes`` uncompressed each.

A source's events over the cap are split into equal parts rather than full objects and a small
tail, so a batch just over the cap does not leave a tiny object behind.

CPU-bound (JSON encoding and gzip); the sink runs it in a worker thread, where zlib releases
the GIL. gzip's header time is fixed at 0 so the same events always give the same bytes.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass

import orjson

from logflume.events import Event
from logflume.sinks.s3.keys import source_of

_OPTS = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS


@dataclass(slots=True)
class EncodedObject:
    source: str
    events: list[Event]
    body: bytes  # gzip-compressed NDJSON
    size: int  # uncompressed bytes


def _line(event: Event) -> bytes:
    try:
        return orjson.dumps(event, option=_OPTS)
    except TypeError:
        pass
    # The slow path, for what orjson refuses: integers beyond 64 bits stay numbers, lone
    # surrogates become "?", unknown types become strings. Raises if even that fails (NaN
    # next to a big integer, nesting deeper than the recursion limit).
    text = json.dumps(event, ensure_ascii=False, separators=(",", ":"), default=str, allow_nan=False)
    return text.encode("utf-8", "replace") + b"\n"


def encode_objects(
    events: list[Event], max_bytes: int, level: int
) -> tuple[list[EncodedObject], list[tuple[Event, str]]]:
    """Objects for ``events``, and the events that cannot be encoded as JSON at all."""
    rejected: list[tuple[Event, str]] = []
    by_source: dict[str, list[tuple[Event, bytes]]] = {}
    for event in events:
        try:
            line = _line(event)
        except (TypeError, ValueError, RecursionError) as exc:
            rejected.append((event, f"cannot encode event as JSON: {exc}"))
            continue
        source = source_of(event)
        group = by_source.get(source)
        if group is None:
            by_source[source] = group = []
        group.append((event, line))
    objects: list[EncodedObject] = []
    for source, group in by_source.items():
        total = sum(len(line) for _, line in group)
        parts = -(-total // max_bytes)  # ceiling
        target = -(-total // parts)
        lines: list[bytes] = []
        members: list[Event] = []
        size = done = cuts = 0  # bytes in this object, bytes before it, objects cut so far
        for event, line in group:
            # Cut where the running total crosses the next equal share, or at the hard cap.
            if lines and (done + size >= target * (cuts + 1) or size + len(line) > max_bytes):
                objects.append(_finish(source, members, lines, size, level))
                lines, members, done, size, cuts = [], [], done + size, 0, cuts + 1
            lines.append(line)
            members.append(event)
            size += len(line)
        if lines:
            objects.append(_finish(source, members, lines, size, level))
    return objects, rejected


def _finish(source: str, events: list[Event], lines: list[bytes], size: int, level: int) -> EncodedObject:
    body = gzip.compress(b"".join(lines), compresslevel=level, mtime=0)
    return EncodedObject(source, events, body, size)
