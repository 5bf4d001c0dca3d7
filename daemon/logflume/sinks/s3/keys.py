"""Object keys: the template rendered per object, with a batch id that replays reproduce.

``{batch_id}`` is a hash of the object's first and last event ids and its event count, so the
same events written again (the runner retrying, or a replay after a crash re-reading the same
lines into the same batch) overwrite the same key instead of adding a duplicate object.
"""

from __future__ import annotations

import hashlib
import time
from datetime import datetime

from logflume import eventtime
from logflume.events import META_KEY, Event


def _id(event: Event) -> str:
    meta = event.get(META_KEY)
    if type(meta) is dict and meta.get("event_id") is not None:
        return str(meta["event_id"])
    return ""


def batch_id(events: list[Event], body: bytes) -> str:
    """16 hex digits naming the object; the content decides when events carry no ids."""
    return object_id(events[0], events[-1], len(events), body)


def object_id(first_event: Event, last_event: Event, count: int, body: bytes) -> str:
    """:func:`batch_id` of an object known by its first and last event and its event count."""
    first, last = _id(first_event), _id(last_event)
    digest = hashlib.blake2b(digest_size=8)
    if first and last:
        digest.update(f"{first}\n{last}\n{count}".encode())
    else:
        digest.update(body)
    return digest.hexdigest()


def event_time(event: Event) -> datetime | None:
    """When an object is filed: its event's own time, else when the event was read, else None (the
    time of writing is used); the same instant the other sinks file the event under."""
    return eventtime.of_event(event) or eventtime.ingested(event)


def source_of(event: Event) -> str:
    meta = event.get(META_KEY)
    if type(meta) is dict and meta.get("source") is not None:
        return str(meta["source"])
    return "unknown"


class KeyRenderer:
    def __init__(self, template: str, prefix: str, host: str, use_event_time: bool) -> None:
        self.template = template
        self.prefix = prefix
        self.host = host
        self.use_event_time = use_event_time

    def render(self, source: str, events: list[Event], object_id: str, now: float) -> str:
        when = event_time(events[0]) if self.use_event_time else None
        # From the datetime, not float seconds: a float rounds 9999-12-31T23:59:59.99999 up to
        # year 10000, and the day must be the one the other sinks use.
        stamp = time.gmtime(now) if when is None else when.utctimetuple()
        # strftime first, so a % in a value (a source named "50%") is never taken as a field.
        key = time.strftime(self.template, stamp).format(
            prefix=self.prefix, source=_safe(source), host=_safe(self.host), batch_id=object_id
        )
        # An empty prefix must not start the key with "/" or leave "//" in it.
        return "/".join(part for part in key.split("/") if part)


def _safe(value: str) -> str:
    """A value fit for one key segment: no "/" (it would add a level) and no control characters."""
    return "".join(c if c.isprintable() and c != "/" else "_" for c in value) or "_"
