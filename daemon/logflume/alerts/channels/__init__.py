"""Alert channels, built from their config by :func:`build_channel`.

Each channel's module (and its client library: aiohttp, aiosmtplib) is imported when a channel of
that type is built, so a config without alert channels loads none of them.
"""

from __future__ import annotations

import importlib
from typing import Any

from logflume.alerts.channels.base import Channel
from logflume.alerts.config import (
    ChannelConfig,
    EmailChannelConfig,
    LogChannelConfig,
    PagerDutyChannelConfig,
    SlackChannelConfig,
    WebhookChannelConfig,
)

# config model -> "module:factory"; factory(name, config) -> Channel
CHANNEL_TYPES: dict[type[Any], str] = {
    LogChannelConfig: "logflume.alerts.channels.log:LogChannel",
    WebhookChannelConfig: "logflume.alerts.channels.webhook:webhook_channel",
    SlackChannelConfig: "logflume.alerts.channels.slack:SlackChannel",
    EmailChannelConfig: "logflume.alerts.channels.email:EmailChannel",
    PagerDutyChannelConfig: "logflume.alerts.channels.pagerduty:PagerDutyChannel",
}


def build_channel(name: str, config: ChannelConfig) -> Channel:
    target = CHANNEL_TYPES.get(type(config))
    if target is None:
        raise TypeError(f"unknown channel config {type(config).__name__}")
    module_name, _, attr = target.partition(":")
    factory: Any = getattr(importlib.import_module(module_name), attr)
    channel: Channel = factory(name, config)
    return channel


__all__ = ["CHANNEL_TYPES", "Channel", "build_channel"]
