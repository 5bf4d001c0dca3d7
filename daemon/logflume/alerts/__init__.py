"""Alert channels: deliver alert events (log, webhook, Slack, e-mail, PagerDuty)."""

from logflume.alerts.config import AlertsConfig
from logflume.alerts.dispatcher import AlertDispatcher, DeliveryStats

__all__ = ["AlertDispatcher", "AlertsConfig", "DeliveryStats"]
