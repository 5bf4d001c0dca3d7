"""The sink types: config model per ``type`` key, and how each is built into a Sink.

Adding a backend is one entry here. Implementations are imported only when built, so validating
a config never imports a backend's client library.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


@dataclass(frozen=True)
class SinkContext:
    """What the daemon gives every sink when it is built."""

    state_dir: Path
    host: str


def build_sink(config: SinkCommonConfig, context: SinkContext) -> Sink:
    type_key = getattr(config, "type")  # noqa: B009 - each sink config declares its own Literal type
    module_name, _, attr = SINK_TYPES[type_key][1].partition(":")
    factory: Any = getattr(importlib.import_module(module_name), attr)
    sink: Sink = factory(config, context)
    return sink
