"""What the source knows about each file identity, and the ordered acknowledgements per file."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from logflume.events import Ack


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
