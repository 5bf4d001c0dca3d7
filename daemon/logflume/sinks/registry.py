"""The sink types: config model per ``type`` key, and how each is built into a Sink.

Adding a backend is one entry here. Implementations are imported only when built, so validating
a config never imports a backend's client library; the client comes with a pip extra
(:mod:`logflume.extras`), named by :func:`required_extra`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from logflume import extras
from logflume.sinks.base import Sink
from logflume.sinks.config import SinkCommonConfig
from logflume.sinks.elasticsearch.config import ElasticsearchSinkConfig
from logflume.sinks.file.config import FileSinkConfig
from logflume.sinks.postgres.config import PostgresSinkConfig
from logflume.sinks.s3.config import S3SinkConfig

# type key -> (config model, "module:factory"); factory(config, context) -> Sink
SINK_TYPES: dict[str, tuple[type[SinkCommonConfig], str]] = {
    "file": (FileSinkConfig, "logflume.sinks.file.sink:FileSink"),
    "elasticsearch": (ElasticsearchSinkConfig, "logflume.sinks.elasticsearch.sink:ElasticsearchSink"),
    "postgres": (PostgresSinkConfig, "logflume.sinks.postgres.sink:PostgresSink"),
    "s3": (S3SinkConfig, "logflume.sinks.s3.sink:S3Sink"),
}
# type key -> the extra a sink of that config needs (None: the base install has everything)
SINK_EXTRAS: dict[str, Callable[[Any], str | None]] = {
    # Digests are built with DuckDB: asked for explicitly they need it; by default they are
    # skipped when it is missing (the file sink says so once).
    "file": lambda config: "analysis" if config.digest and "digest" in config.model_fields_set else None,
    "elasticsearch": lambda config: str(config.flavor),
    "postgres": lambda config: "postgres",
    "s3": lambda config: "s3",
}


@dataclass(frozen=True)
class SinkContext:
    """What the daemon gives every sink when it is built."""

    state_dir: Path
    host: str


def required_extra(config: SinkCommonConfig) -> str | None:
    """The pip extra a sink of this config needs, None when the base install is enough."""
    type_key = getattr(config, "type")  # noqa: B009 - each sink config declares its own Literal type
    return SINK_EXTRAS[type_key](config)


def build_sink(config: SinkCommonConfig, context: SinkContext) -> Sink:
    """The sink for ``config``; MissingExtraError when its client library is not installed."""
    type_key = getattr(config, "type")  # noqa: B009 - each sink config declares its own Literal type
    extra = required_extra(config)
    if extra is not None:
        extras.require(extra, f"the {type_key} sink {config.name!r}")
    module_name, _, attr = SINK_TYPES[type_key][1].partition(":")
    factory: Any = getattr(importlib.import_module(module_name), attr)
    sink: Sink = factory(config, context)
    return sink
