"""Event time: reading an event's timestamp, and the watermark that decides when windows close.

Timestamps are ``@timestamp``, else ``timestamp``: ISO 8601 text or epoch seconds/milliseconds.
Parsing ISO text is the costly part, and a stream's timestamps share their minute for thousands of
events, so the epoch of each ``YYYY-MM-DDTHH:MM`` prefix is cached and only the seconds are parsed.
"""

from __future__ import annotations

from datetime import UTC, datetime

from logflume.events import Event

_CACHE_LIMIT = 4096
# Epoch seconds above this are taken as milliseconds (year 2286 in seconds).
_MILLIS_ABOVE = 1e10
_minutes: dict[str, float] = {}


def _parse_slow(text: str) -> float | None:
    try:
        moment = datetime.fromisoformat(text.replace(" ", "T", 1))
    except ValueError:
        return None
    if moment.tzinfo is None:
        # No zone: the proxy writes UTC.
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def parse_time(value: object) -> float | None:
    """Epoch seconds from ISO 8601 text or an epoch number; None when it is neither."""
    kind = type(value)
    if kind is str:
        text: str = value  # type: ignore[assignment]
        # Fast path for "YYYY-MM-DDTHH:MM:SS[.fff][Z|+00:00]", the proxy's own UTC format.
        if len(text) >= 19 and text[16] == ":" and text[13] == ":":
            tail = text[19:]
            if tail.endswith("Z"):
                tail = tail[:-1]
            elif tail.endswith("+00:00"):
                tail = tail[:-6]
            if tail == "" or (tail[0] == "." and tail[1:].isdigit()):
                prefix = text[:16]
                base = _minutes.get(prefix)
                if base is None:
                    base = _parse_slow(prefix + ":00")
                    if base is None:
                        return None
                    if len(_minutes) >= _CACHE_LIMIT:
                        _minutes.clear()
                    _minutes[prefix] = base
                seconds = text[17:19]
                if seconds.isdigit():
                    return base + float(seconds + tail)
        return _parse_slow(text)
    if kind is int or kind is float:
        number = float(value)  # type: ignore[arg-type]
        return number / 1000.0 if number > _MILLIS_ABOVE else number
    return None


def event_time(event: Event) -> float | None:
    """The event's own time (``@timestamp``, else ``timestamp``) in epoch seconds, or None."""
    value = event.get("@timestamp")
    if value is None:
        value = event.get("timestamp")
        if value is None:
            return None
    return parse_time(value)


def iso(seconds: float) -> str:
    """UTC ISO 8601 with milliseconds and a Z, the form every event the daemon makes uses."""
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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
