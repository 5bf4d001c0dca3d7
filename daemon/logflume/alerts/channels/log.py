"""The log channel: alerts as lines of the daemon's own log (logger ``logflume.alerts``)."""

from __future__ import annotations

import logging

from logflume.alerts.config import LogChannelConfig
from logflume.events import Event

log = logging.getLogger("logflume.alerts")


class LogChannel:
    def __init__(self, name: str, config: LogChannelConfig) -> None:
        self.name = name
        self.level = logging.getLevelName(config.level)

    async def open(self) -> None:
        return None

    async def send(self, alert: Event) -> None:
        fields = ("rule", "severity", "subject", "state", "value", "baseline", "threshold", "started_at")
        log.log(self.level, "Alert.", extra={f"alert_{k}": alert.get(k) for k in fields} | {
            "alert_message": alert.get("message")})

    async def close(self) -> None:
        return None
