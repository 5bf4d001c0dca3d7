"""Builds the stage chain from config, once; nothing here runs per event."""

from __future__ import annotations

from pathlib import Path

from logflume.pipeline.aggregate.front import AggregateFront
from logflume.pipeline.anomaly.front import AnomalyFront
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
# The stages that keep no state between batches: they may run anywhere, in any process.
STATELESS = STAGE_ORDER[:6]


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
    aggregate, anomaly = _windowed_stages(config, state_dir)
    return Chain([*build_stateless(config), aggregate, anomaly])


def build_windowed(config: PipelineConfig, state_dir: Path) -> Chain:
    """The aggregate and anomaly slots (they keep state, so the daemon runs them in its own process)."""
    return Chain(list(_windowed_stages(config, state_dir)))


def build_stateless(config: PipelineConfig) -> list[Stage]:
    """The stateless stages (audit to sample), in order: what a worker process runs."""
    enrichments = build_enrichments(config.enrich)
    return [
        AuditVerifier(config.audit) if config.audit.verify_hash else PassThrough("audit"),
        Normaliser(config.normalise) if config.normalise.enabled else PassThrough("normalise"),
        Redactor(config.redact) if config.redact.enabled else PassThrough("redact"),
        Enricher(enrichments) if enrichments else PassThrough("enrich"),
        FilterStage(config.filter) if config.filter.rules else PassThrough("filter"),
        Sampler(config.sample) if config.sample is not None else PassThrough("sample"),
    ]


def build_windowed_fronts(config: PipelineConfig) -> tuple[AggregateFront | None, AnomalyFront | None]:
    """The fronts of the aggregate and anomaly stages (None when not configured): what they need
    of each event, computed without their state (see :mod:`logflume.pipeline.job`)."""
    if config.aggregate is None and config.anomaly is None:
        return None, None
    from logflume.pipeline.anomaly.build import effective_aggregate

    aggregate = effective_aggregate(config.aggregate, config.anomaly)
    return (
        AggregateFront(aggregate) if aggregate is not None else None,
        AnomalyFront(config.anomaly) if config.anomaly is not None else None,
    )


def _windowed_stages(config: PipelineConfig, state_dir: Path) -> tuple[Stage, Stage]:
    """The aggregate and anomaly slots; their modules (and numpy) are imported only when configured."""
    if config.aggregate is None and config.anomaly is None:
        return PassThrough("aggregate"), PassThrough("anomaly")
    from logflume.pipeline.anomaly.build import build_windowed_stages

    return build_windowed_stages(config.aggregate, config.anomaly, state_dir)
