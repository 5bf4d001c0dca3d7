"""Which time an event is filed under: its ``@timestamp`` and the index name derived from it.

The time comes from the event's own ``@timestamp``, else its ``timestamp``, else the time it was
read (``logflume.ingested_at``), else the time of writing; the first of these that parses wins.
An event's own time is stable across replays, so a replayed event lands in the same index and
``create`` with its ``event_id`` keeps it once. Ingest time is not: an event with no parseable
time of its own that is replayed after midnight may be stored in two daily indices.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from logflume.events import META_KEY, Event

# Beyond this a number is not plausible as epoch milliseconds (year ~2286 in seconds * 1000).
_MAX_EPOCH_MS = 10**13

# What the proxy writes: UTC with a Z, which every date parser reads as it is. Such a value is
# copied to @timestamp unchanged and its index name is looked up by its leading part, which is
# most of the sink's per-event work saved.
_CANONICAL_UTC = re.compile(r"\d{4}-\d\d-\d\dT([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,9})?Z")

# Leading characters of a canonical timestamp that decide the index name, by the finest strftime
# field the template uses; templates with other fields (%j, %b, …) take the slow path.
_KEY_LENGTHS = ((frozenset("Ymd"), 10), (frozenset("YmdH"), 13), (frozenset("YmdHM"), 16))


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


def _key_length(template: str) -> int | None:
    fields = set(re.findall(r"%(.)", template.replace("%%", "")))
    for allowed, length in _KEY_LENGTHS:
        if fields <= allowed:
            return length
    return None


class IndexNamer:
    """Resolves each event's index name and, when the event has none, the ``@timestamp`` to add.

    Built once per sink; ``resolve`` runs per event on the hot path, so the common cases (a
    constant name; a canonical UTC timestamp) avoid parsing and formatting times.
    """

    def __init__(self, template: str) -> None:
        self.template = template
        self._static = "%" not in template.replace("%%", "")
        self._static_name = datetime(2000, 1, 1, tzinfo=UTC).strftime(template) if self._static else ""
        self._key_length = _key_length(template)
        self._names: dict[str, str] = {}

    def _name(self, moment: datetime) -> str:
        return self._static_name if self._static else moment.strftime(self.template)

    def _fast(self, value: Any) -> str | None:
        """The index name for a canonical UTC timestamp (None: not one, use the slow path)."""
        if not isinstance(value, str) or self._key_length is None or not _CANONICAL_UTC.fullmatch(value):
            return None
        if self._static:
            return self._static_name
        key = value[: self._key_length]
        name = self._names.get(key)
        if name is None:
            moment = parse_time(value)
            if moment is None:  # 2026-02-30: the pattern matched, the calendar did not
                return None
            if len(self._names) > 4096:
                self._names.clear()
            name = self._names[key] = moment.strftime(self.template)
        return name

    def resolve(self, event: Event, now: datetime) -> tuple[str, str | None]:
        """``(index, timestamp_to_add)``; ``timestamp_to_add`` is None when the event has its own."""
        own = event.get("@timestamp")
        if own is not None:
            name = self._fast(own)
            if name is not None:
                return name, None
            moment = parse_time(own)
            if moment is not None:
                return self._name(moment), None
        stamp = event.get("timestamp")
        name = self._fast(stamp)
        if name is not None:
            return name, None if own is not None else stamp
        moment = parse_time(stamp)
        if moment is None:
            meta = event.get(META_KEY)
            moment = parse_time(meta.get("ingested_at")) if isinstance(meta, dict) else None
            if moment is None:
                moment = now
        # An own @timestamp that does not parse is left for the node to judge (and refuse).
        return self._name(moment), None if own is not None else format_time(moment)
