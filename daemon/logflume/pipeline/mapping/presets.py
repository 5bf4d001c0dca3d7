"""Built-in mappings for common gateways and web servers: YAML files in ``presets/``.

A preset is plain data in the mapping language a user writes (``logflume`` ships them as package
data); ``sources[].preset: NAME`` applies one, and a user can copy the file into a source's
``mapping:`` and change it. Presets are loaded and validated exactly like user config.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from pydantic import ValidationError

from logflume.errors import MappingError
from logflume.pipeline.mapping.config import MappingConfig

PRESET_DIR = Path(__file__).with_name("presets")


def preset_names() -> list[str]:
    """The names of the shipped presets, sorted."""
    return sorted(path.stem for path in PRESET_DIR.glob("*.yaml"))


def preset_path(name: str) -> Path:
    if name not in preset_names():
        raise MappingError(f"unknown preset {name!r} (one of: {', '.join(preset_names())})")
    return PRESET_DIR / f"{name}.yaml"


@cache
def load_preset(name: str) -> MappingConfig:
    """The validated mapping of preset ``name``; MappingError when it is unknown or invalid."""
    path = preset_path(name)
    try:
        data = yaml.safe_load(path.read_text())
        return MappingConfig.model_validate(data)
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise MappingError(f"preset {name!r} ({path}) is invalid: {exc}") from exc
