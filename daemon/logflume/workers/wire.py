"""Messages between the daemon and a worker process, over the worker's stdin and stdout pipes.

A frame is a 12-byte header (the lengths of the two parts, little endian), a pickled message (a
tuple whose first item names its kind) and raw data: a chunk's bytes on the way in, the events'
JSON lines (and the sinks' encodings of them) on the way back. Bulk bytes are never pickled:
pickling would copy them once more.

    daemon → worker   ("setup", LogSettings, PipelineConfig, [ParseSettings], (ring fd, size),
                       (result ring fd, size))
                                                      reply: ("ready", pid)
                      ("stages", PipelineConfig)      after a reload
                      ("source", ParseSettings)       a new or changed source
                      ("levels", {logger: level})     the daemon's log levels changed
                      ("chunk", seq, ChunkWork, region)   the chunk's bytes in the shared ring
                                                      (:mod:`.ring`), or after the frame (None)
    worker → daemon   ("ready", pid) or ("failed", reason)
                      ("result", seq, ChunkResult, [block sizes], region)   the blocks' bytes
                                                      end to end in the worker's result ring, or
                                                      after the frame (region None)

Both ends are this project's own processes started from the same installation, so pickle is
safe here (nothing else can write to these pipes).
"""

from __future__ import annotations

import os
import pickle
import struct
from dataclasses import dataclass
from typing import Any, BinaryIO

from logflume.lines import Data, Encoded, Lines
from logflume.pipeline.job import ChunkResult
from logflume.workers.ring import Ring

HEADER = struct.Struct("<IQ")
PROTOCOL = pickle.HIGHEST_PROTOCOL


@dataclass(frozen=True, slots=True)
class LogSettings:
    """The daemon's own log settings, for a worker to log the same way (to the same stderr)."""

    level: str
    format: str
    levels: dict[str, str]


def frame(message: tuple[Any, ...], data: list[Data] | None = None) -> list[Data]:
    """The parts of one frame, to be written in order (``os.writev`` or a transport)."""
    meta = pickle.dumps(message, PROTOCOL)
    parts = data or []
    return [HEADER.pack(len(meta), sum(map(len, parts))), meta, *parts]


def _holders(result: ChunkResult) -> list[Lines | Encoded]:
    """What holds the result's bytes, in one fixed order: each block, then its encodings by key."""
    holders: list[Lines | Encoded] = []
    for block in result.blocks():
        holders.append(block)
        if block.encoded:
            holders.extend(block.encoded[key] for key in sorted(block.encoded))
    return holders


def result_frame(seq: int, result: ChunkResult, ring: Ring | None = None) -> list[Data]:
    """A result's frame: its blocks' bytes (and their encodings') go into ``ring`` when they fit,
    else travel as raw data after the frame (the blocks are emptied either way)."""
    holders = _holders(result)
    data = [holder.data for holder in holders]
    for holder in holders:
        holder.data = b""
    region = ring.put_all(data) if ring is not None and data else None
    sizes = [len(part) for part in data]
    return frame(("result", seq, result, sizes, region), [] if region is not None else data)


def split(sizes: list[int], data: Data) -> list[Data]:
    """The parts of a frame's raw data (of ``sizes``, end to end)."""
    if len(sizes) == 1:
        return [data]
    parts = []
    offset = 0
    for size in sizes:
        parts.append(data[offset : offset + size])
        offset += size
    return parts


def restore(result: ChunkResult, parts: list[Data]) -> ChunkResult:
    """Give a received result's blocks (and their encodings) their bytes back."""
    for holder, part in zip(_holders(result), parts, strict=True):
        holder.data = part
    return result


# -- the worker's (blocking) side --------------------------------------------------------------


def read_frame(stream: BinaryIO) -> tuple[tuple[Any, ...], bytes] | None:
    """The next frame from a blocking stream; None at the end of the stream."""
    head = stream.read(HEADER.size)
    if len(head) < HEADER.size:
        return None
    meta_size, data_size = HEADER.unpack(head)
    meta = stream.read(meta_size)
    data = stream.read(data_size) if data_size else b""
    if len(meta) < meta_size or len(data) < data_size:
        return None
    message: tuple[Any, ...] = pickle.loads(meta)
    return message, data


def write_frame(fd: int, parts: list[Data]) -> None:
    """Write every part to a blocking file descriptor (retrying short writes)."""
    views = [memoryview(part) for part in parts if part]
    while views:
        written = os.writev(fd, views)
        while views and written >= len(views[0]):
            written -= len(views[0])
            views.pop(0)
        if written:
            views[0] = views[0][written:]
