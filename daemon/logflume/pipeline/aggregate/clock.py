"""Event time for the windowed stages: reading an event's time, and the watermark that decides
when windows close.

Times are read by :mod:`logflume.eventtime` (the one parser of the daemon), in epoch seconds:
``parse_time`` reads one value, ``event_time`` an event (``@timestamp``, else ``timestamp``), and
``iso`` writes the times the stages compute (window bounds, alert times).
"""

from __future__ import annotations

from logflume.eventtime import event_seconds as event_time
from logflume.eventtime import format_seconds as iso
from logflume.eventtime import seconds as parse_time

__all__ = ["Watermark", "event_time", "iso", "parse_time"]


class Watermark:
    """How far event time has surely progressed: windows ending before it may close.

    The watermark trails the newest event time by ``lateness``. When no newer event time arrives
    for ``idle_after`` wall-clock seconds, event time is assumed to go on at wall-clock pace from
    the newest event seen, so the last window of a stream that went quiet still closes; a replay of
    old files works the same, since only elapsed wall time is used, never the wall time itself.
    """

    __slots__ = ("idle_after", "lateness", "max_time", "progress_wall", "value")

    def __init__(self, lateness: float, idle_after: float | None) -> None:
        self.lateness = lateness
        self.idle_after = idle_after
        self.max_time: float | None = None
        self.progress_wall = 0.0
        self.value = float("-inf")

    def observe(self, newest: float, now: float) -> None:
        """Record the newest event time of a batch, seen at wall-clock ``now``."""
        if self.max_time is None or newest > self.max_time:
            self.max_time = newest
            self.progress_wall = now

    def advance(self, now: float) -> float:
        """The watermark at wall-clock ``now``; it never moves back."""
        if self.max_time is None:
            return self.value
        mark = self.max_time - self.lateness
        quiet = now - self.progress_wall
        if self.idle_after is not None and quiet >= self.idle_after:
            mark = self.max_time + quiet - self.lateness
        if mark > self.value:
            self.value = mark
        return self.value
