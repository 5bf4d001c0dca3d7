"""Alert channels, built from their config by :func:`build_channel`."""

from __future__ import annotations

from logflume.alerts.channels.base import Channel
from logflume.alerts.channels.email import EmailChannel
from logflume.alerts.channels.log import LogChannel
from logflume.alerts.channels.pagerduty import PagerDutyChannel
from logflume.alerts.channels.slack import SlackChannel
from logflume.alerts.channels.webhook import webhook_channel
from logflume.alerts.config import (
    ChannelConfig,
    EmailChannelConfig,
    LogChannelConfig,
    PagerDutyChannelConfig,
    SlackChannelConfig,
    WebhookChannelConfig,
)


def build_channel(name: str, config: ChannelConfig) -> Channel:
    if isinstance(config, LogChannelConfig):
        return LogChannel(name, config)
    if isinstance(config, WebhookChannelConfig):
        return webhook_channel(name, config)
    if isinstance(config, SlackChannelConfig):
        return SlackChannel(name, config)
    if isinstance(config, EmailChannelConfig):
        return EmailChannel(name, config)
    if isinstance(config, PagerDutyChannelConfig):
        return PagerDutyChannel(name, config)
    raise TypeError(f"unknown channel config {type(config).__name__}")


__all__ = ["Channel", "build_channel"]
