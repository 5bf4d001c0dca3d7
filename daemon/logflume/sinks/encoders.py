"""The sinks' block encoders, by key: what a worker makes of each block for a sink besides its
JSON lines (see :class:`logflume.lines.Encoded`).

The daemon names the encodings its sinks take in every chunk it hands out (``ChunkWork.encodings``);
whoever runs the job builds them here. A key this installation does not know gives None, and the
sink then encodes the block itself.
"""

from __future__ import annotations

from logflume.lines import BlockEncoder
from logflume.sinks.elasticsearch.bulk import ENCODING, BulkEncoder
from logflume.sinks.elasticsearch.naming import IndexNamer
from logflume.sinks.postgres import copy


def make_encoder(key: str) -> BlockEncoder | None:
    """The encoder named ``key``, or None."""
    if key.startswith(ENCODING):
        return BulkEncoder(IndexNamer(key[len(ENCODING) :]))
    if key.startswith(copy.ENCODING):
        past, _, future = key[len(copy.ENCODING) :].partition(":")
        return copy.CopyEncoder(int(past), int(future))
    return None
