"""A batch → gzip NDJSON objects: one source per object, at most ``max_bytes`` uncompressed each.

A source's events over the cap are split into equal parts rather than full objects and a small
tail, so a batch just over the cap does not leave a tiny object behind.

Two steps, both run by the sink off the event loop: :func:`encode_lines` (JSON encoding, which
holds the GIL) and :func:`compress` (gzip, most of the CPU, which does not: zlib releases the
GIL, so it runs on another core beside the pipeline and the next batch's encoding). Each
source's lines go straight into one growing buffer, so a batch costs about its JSON size once,
not a bytes object per event plus a joined copy, and the buffer is freed as soon as it is
compressed. gzip's header time is 0, so the same events always give the same bytes.
"""

from __future__ import annotations

import json
import zlib
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

import orjson

from logflume.events import Event
from logflume.sinks.s3.keys import source_of

_OPTS = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS
# zlib's window bits for a gzip wrapper (16 + 15): header with mtime 0, then a CRC32 trailer.
_GZIP_WBITS = 31


@dataclass(slots=True)
class PlainObject:
    """One object's events and their NDJSON, not compressed yet."""

    source: str
    events: list[Event]
    data: memoryview  # NDJSON lines, a view into the source's buffer; emptied by compress()
    size: int  # uncompressed bytes


@dataclass(slots=True)
class EncodedObject:
    source: str
    events: list[Event]
    body: bytes  # gzip-compressed NDJSON
    size: int  # uncompressed bytes


class _Group:
    """One source's events with their lines end to end, and where each line ends."""

    __slots__ = ("data", "ends", "events")

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.data = bytearray()
        self.ends: list[int] = []


def _slow_line(event: Event) -> bytes:
    # For what orjson refuses: integers beyond 64 bits stay numbers, lone surrogates become "?",
    # unknown types become strings. Raises if even that fails (NaN next to a big integer,
    # nesting deeper than the recursion limit).
    text = json.dumps(event, ensure_ascii=False, separators=(",", ":"), default=str, allow_nan=False)
    return text.encode("utf-8", "replace") + b"\n"


def encode_lines(events: list[Event], max_bytes: int) -> tuple[list[PlainObject], list[tuple[Event, str]]]:
    """Uncompressed objects for ``events``, and the events that cannot be encoded as JSON at all."""
    rejected: list[tuple[Event, str]] = []
    groups: dict[str, _Group] = {}
    dumps = orjson.dumps
    for event in events:
        try:
            line = dumps(event, option=_OPTS)
        except TypeError:
            try:
                line = _slow_line(event)
            except (TypeError, ValueError, RecursionError) as exc:
                rejected.append((event, f"cannot encode event as JSON: {exc}"))
                continue
        source = source_of(event)
        group = groups.get(source)
        if group is None:
            groups[source] = group = _Group()
        group.events.append(event)
        group.data += line
        group.ends.append(len(group.data))
    objects: list[PlainObject] = []
    for source, group in groups.items():
        objects.extend(_cut(source, group, max_bytes))
    return objects, rejected


def _cut(source: str, group: _Group, max_bytes: int) -> list[PlainObject]:
    """Split a source's lines into objects of equal share, none over ``max_bytes`` (but a lone line)."""
    ends, count = group.ends, len(group.ends)
    total = ends[-1]
    parts = -(-total // max_bytes)  # ceiling
    target = -(-total // parts)
    view = memoryview(group.data)
    objects: list[PlainObject] = []
    first = start = 0  # first line and first byte of the next object
    share = 1
    while first < count:
        # The object ends with the first line reaching the next equal share, or sooner at the cap.
        last = min(
            bisect_left(ends, target * share, first),
            bisect_right(ends, start + max_bytes, first) - 1,
            count - 1,
        )
        last = max(last, first)  # a line bigger than the cap goes alone
        data = view[start : ends[last]]
        objects.append(PlainObject(source, group.events[first : last + 1], data, len(data)))
        first, start, share = last + 1, ends[last], share + 1
    return objects


def compress(obj: PlainObject, level: int) -> EncodedObject:
    """gzip an object's lines (releasing the GIL while it works), then let go of the lines.

    Letting go at once frees a source's buffer as soon as its last object is compressed, so
    only the (~10x smaller) gzip body stays in memory while the object is uploaded.
    """
    data, obj.data = obj.data, memoryview(b"")
    with data:
        body = zlib.compress(data, level, _GZIP_WBITS)
    return EncodedObject(obj.source, obj.events, body, obj.size)
