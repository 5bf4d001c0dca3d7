"""Config of the processing stages (``pipeline:`` in the YAML)."""

from __future__ import annotations

from pydantic import Field

from logflume.models import StrictModel
from logflume.pipeline.aggregate.config import AggregateConfig
from logflume.pipeline.anomaly.config import AnomalyConfig
from logflume.pipeline.audit import AuditConfig
from logflume.pipeline.enrich.config import EnrichConfig
from logflume.pipeline.filter.config import FilterConfig
from logflume.pipeline.normalise import NormaliseConfig
from logflume.pipeline.redact.config import RedactConfig
from logflume.pipeline.sample import SampleConfig


class PipelineConfig(StrictModel):
    """Stage settings. Normalise and redact are on by default, enrich adds performance_category;
    filter has no rules and sample is off until configured."""

    audit: AuditConfig = Field(
        default_factory=AuditConfig,
        description="Hash check of the proxy's audit events (first, before anything changes them).",
    )
    normalise: NormaliseConfig = Field(
        default_factory=NormaliseConfig,
        description="Field renames, one UTC @timestamp, canonical level names.",
    )
    redact: RedactConfig = Field(
        default_factory=RedactConfig,
        description="Secret redaction; on by default.",
    )
    enrich: EnrichConfig = Field(
        default_factory=EnrichConfig,
        description="Derived and looked-up fields.",
    )
    filter: FilterConfig = Field(
        default_factory=FilterConfig,
        description="Rules that drop, keep or route events.",
    )
    sample: SampleConfig | None = Field(None, description="Per-level sampling; off unless configured.")
    aggregate: AggregateConfig | None = Field(None, description="Windowed request metrics; null = off.")
    anomaly: AnomalyConfig | None = Field(None, description="Alert rules and detectors; null = off.")
