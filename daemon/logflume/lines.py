"""Events as JSON lines: the form in which events travel from the pipeline to the sinks.

The pipeline (in the processor or in a worker process) encodes every event once, as one line of
JSON ending in a newline, and hands the sinks :class:`Lines`: the lines of consecutive events of
one source, end to end in one ``bytes``, with where each line ends. The file and S3 sinks write
those bytes as they are; other sinks take their own encoding made beside the lines (below). So a
worker process returns bytes, not objects (returning pickled dicts costs as much as the work it
saved, see bench/transfer.py), and the runner's memory holds ~600 bytes per event instead of a
decoded dict of ~3 KB.

A JSON string never holds a raw newline (JSON escapes it), so ``b"\\n"`` only ever separates
lines, and ``b"[" + lines joined by "," + b"]"`` is the JSON array of the events.

A block may also carry what a sink would otherwise make of its events, encoded where the events
were still objects (:attr:`Lines.encoded`, keyed by the sink's encoding: Elasticsearch ``_bulk``
items, PostgreSQL binary COPY rows): the worker builds it, so the sink in the daemon's process
joins bytes instead of decoding and encoding each event again. It follows the block through cuts
and joins; a block without it (read back from a disk buffer, made by a test) is encoded by the
sink itself.

Encoding never fails: what orjson refuses (nesting past 255 levels, integers past 64 bits, lone
surrogates) is written by :mod:`logflume.jsontext`, which takes any value.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from typing import Protocol

import orjson

from logflume import jsontext
from logflume.events import META_KEY, Event

__all__ = [
    "BlockEncoder",
    "Encoded",
    "Lines",
    "count",
    "decode",
    "encode",
    "encode_line",
    "join",
    "nbytes",
    "source_of",
    "to_json_array",
]

# No OPT_NON_STR_KEYS: it sends every object down orjson's slower path (a third more time per
# event here); the rare event with a key that is not a string (made by a stage, never parsed)
# takes the fallback, which writes it exactly as that option would.
_OPTS = orjson.OPT_APPEND_NEWLINE
# A block's bytes: bytes, or a bytearray (an encoded block, or a worker's result as read); never
# changed once the block is made.
Data = bytes | bytearray
# The source of events that carry none (made by the daemon without metadata, or by a test).
DEFAULT_SOURCE = "logflume"


def encode_line(event: Event) -> bytes:
    """One event's JSON line (ending in a newline); never raises."""
    try:
        return orjson.dumps(event, option=_OPTS)
    except TypeError:  # orjson.JSONEncodeError: a value orjson does not write
        return jsontext.dumps(event) + b"\n"


def source_of(event: Event) -> str:
    meta = event.get(META_KEY)
    if type(meta) is dict:
        source = meta.get("source")
        if type(source) is str:
            return source
    return DEFAULT_SOURCE


def _cut(data: Data, ends: array[int], start: int, stop: int) -> tuple[Data, array[int]]:
    """Items ``start`` to ``stop`` (exclusive, within bounds, start < stop) of end-to-end items."""
    if not start:  # the first items: their ends stand as they are
        return data[: ends[stop - 1]], ends[:stop]
    base = ends[start - 1]
    return data[base : ends[stop - 1]], array("q", [end - base for end in ends[start:stop]])


def _pick(data: Data, ends: array[int], indices: Sequence[int]) -> tuple[bytes, array[int]]:
    """Items ``indices`` (ascending) of end-to-end items, end to end."""
    out: list[Data] = []
    picked: array[int] = array("q")
    size = 0
    for index in indices:
        item = data[ends[index - 1] if index else 0 : ends[index]]
        out.append(item)
        size += len(item)
        picked.append(size)
    return b"".join(out), picked


def _join(parts: Sequence[tuple[Data, array[int]]]) -> tuple[bytes, array[int]]:
    ends: array[int] = array("q")
    base = 0
    for data, part_ends in parts:
        ends.extend([end + base for end in part_ends])
        base += len(data)
    return b"".join(data for data, _ in parts), ends


class Encoded:
    """A block's events as one sink encodes them: item ``i`` (event ``i``'s) ends at ``ends[i]``
    in ``data``; ``names`` are what the sink must know of the whole block (the indices a bulk body
    writes to), a superset once the block is cut."""

    __slots__ = ("data", "ends", "names")

    def __init__(self, data: Data, ends: array[int], names: frozenset[str] = frozenset()) -> None:
        self.data = data
        self.ends = ends
        self.names = names

    def __repr__(self) -> str:
        return f"Encoded({len(self.ends)} items, {len(self.data)} bytes)"


class BlockEncoder(Protocol):
    """Makes one sink's encoding of a block from its events (which the block's lines encode)."""

    @property
    def key(self) -> str:
        """The encoding's name; a sink uses blocks' ``encoded[key]`` when its own is the same."""

    def __call__(self, events: Sequence[Event], block: Lines, now: float) -> Encoded | None:
        """``events``' encoding (they are ``block``'s events, in order; ``now``: epoch seconds), or
        None to leave this block to the sink (events it encodes in a way of its own)."""


class Lines:
    """The JSON lines of consecutive events of one source: ``ends[i]`` is where event ``i``'s line
    (newline included) ends in ``data``. ``encoded`` holds sinks' encodings of the same events
    (see the module's docstring), or is None."""

    __slots__ = ("data", "encoded", "ends", "source")

    def __init__(
        self, source: str, data: Data, ends: array[int], encoded: dict[str, Encoded] | None = None
    ) -> None:
        self.source = source
        self.data = data
        self.ends = ends
        self.encoded = encoded

    @classmethod
    def of(cls, source: str, events: Iterable[Event]) -> Lines:
        """Encode ``events`` (all of ``source``) into one block: one buffer, no object per line."""
        out = bytearray()
        ends: array[int] = array("q")
        extend, end = out.extend, ends.append
        dumps = orjson.dumps
        for event in events:
            try:
                extend(dumps(event, option=_OPTS))
            except TypeError:
                extend(jsontext.dumps(event))
                extend(b"\n")
            end(len(out))
        # The bytearray itself (a block's bytes are never changed): a copy to bytes would cost
        # a whole chunk's worth of memcpy, and a worker's block is only copied to the daemon.
        return cls(source, out, ends)

    def __len__(self) -> int:
        return len(self.ends)

    def __repr__(self) -> str:
        return f"Lines({self.source!r}, {len(self)} events, {len(self.data)} bytes)"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Lines):
            return NotImplemented
        return (self.source, self.data, self.ends) == (other.source, other.data, other.ends)

    __hash__ = None  # type: ignore[assignment]  # mutable-looking value type: not hashable

    def cut(self, start: int, stop: int) -> Lines:
        """Events ``start`` to ``stop`` (exclusive) as a block of their own (copies their bytes)."""
        ends = self.ends
        stop = min(stop, len(ends))
        if start == 0 and stop == len(ends):
            return self
        if start >= stop:
            return Lines(self.source, b"", array("q"))
        encoded = None
        if self.encoded:
            encoded = {}
            for key, enc in self.encoded.items():
                encoded[key] = Encoded(*_cut(enc.data, enc.ends, start, stop), enc.names)
        return Lines(self.source, *_cut(self.data, ends, start, stop), encoded)

    def pick(self, indices: Sequence[int]) -> Lines:
        """Events ``indices`` (ascending) as a block of their own, with their encodings."""
        encoded = None
        if self.encoded:
            encoded = {}
            for key, enc in self.encoded.items():
                encoded[key] = Encoded(*_pick(enc.data, enc.ends, indices), enc.names)
        return Lines(self.source, *_pick(self.data, self.ends, indices), encoded)

    def only(self, key: str | None) -> Lines:
        """This block with no encoding but ``key``'s (the same bytes, not copied): what one sink holds."""
        encoded = self.encoded
        if not encoded or (key is not None and len(encoded) == 1 and key in encoded):
            return self
        mine = encoded.get(key) if key is not None else None
        return Lines(self.source, self.data, self.ends, {key: mine} if key is not None and mine else None)

    def nbytes(self) -> int:
        """The bytes this block holds, its encodings' included."""
        if not self.encoded:
            return len(self.data)
        return len(self.data) + sum(len(enc.data) for enc in self.encoded.values())

    def split(self, size: int) -> list[Lines]:
        """Parts of at most ``size`` events, in order."""
        if len(self) <= size:
            return [self]
        return [self.cut(index, index + size) for index in range(0, len(self), size)]

    def line(self, index: int) -> Data:
        """The line of event ``index`` (with its newline)."""
        return self.data[self.ends[index - 1] if index else 0 : self.ends[index]]

    def lines(self) -> list[Data]:
        """Every line, without its newline."""
        parts: list[Data] = list(self.data.split(b"\n"))
        parts.pop()  # after the last newline
        return parts

    def events(self) -> list[Event]:
        """The events, decoded (a new dict each)."""
        return [decode_line(line) for line in self.lines()]


def decode_line(line: Data) -> Event:
    """One line back into its event. The encoder writes nothing orjson cannot read back, but for
    nesting deeper than it reads (1024 levels, which no parsed line reaches); such a line comes
    back as its text, so that it is still delivered (and dead-lettered if need be) whole."""
    try:
        event = orjson.loads(line)
    except orjson.JSONDecodeError:
        return {"undecodable_line": line.decode("utf-8", "replace")}
    return event if isinstance(event, dict) else {"undecodable_line": line.decode("utf-8", "replace")}


def join(source: str, blocks: Sequence[Lines]) -> Lines:
    """Blocks of one source as one block (their bytes copied end to end); an encoding every block
    has is joined too, the others are left out."""
    if len(blocks) == 1:
        return blocks[0]
    encoded = None
    first = blocks[0].encoded
    if first:
        encoded = {}
        for key in first:
            parts = [block.encoded.get(key) if block.encoded else None for block in blocks]
            if all(part is not None for part in parts):
                whole = [part for part in parts if part is not None]
                names = frozenset().union(*(part.names for part in whole))
                encoded[key] = Encoded(*_join([(part.data, part.ends) for part in whole]), names)
    return Lines(source, *_join([(block.data, block.ends) for block in blocks]), encoded or None)


def encode(events: Sequence[Event]) -> list[Lines]:
    """``events`` as blocks, one per run of consecutive events of the same source."""
    if not events:
        return []
    first = source_of(events[0])
    # The common case (one chunk's events): one pass to check, one to encode.
    if first == source_of(events[-1]) and all(source_of(event) == first for event in events):
        return [Lines.of(first, events)]
    out: list[Lines] = []
    run: list[Event] = []
    current = first
    for event in events:
        source = source_of(event)
        if source != current and run:
            out.append(Lines.of(current, run))
            run = []
        current = source
        run.append(event)
    if run:
        out.append(Lines.of(current, run))
    return out


def decode(blocks: Iterable[Lines]) -> list[Event]:
    """The events of ``blocks``, in order."""
    return [event for block in blocks for event in block.events()]


def count(blocks: Iterable[Lines]) -> int:
    return sum(len(block) for block in blocks)


def nbytes(blocks: Iterable[Lines]) -> int:
    """The bytes ``blocks`` hold, their encodings' included."""
    return sum(block.nbytes() for block in blocks)


def to_json_array(blocks: Sequence[Lines]) -> bytes:
    """The JSON array of the events of ``blocks``, made from their lines without decoding them."""
    joined = b"".join(block.data for block in blocks)
    if not joined:
        return b"[]"
    return b"[" + joined[:-1].replace(b"\n", b",") + b"]"
