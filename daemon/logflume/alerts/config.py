"""Config of alert channels (``alerts:`` in the YAML).

    alerts:
      default_channels: [ops]          # for alerts whose rule names no channel
      channels:
        ops:      {type: slack, url: "${SLACK_WEBHOOK_URL}"}
        oncall:   {type: pagerduty, routing_key: "${PD_ROUTING_KEY}"}
        mail:     {type: email, host: smtp.example.com, port: 587, starttls: true,
                   username: alerts, password: "${SMTP_PASSWORD}", from_addr: a@x, to: [b@x]}
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, model_validator

from logflume.models import StrictModel
from logflume.units import Duration


class RateLimit(StrictModel):
    """A token bucket: ``burst`` alerts at once, refilled at ``per_minute``."""

    per_minute: float = Field(30.0, gt=0, description="Sustained alerts per minute.")
    burst: int = Field(10, ge=1, description="Alerts that may go out back to back.")


class _Channel(StrictModel):
    timeout: Duration = Field(10.0, gt=0, description="Deadline of one delivery attempt.")
    max_attempts: int = Field(4, ge=1, description="Attempts before the alert is recorded as failed.")
    backoff_initial: Duration = Field(1.0, gt=0, description="First retry delay (doubles, with jitter).")
    backoff_max: Duration = Field(30.0, gt=0, description="Longest retry delay.")
    rate_limit: RateLimit = Field(default_factory=RateLimit, description="Token bucket of this channel.")
    queue_size: int = Field(100, ge=1, description="Alerts waiting here; more are dropped (counted).")
    min_severity: Literal["info", "warning", "error", "critical"] = Field(
        "info", description="Alerts below this severity are not sent here."
    )


class LogChannelConfig(_Channel):
    type: Literal["log"] = Field(description="Write alerts to the daemon's own log.")
    level: Literal["INFO", "WARNING", "ERROR", "CRITICAL"] = Field("WARNING", description="Log level used.")


class WebhookChannelConfig(_Channel):
    type: Literal["webhook"] = Field(description="POST the alert event as JSON.")
    url: str = Field(..., description="Endpoint URL.")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra HTTP headers.")


class SlackChannelConfig(_Channel):
    type: Literal["slack"] = Field(description="Slack incoming webhook.")
    url: SecretStr = Field(..., description="Incoming-webhook URL (it is a secret: use ${ENV}).")
    username: str | None = Field(None, description="Override of the webhook's bot name.")
    icon_emoji: str | None = Field(None, description="Override of the webhook's icon emoji.")


class EmailChannelConfig(_Channel):
    type: Literal["email"] = Field(description="E-mail through an SMTP server.")
    host: str = Field(..., description="SMTP server host.")
    port: int = Field(587, gt=0, lt=65536, description="SMTP port (587 STARTTLS, 465 TLS, 25 plain).")
    starttls: bool = Field(True, description="Upgrade the connection with STARTTLS (required when true).")
    tls: bool = Field(False, description="Connect with TLS from the start (port 465); excludes starttls.")
    validate_certs: bool = Field(True, description="Verify the server certificate.")
    ca_file: str | None = Field(None, description="CA bundle to verify the server with.")
    username: str | None = Field(None, description="SMTP login.")
    password: SecretStr | None = Field(None, description="SMTP password; use ${ENV} or ${file:/path}.")
    from_addr: str = Field(..., description="Sender address.")
    to: list[str] = Field(..., min_length=1, description="Recipient addresses.")
    subject_prefix: str = Field("[logflume]", description="Start of every subject line.")

    @model_validator(mode="after")
    def _one_tls_mode(self) -> EmailChannelConfig:
        if self.tls and self.starttls:
            raise ValueError("choose tls (implicit TLS) or starttls, not both")
        return self


class PagerDutyChannelConfig(_Channel):
    type: Literal["pagerduty"] = Field(description="PagerDuty Events API v2.")
    routing_key: SecretStr = Field(..., description="Integration (routing) key; use ${ENV}.")
    url: str = Field("https://events.pagerduty.com/v2/enqueue", description="Events API endpoint.")
    source: str = Field("logflume", description="The payload's source field.")


ChannelConfig = Annotated[
    LogChannelConfig
    | WebhookChannelConfig
    | SlackChannelConfig
    | EmailChannelConfig
    | PagerDutyChannelConfig,
    Field(discriminator="type"),
]


class AlertsConfig(StrictModel):
    """Named alert channels; none are configured by default."""

    channels: dict[str, ChannelConfig] = Field(default_factory=dict, description="Channels by name.")
    default_channels: list[str] = Field(
        default_factory=list, description="Channels for alerts whose rule names none (statistical alerts)."
    )
    stop_timeout: Duration = Field(10.0, gt=0, description="Shutdown waits this long for queued alerts.")

    @model_validator(mode="after")
    def _known_defaults(self) -> AlertsConfig:
        unknown = [name for name in self.default_channels if name not in self.channels]
        if unknown:
            raise ValueError(f"default_channels names unknown channels: {', '.join(unknown)}")
        return self
