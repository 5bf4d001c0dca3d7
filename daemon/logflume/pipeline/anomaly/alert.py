"""The ``type: alert`` event: what rules and detectors raise, the sinks store and the channels send.

Alerts are built only from names, figures and the group value (the subject) of events that already
went through redaction; no raw line or free-text field of an event is ever copied into one.
"""

from __future__ import annotations

import hashlib
from typing import Any

from logflume.events import META_KEY, Event
from logflume.pipeline.aggregate.clock import iso


def subject_of(dimensions: dict[str, Any]) -> str:
    """A short text naming what an alert is about: the group values joined by '/', or 'all'."""
    if not dimensions:
        return "all"
    return "/".join("-" if value is None else str(value) for value in dimensions.values())


def alert_event(
    *,
    rule: str,
    kind: str,
    severity: str,
    dimensions: dict[str, Any],
    state: str,
    started_at: float,
    at: float,
    message: str,
    value: float | None,
    baseline: float | None,
    threshold: float | None,
    channels: list[str],
    extra: dict[str, Any] | None = None,
) -> Event:
    """One alert event; its id is deterministic (rule, subject, start, state), so a replay after a
    restart produces the same id and idempotent sinks keep one copy."""
    subject = subject_of(dimensions)
    digest = hashlib.blake2b(f"{rule}|{subject}|{started_at}|{state}".encode(), digest_size=10).hexdigest()
    event: Event = {
        "@timestamp": iso(at),
        "type": "alert",
        "rule": rule,
        "kind": kind,
        "severity": severity,
        "subject": subject,
        "dimensions": dimensions,
        "state": state,
        "started_at": iso(started_at),
        "message": message,
        "value": value,
        "baseline": baseline,
        "threshold": threshold,
        "channels": channels,
        META_KEY: {"event_id": "alert-" + digest, "source": "logflume", "type": "alert"},
    }
    if state == "resolved":
        event["resolved_at"] = iso(at)
    if extra:
        event.update(extra)
    return event
