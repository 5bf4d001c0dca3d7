"""The event stream the sink outage tests send while they kill and restart a server."""

from __future__ import annotations

from logflume.events import META_KEY, Event

BATCHES = 40
PER_BATCH = 250


def batch(index: int) -> list[Event]:
    return [
        {
            "timestamp": "2026-01-15T10:30:15.123Z",
            "message": f"request {index}/{n}",
            META_KEY: {"event_id": f"outage-{index}-{n}", "source": "proxy", "offset": n},
        }
        for n in range(PER_BATCH)
    ]
