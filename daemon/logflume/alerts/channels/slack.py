"""Slack incoming webhook: ``text`` plus one attachment with the figures, coloured by state."""

from __future__ import annotations

from typing import Any

from logflume.alerts.channels.base import summary
from logflume.alerts.channels.http import HttpChannel
from logflume.alerts.config import SlackChannelConfig
from logflume.events import Event

_COLOURS = {"critical": "danger", "error": "danger", "warning": "warning", "info": "#439FE0"}


class SlackChannel(HttpChannel):
    def __init__(self, name: str, config: SlackChannelConfig) -> None:
        super().__init__(name, config.url.get_secret_value())
        self.config = config

    def body(self, alert: Event) -> dict[str, Any]:
        colour = _COLOURS.get(str(alert.get("severity")), "warning")
        if alert.get("state") == "resolved":
            colour = "good"
        fields = [
            {"title": title, "value": str(alert[key]), "short": True}
            for key, title in (("subject", "Subject"), ("value", "Value"), ("baseline", "Baseline"),
                               ("threshold", "Threshold"), ("started_at", "Started"))
            if alert.get(key) is not None
        ]
        payload: dict[str, Any] = {
            "text": summary(alert),
            "attachments": [{"color": colour, "title": str(alert.get("rule")), "fields": fields}],
        }
        if self.config.username:
            payload["username"] = self.config.username
        if self.config.icon_emoji:
            payload["icon_emoji"] = self.config.icon_emoji
        return payload
