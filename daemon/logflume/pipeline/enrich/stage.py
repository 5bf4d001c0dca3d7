"""The enrich stage: the configured enrichments, each one pass over the batch."""

from __future__ import annotations

import time

from logflume.events import Batch
from logflume.pipeline.enrich.base import Enrichment
from logflume.pipeline.enrich.business import BusinessUnit
from logflume.pipeline.enrich.config import EnrichConfig
from logflume.pipeline.enrich.cost import Cost
from logflume.pipeline.enrich.geo import GeoLookup
from logflume.pipeline.enrich.host import HostName
from logflume.pipeline.enrich.lookup import UserLookup
from logflume.pipeline.enrich.performance import PerformanceCategory
from logflume.telemetry import Count, count


def build_enrichments(config: EnrichConfig, now: float | None = None) -> list[Enrichment]:
    """The configured enrichments in a fixed order; opens the geo database and lookup table."""
    start = time.time() if now is None else now
    parts: list[Enrichment] = []
    if config.performance is not None:
        parts.append(PerformanceCategory(config.performance))
    if config.geo is not None:
        parts.append(GeoLookup(config.geo))
    if config.business_unit is not None:
        parts.append(BusinessUnit(config.business_unit))
    if config.users is not None:
        parts.append(UserLookup(config.users, start))
    if config.cost is not None:
        parts.append(Cost(config.cost))
    if config.host is not None:
        parts.append(HostName(config.host))
    return parts


class Enricher:
    """Runs each enrichment over the whole batch; ``parts`` is exposed for their counters."""

    name = "enrich"

    def __init__(self, parts: list[Enrichment]) -> None:
        self.parts = parts

    def telemetry(self) -> list[Count]:
        """The counts of the enrichments that keep any (geo: lookups by result)."""
        out: list[Count] = []
        for part in self.parts:
            if isinstance(part, GeoLookup):
                results = sorted(part.stats.items())
                out += [count("lookups", n, enrichment=part.name, result=r) for r, n in results]
        return out

    def __call__(self, batch: Batch, now: float) -> Batch:
        events = batch.events
        for part in self.parts:
            part(events, now)
        return batch
