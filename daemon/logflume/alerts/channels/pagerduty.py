"""PagerDuty Events API v2: trigger on firing, resolve on resolved, one dedup_key per rule+subject."""

from __future__ import annotations

import hashlib
from typing import Any

from logflume.alerts.channels.base import summary
from logflume.alerts.channels.http import HttpChannel
from logflume.alerts.config import PagerDutyChannelConfig
from logflume.events import Event

# Events API v2 severities.
_SEVERITY = {"critical": "critical", "error": "error", "warning": "warning", "info": "info"}


def dedup_key(alert: Event) -> str:
    """The same for the firing and the resolved alert of one rule and subject, so PagerDuty pairs them."""
    text = f"{alert.get('rule')}|{alert.get('subject')}"
    return "logflume-" + hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


class PagerDutyChannel(HttpChannel):
    def __init__(self, name: str, config: PagerDutyChannelConfig) -> None:
        super().__init__(name, config.url)
        self.config = config

    def body(self, alert: Event) -> dict[str, Any]:
        action = "resolve" if alert.get("state") == "resolved" else "trigger"
        payload: dict[str, Any] = {
            "routing_key": self.config.routing_key.get_secret_value(),
            "event_action": action,
            "dedup_key": dedup_key(alert),
        }
        if action == "trigger":
            keys = ("rule", "subject", "value", "baseline", "threshold", "started_at")
            details = {key: alert.get(key) for key in keys}
            payload["payload"] = {
                "summary": summary(alert)[:1024],
                "source": self.config.source,
                "severity": _SEVERITY.get(str(alert.get("severity")), "warning"),
                "timestamp": alert.get("@timestamp"),
                "component": str(alert.get("subject")),
                "class": str(alert.get("rule")),
                "custom_details": details,
            }
        return payload
