"""Blocks of lines as a worker process hands them to a sink: with the sink's own encoding made
beside them (``lines.Encoded``), by the encoder the daemon's workers use."""

from __future__ import annotations

import time

from logflume.events import Event
from logflume.lines import Lines
from logflume.sinks.encoders import make_encoder


def worker_blocks(encoding: str, events: list[Event], size: int) -> list[Lines]:
    """``events`` in blocks of ``size``, each with the ``encoding`` where its encoder makes one."""
    encoder = make_encoder(encoding)
    assert encoder is not None
    blocks = []
    for start in range(0, len(events), size):
        part = events[start : start + size]
        block = Lines.of("proxy", part)
        made = encoder(part, block, time.time())
        block.encoded = {encoding: made} if made is not None else None
        blocks.append(block)
    return blocks
