"""Audit integrity: an audit event whose hash does not match its details raises an alert.

The proxy's ``AuditLogger`` (the seed's logging guide, "Audit Logging") writes audit events as

    {"event_type": "config_change", "details": {...}, "audit_id": "<uuid4>", "hash": "<hex>"}

with ``hash = sha256(json.dumps(details, sort_keys=True))``: Python's default separators
(``", "`` and ``": "``) and ASCII escapes. This stage recomputes that hash for every event that
carries both ``hash`` and ``details`` and raises one ``audit_integrity`` alert for each event
whose hash does not match: details changed after they were logged, or an audit line forged
without the producer. It runs right after parse, before normalise or redact can change
``details`` (redaction would break every hash).

Only the event's type, audit id and event id go into the alert (identifiers, and only when they
look like one), never its details: the alert carries no value of the event it is about.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from typing import Any

from pydantic import Field

from logflume.events import META_KEY, Batch, Event
from logflume.models import StrictModel
from logflume.pipeline.anomaly.alert import alert_event
from logflume.pipeline.anomaly.detector_config import Severity

RULE = "audit_integrity"
# What may be copied from the event into the alert: identifiers, not free text.
_IDENTIFIER = re.compile(r"[A-Za-z0-9_.:-]{1,80}")


class AuditConfig(StrictModel):
    """Hash verification of the seed's audit events."""

    verify_hash: bool = Field(
        True,
        description="Recompute the hash of events that carry both `hash` and `details` (the proxy's "
        "audit events) and raise an `audit_integrity` alert for each one that does not match.",
    )
    severity: Severity = Field("critical", description="Severity of the alerts.")
    channels: list[str] = Field(
        default_factory=list, description="Alert channels; [] = alerts.default_channels."
    )


def audit_hash(details: Any) -> str:
    """The hash the proxy's AuditLogger writes for ``details``."""
    return hashlib.sha256(json.dumps(details, sort_keys=True).encode()).hexdigest()


def _identifier(value: Any) -> str:
    return value if isinstance(value, str) and _IDENTIFIER.fullmatch(value) else "-"


class AuditVerifier:
    """The audit stage; ``stats`` counts ``verified`` and ``mismatched`` events."""

    name = "audit"

    def __init__(self, config: AuditConfig) -> None:
        self.severity = config.severity
        self.channels = list(config.channels)
        self.stats: Counter[str] = Counter()

    def __call__(self, batch: Batch, now: float) -> Batch:
        events = batch.events
        # One membership test per event (the fastest form measured): the usual event has no "hash".
        for event in [event for event in events if "hash" in event]:
            if "details" not in event:
                continue
            if self._matches(event):
                self.stats["verified"] += 1
                continue
            self.stats["mismatched"] += 1
            alert = self._alert(event, now)
            events.append(alert)
            batch.alerts.append(alert)
        return batch

    @staticmethod
    def _matches(event: Event) -> bool:
        claimed = event["hash"]
        if not isinstance(claimed, str):
            return False
        try:
            return audit_hash(event["details"]) == claimed.lower()
        except (RecursionError, ValueError, TypeError):
            # Details the producer's json.dumps could not have hashed either: not a real audit hash.
            return False

    def _alert(self, event: Event, now: float) -> Event:
        meta = event.get(META_KEY)
        event_id = _identifier(meta.get("event_id")) if isinstance(meta, dict) else "-"
        alert = alert_event(
            rule=RULE,
            kind="audit",
            severity=self.severity,
            dimensions={
                "event_type": _identifier(event.get("event_type")),
                "audit_id": _identifier(event.get("audit_id")),
            },
            state="firing",
            started_at=now,
            at=now,
            message="Audit event hash does not match its details",
            value=None,
            baseline=None,
            threshold=None,
            channels=list(self.channels),
            extra={"audited_event_id": event_id},
        )
        # One alert per tampered line, the same one when the line is read again after a restart:
        # its id follows the line's, not the time it was read.
        alert[META_KEY]["event_id"] = f"alert-{RULE}-{event_id}"
        return alert
