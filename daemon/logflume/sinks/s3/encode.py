"""A batch → gzip NDJSON objects: one source per object, at most ``max_bytes`` uncompressed each.

A source's events over the cap are split into equal parts rather than full objects and a small
tail, so a batch just over the cap does not leave a tiny object behind.

The events arrive as JSON lines (:class:`~logflume.lines.Lines`, encoded once by the pipeline), so
an object is its source's lines end to end, cut at line ends: no JSON is written here. What is
left is :func:`compress` (gzip, nearly all the CPU), which the sink runs in a thread: zlib releases
the GIL, so it runs on another core beside the pipeline. gzip's header time is 0, so the same
events always give the same bytes.
"""

from __future__ import annotations

import zlib
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

import orjson

from logflume import lines
from logflume.events import Event
from logflume.lines import Data, Lines

# zlib's window bits for a gzip wrapper (16 + 15): header with mtime 0, then a CRC32 trailer.
_GZIP_WBITS = 31


@dataclass(slots=True)
class EncodedObject:
    """One compressed object, with what its key needs: its first and last event and their count."""

    source: str
    first: Event
    last: Event
    count: int
    body: bytes  # gzip-compressed NDJSON
    size: int  # uncompressed bytes


def objects_of(blocks: list[Lines], max_bytes: int) -> list[Lines]:
    """Each source's lines (in order of first appearance) cut into objects of equal share, none
    over ``max_bytes`` (but a lone line)."""
    groups: dict[str, list[Lines]] = {}
    for block in blocks:
        groups.setdefault(block.source, []).append(block)
    objects: list[Lines] = []
    for source, parts in groups.items():
        objects.extend(_cut(lines.join(source, parts), max_bytes))
    return objects


def encode_lines(events: list[Event], max_bytes: int) -> list[Lines]:
    """The objects for ``events`` (encoded first)."""
    return objects_of(lines.encode(events), max_bytes)


def _cut(group: Lines, max_bytes: int) -> list[Lines]:
    """Split a source's lines into objects of equal share, none over ``max_bytes`` (but a lone line)."""
    ends, count = group.ends, len(group)
    if not count:
        return []
    total = ends[-1]
    if total <= max_bytes:
        return [group]
    parts = -(-total // max_bytes)  # ceiling
    target = -(-total // parts)
    objects: list[Lines] = []
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
        objects.append(group.cut(first, last + 1))
        first, start, share = last + 1, ends[last], share + 1
    return objects


def compress(obj: Lines, level: int) -> EncodedObject:
    """gzip an object's lines (releasing the GIL while it works).

    The lines are left as they are: they may be the very block the runner holds, and sends again
    if the upload fails.
    """
    data = obj.data
    first = _decoded(data, 0, data.find(b"\n") + 1)
    last = _decoded(data, data.rfind(b"\n", 0, len(data) - 1) + 1, len(data))
    body = zlib.compress(data, level, _GZIP_WBITS)
    return EncodedObject(obj.source, first, last, len(obj.ends), body, len(data))


def _decoded(data: Data, start: int, end: int) -> Event:
    try:
        event = orjson.loads(data[start:end])
    except orjson.JSONDecodeError:  # nested deeper than orjson reads: no id to name the object by
        return {}
    return event if isinstance(event, dict) else {}
