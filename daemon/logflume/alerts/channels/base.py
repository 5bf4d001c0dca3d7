"""The channel protocol: deliver one alert or raise; retries and rate limits are the dispatcher's."""

from __future__ import annotations

from typing import Protocol

from logflume.events import Event


class Channel(Protocol):
    """Sends alert events somewhere. ``send`` raises AlertError (retried) or FatalAlertError (not)."""

    name: str

    async def open(self) -> None:
        """Create clients (HTTP session); called once by the dispatcher's ``start``."""

    async def send(self, alert: Event) -> None:
        """Deliver one alert; return only once the receiver accepted it."""

    async def close(self) -> None:
        """Release clients; safe after a failed ``open``."""


def summary(alert: Event) -> str:
    """One line for humans: state, severity, rule, subject and message."""
    state = "RESOLVED" if alert.get("state") == "resolved" else "FIRING"
    return (
        f"[{state}] {str(alert.get('severity', '')).upper()} {alert.get('rule')} "
        f"({alert.get('subject')}): {alert.get('message')}"
    )
