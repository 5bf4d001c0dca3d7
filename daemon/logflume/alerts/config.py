"""Config of alert channels (``alerts:`` in the YAML)."""

from __future__ import annotations

from logflume.models import StrictModel


class AlertsConfig(StrictModel):
    """Named alert channels; none are configured by default."""
