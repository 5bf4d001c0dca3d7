"""Object keys: the template rendered per object, with a batch id that replays reproduce.

``{batch_id}`` is a hash of the object's first and last event ids and its event count, so the
same events written again (the runner retrying, or a replay after a crash re-reading the same
lines into the same batch) overwrite the same key instead of adding a duplicate object.
"""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from typing import Any

from logflume.events import META_KEY, Event


def _id(event: Event) -> str:
    meta = event.get(META_KEY)
    if type(meta) is dict and meta.get("event_id") is not None:
        return str(meta["event_id"])
    return ""


def batch_id(events: list[Event], body: bytes) -> str:
    """16 hex digits naming the object; the content decides when events carry no ids."""
    first, last = _id(events[0]), _id(events[-1])
    digest = hashlib.blake2b(digest_size=8)
    if first and last:
        digest.update(f"{first}\n{last}\n{len(events)}".encode())
    else:
        digest.update(body)
    return digest.hexdigest()


def event_time(event: Event) -> float | None:
    """Epoch seconds of the event's own timestamp, if it has a usable one."""
    value: Any = event.get("@timestamp")
    if value is None:
        value = event.get("timestamp")
    if type(value) is str:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        if parsed.tzinfo is None:  # naive: take it as UTC, like the rest of the daemon
            return parsed.replace(tzinfo=UTC).timestamp()
        return parsed.timestamp()
    if type(value) is int or type(value) is float:
        return value / 1000 if abs(value) > 1e11 else float(value)
    return None


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
        try:
            stamp = time.gmtime(now if when is None else when)
        except (OverflowError, OSError, ValueError):
            stamp = time.gmtime(now)
        # strftime first, so a % in a value (a source named "50%") is never taken as a field.
        key = time.strftime(self.template, stamp).format(
            prefix=self.prefix, source=_safe(source), host=_safe(self.host), batch_id=object_id
        )
        # An empty prefix must not start the key with "/" or leave "//" in it.
        return "/".join(part for part in key.split("/") if part)


def _safe(value: str) -> str:
    """A value fit for one key segment: no "/" (it would add a level) and no control characters."""
    return "".join(c if c.isprintable() and c != "/" else "_" for c in value) or "_"
