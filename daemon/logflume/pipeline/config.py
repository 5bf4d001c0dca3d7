"""Config of the processing stages (``pipeline:`` in the YAML)."""

from __future__ import annotations

from logflume.models import StrictModel


class PipelineConfig(StrictModel):
    """Stage settings; every stage is optional and off (a pass-through slot) unless configured."""
