"""``--since`` / ``--until`` values: a duration back from now (``1h``, ``30m``, ``2d``) or a time."""

from __future__ import annotations

from datetime import datetime, timedelta

from logflume import eventtime
from logflume.errors import AnalysisError
from logflume.units import parse_duration


def parse_time(text: str, now: datetime) -> datetime:
    """An aware UTC datetime from ``text``; relative values count back from ``now``.

    Anything else is read like an event's time (:func:`logflume.eventtime.parse`): ISO 8601
    without an offset is UTC, the zone the proxy writes its timestamps in.
    """
    value = text.strip()
    if value == "now":
        return now
    try:
        seconds = parse_duration(value)
    except ValueError:
        pass
    else:
        return now - timedelta(seconds=seconds)
    moment = eventtime.parse(value)
    if moment is None:
        raise AnalysisError(
            f"invalid time {text!r}: use a duration back from now (30m, 1h, 2d) or an ISO time "
            "(2024-01-15T10:30:00Z) between the years 1 and 9999"
        )
    return moment
