"""Generic webhook: the alert event itself as the JSON body."""

from __future__ import annotations

from logflume.alerts.channels.http import HttpChannel
from logflume.alerts.config import WebhookChannelConfig


def webhook_channel(name: str, config: WebhookChannelConfig) -> HttpChannel:
    return HttpChannel(name, config.url, {"Content-Type": "application/json", **config.headers})
