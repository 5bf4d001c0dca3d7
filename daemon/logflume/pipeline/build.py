"""Builds the stage chain from config, once; nothing here runs per event."""

from __future__ import annotations

from pathlib import Path

from logflume.pipeline.audit import AuditVerifier
from logflume.pipeline.config import PipelineConfig
from logflume.pipeline.enrich import Enricher, build_enrichments
from logflume.pipeline.filter.stage import FilterStage
from logflume.pipeline.mapping import MappingConfig, build_mapper
from logflume.pipeline.normalise import Normaliser
from logflume.pipeline.parse import Parser, ParseStats
from logflume.pipeline.redact import Redactor
from logflume.pipeline.sample import Sampler
from logflume.pipeline.stage import Chain, PassThrough, Stage

STAGE_ORDER = ("audit", "normalise", "redact", "enrich", "filter", "sample", "aggregate", "anomaly")


def build_parser(
    preset: str | None, mapping: MappingConfig | None, on_invalid: str, stats: ParseStats | None = None
) -> Parser:
    """The parse step of one source (its preset and mapping compiled); ``stats``: counts that carry
    on from the parser this one replaces."""
    return Parser(on_invalid == "wrap", build_mapper(preset, mapping), stats)


def build_chain(config: PipelineConfig, state_dir: Path) -> Chain:
    """The stages that follow parse, in order; a stage with nothing to do is a pass-through slot.

    Audit runs first, while events' details are as the proxy logged them. Redact runs before
    anything that could copy a value into another field, an aggregate or an alert. Opens the geo
    database and lookup tables (ConfigError when they cannot be read).
    """
    enrichments = build_enrichments(config.enrich)
    aggregate, anomaly = _windowed_stages(config, state_dir)
    stages: list[Stage] = [
        AuditVerifier(config.audit) if config.audit.verify_hash else PassThrough("audit"),
        Normaliser(config.normalise) if config.normalise.enabled else PassThrough("normalise"),
        Redactor(config.redact) if config.redact.enabled else PassThrough("redact"),
        Enricher(enrichments) if enrichments else PassThrough("enrich"),
        FilterStage(config.filter) if config.filter.rules else PassThrough("filter"),
        Sampler(config.sample) if config.sample is not None else PassThrough("sample"),
        aggregate,
        anomaly,
    ]
    return Chain(stages)


def _windowed_stages(config: PipelineConfig, state_dir: Path) -> tuple[Stage, Stage]:
    """The aggregate and anomaly slots; their modules (and numpy) are imported only when configured."""
    if config.aggregate is None and config.anomaly is None:
        return PassThrough("aggregate"), PassThrough("anomaly")
    from logflume.pipeline.anomaly.build import build_windowed_stages

    return build_windowed_stages(config.aggregate, config.anomaly, state_dir)
