"""Mapping: a source's own log shape → the canonical schema, in the parse step of that source.

config      the mapping language (``mapping:`` of a source), strict pydantic models
convert     value conversions (int, float, bool, timestamp, duration, path, status_level)
mapper      a mapping compiled into a function of an event; originals kept under logflume.original
presets     built-in mappings (YAML in presets/) for LiteLLM, Kong, Caddy, Traefik and nginx
"""

from logflume.pipeline.mapping.config import FieldRule, MappingConfig
from logflume.pipeline.mapping.mapper import ORIGINAL_KEY, Mapper
from logflume.pipeline.mapping.presets import load_preset, preset_names


def build_mapper(preset: str | None, mapping: MappingConfig | None) -> Mapper | None:
    """The mapper of a source: its preset's rules, then its own; None when it has neither."""
    configs = ([load_preset(preset)] if preset else []) + ([mapping] if mapping else [])
    if not configs:
        return None
    if len(configs) == 1:
        return Mapper(configs[0])
    first, second = configs
    merged = MappingConfig.model_validate(
        {
            "fields": {**first.fields, **second.fields},
            "drop": [*first.drop, *second.drop],
            "absent": sorted({*first.absent, *second.absent}),
        }
    )
    return Mapper(merged)


__all__ = [
    "ORIGINAL_KEY",
    "FieldRule",
    "Mapper",
    "MappingConfig",
    "build_mapper",
    "load_preset",
    "preset_names",
]
