"""Alert channels: deliver alert events (log, webhook, Slack, e-mail, PagerDuty)."""
