"""Builds the stage chain from config, once; nothing here runs per event."""

from __future__ import annotations

from pathlib import Path

from logflume.pipeline.config import PipelineConfig
from logflume.pipeline.stage import Chain, PassThrough

STAGE_ORDER = ("enrich", "filter", "aggregate", "anomaly")


def build_chain(config: PipelineConfig, state_dir: Path) -> Chain:
    """The stages that follow parse, in order."""
    return Chain([PassThrough(name) for name in STAGE_ORDER])
