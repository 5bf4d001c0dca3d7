"""Enrich: fields derived from the event (performance, business unit, cost) or looked up (geo, user)."""

from logflume.pipeline.enrich.config import EnrichConfig
from logflume.pipeline.enrich.stage import Enricher, build_enrichments

__all__ = ["EnrichConfig", "Enricher", "build_enrichments"]
