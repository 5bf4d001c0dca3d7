"""Which time an event is filed under: its ``@timestamp`` and the index name derived from it.

The time is the event's own (:func:`logflume.eventtime.of_event`: ``@timestamp``, else
``timestamp``, read by the daemon's one time parser), else the time it was read
(``logflume.ingested_at``), else the time of writing. The document's ``@timestamp`` is always that
same instant in canonical form, so the node stores the time the index was named by: an own
``@timestamp`` in any other form (an epoch number, which the node would read as milliseconds, an
offset, or text that is no time at all) is replaced in the document sent. An event's own time is
stable across replays, so a replayed event lands in the same index and ``create`` with its
``event_id`` keeps it once. Ingest time is not: an event with no time of its own that is replayed
after midnight may be stored in two daily indices.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from logflume import eventtime
from logflume.events import Event

# Leading characters of a canonical timestamp that decide the index name, by the finest strftime
# field the template uses; templates with other fields (%j, %b, …) take the slow path.
_KEY_LENGTHS = ((frozenset("Ymd"), 10), (frozenset("YmdH"), 13), (frozenset("YmdHM"), 16))


def _key_length(template: str) -> int | None:
    fields = set(re.findall(r"%(.)", template.replace("%%", "")))
    for allowed, length in _KEY_LENGTHS:
        if fields <= allowed:
            return length
    return None


class IndexNamer:
    """Resolves each event's index name and, unless the event's own is right, the ``@timestamp`` to write.

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
        if type(value) is not str or self._key_length is None or not eventtime.looks_canonical(value):
            return None
        if self._static:
            return self._static_name
        key = value[: self._key_length]
        name = self._names.get(key)
        if name is None:
            moment = eventtime.parse(value)
            if moment is None:  # 2026-02-30: the layout is right, the calendar is not
                return None
            if len(self._names) > 4096:
                self._names.clear()
            name = self._names[key] = moment.strftime(self.template)
        return name

    def resolve(self, event: Event, now: datetime) -> tuple[str, str | None]:
        """``(index, timestamp)``: ``timestamp`` is the ``@timestamp`` to write into the document
        (set or replaced), None when the event's own is already the right one."""
        own = event.get("@timestamp")
        if own is not None:
            name = self._fast(own)
            if name is not None:
                return name, None
        else:
            stamp = event.get("timestamp")
            name = self._fast(stamp)
            if name is not None:
                return name, stamp
        moment = eventtime.of_event(event) or eventtime.ingested(event) or now
        return self._name(moment), eventtime.format_utc(moment)
