"""E-mail through SMTP (aiosmtplib): plain, STARTTLS or implicit TLS, optional login."""

from __future__ import annotations

import ssl
from email.message import EmailMessage

import aiosmtplib

from logflume.alerts.channels.base import summary
from logflume.alerts.config import EmailChannelConfig
from logflume.errors import AlertError, FatalAlertError
from logflume.events import Event

_FIELDS = ("rule", "severity", "subject", "state", "started_at", "value", "baseline", "threshold", "message")


def render(alert: Event, config: EmailChannelConfig) -> EmailMessage:
    message = EmailMessage()
    message["From"] = config.from_addr
    message["To"] = ", ".join(config.to)
    message["Subject"] = f"{config.subject_prefix} {summary(alert)}"[:200]
    lines = [f"{field}: {alert.get(field)}" for field in _FIELDS if alert.get(field) is not None]
    message.set_content("\n".join(lines) + "\n")
    return message


class EmailChannel:
    def __init__(self, name: str, config: EmailChannelConfig) -> None:
        self.name = name
        self.config = config

    async def open(self) -> None:
        return None

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.config.ca_file)
        if not self.config.validate_certs:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    async def send(self, alert: Event) -> None:
        config = self.config
        secure = config.tls or config.starttls
        password = config.password.get_secret_value() if config.password is not None else None
        try:
            await aiosmtplib.send(
                render(alert, config),
                hostname=config.host,
                port=config.port,
                use_tls=config.tls,
                start_tls=config.starttls,
                tls_context=self._tls_context() if secure else None,
                username=config.username,
                password=password,
                timeout=config.timeout,
            )
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise FatalAlertError(f"{self.name}: SMTP login refused: {exc.code}") from exc
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise FatalAlertError(f"{self.name}: recipients refused") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise AlertError(f"{self.name}: SMTP delivery failed: {exc}") from exc

    async def close(self) -> None:
        return None
