"""``--since`` / ``--until`` values: a duration back from now (``1h``, ``30m``, ``2d``) or an ISO time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from logflume.errors import AnalysisError
from logflume.units import parse_duration


def parse_time(text: str, now: datetime) -> datetime:
    """An aware UTC datetime from ``text``; relative values count back from ``now``.

    ISO times without an offset are taken as UTC, the zone the proxy writes its timestamps in.
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
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise AnalysisError(
            f"invalid time {text!r}: use a duration back from now (30m, 1h, 2d) or an ISO time "
            "(2024-01-15T10:30:00Z)"
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
