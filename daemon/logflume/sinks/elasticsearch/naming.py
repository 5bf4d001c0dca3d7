"""Which time an event is filed under: its ``@timestamp`` and the index name derived from it.

The time comes from the event's own ``@timestamp``, else its ``timestamp``, else the time it was
read (``logflume.ingested_at``), else the time of writing; the first of these that parses wins.
An event's own time is stable across replays, so a replayed event lands in the same index and
``create`` with its ``event_id`` keeps it once. Ingest time is not: an event with no parseable
time of its own that is replayed after midnight may be stored in two daily indices.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from logflume.events import META_KEY, Event

# Beyond this a number is not plausible as epoch milliseconds (year ~2286 in seconds * 1000).
_MAX_EPOCH_MS = 10**13


def parse_time(value: Any) -> datetime | None:
    """An aware UTC datetime from ISO 8601 text or epoch milliseconds; None if it is neither.

    Numbers are milliseconds because that is how the ``date`` type reads them. Text without a
    zone is taken as UTC.
    """
    try:
        if isinstance(value, str):
            parsed = datetime.fromisoformat(value)
        elif isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < _MAX_EPOCH_MS:
            return datetime.fromtimestamp(value / 1000, UTC)
        else:
            return None
    except (ValueError, OverflowError, OSError):
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_time(moment: datetime) -> str:
    """The form written to ``@timestamp``: strict ISO 8601 in UTC, which every date parser takes."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class IndexNamer:
    """Resolves each event's index name and, when the event has none, the ``@timestamp`` to add.

    Built once per sink; ``resolve`` is called per event on the hot path, so the constant-name
    case skips time formatting entirely.
    """

    def __init__(self, template: str) -> None:
        self.template = template
        self._static = "%" not in template.replace("%%", "")
        self._static_name = datetime(2000, 1, 1, tzinfo=UTC).strftime(template) if self._static else ""

    def resolve(self, event: Event, now: datetime) -> tuple[str, str | None]:
        """``(index, timestamp_to_add)``; ``timestamp_to_add`` is None when the event has its own."""
        own = event.get("@timestamp")
        moment = parse_time(own) if own is not None else None
        added: str | None = None
        if moment is None:
            moment = parse_time(event.get("timestamp"))
            if moment is None:
                meta = event.get(META_KEY)
                moment = parse_time(meta.get("ingested_at")) if isinstance(meta, dict) else None
                if moment is None:
                    moment = now
            if own is None:
                added = format_time(moment)
        if self._static:
            return self._static_name, added
        return moment.strftime(self.template), added
