"""What the source knows about each file identity, and the ordered acknowledgements per file."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from logflume.events import Ack


@dataclass
class SourceStats:
    """What one source counts while reading (gauges: ``files_open``; the rest only grow)."""

    files_open: int = 0
    files_finished: int = 0
    bytes_read: int = 0  # of the lines handed on (including lines cut at max_line_bytes)
    chunks: int = 0
    lines_too_long: int = 0  # cut at max_line_bytes and dead-lettered
    open_errors: int = 0  # attempts to read a matching file that failed (permissions, I/O)


@dataclass
class FileState:
    """One file identity (fingerprint), wherever it is now and however far it was read."""

    fingerprint: str
    path: str
    dev: int
    ino: int
    read_offset: int  # next byte to hand to the pipeline
    acked_offset: int  # everything before this is durably accepted by every sink
    active: bool = False  # a reader task follows it now
    truncated: bool = False  # copytruncate seen: the inode now holds another identity
    compressed: bool = False  # followed as a .gz (offsets count decompressed bytes)
    pending: deque[Ack] = field(default_factory=deque)
    updated: float = 0.0

    def complete(self, ack: Ack) -> bool:
        """Record a completed ack; advance the acked offset over the completed prefix.

        Returns True when the acked offset moved.
        """
        moved = False
        pending = self.pending
        while pending and pending[0].complete:
            self.acked_offset = pending.popleft().end_offset
            moved = True
        return moved
