"""Loading the config of a command: the one way every ``logflume`` command reads ``-c FILE``.

What start-up would refuse is refused here, before anything runs: an invalid file, and a config
whose sinks need a pip extra this installation does not have (as a ConfigIssue at the sink's key
path, naming the extra). ``validate`` and ``check`` also build what start-up builds from a valid
config (:func:`build_issues`), so a geo database that cannot be opened fails them too, not only
``run``. Errors are raised, never printed here: ``logflume.cli.main`` turns a ConfigError into its
message on stderr and exit code 2, for every command alike.
"""

from __future__ import annotations

import socket
from typing import Any

from logflume import extras
from logflume.config import Config, LoadedConfig, read_config
from logflume.errors import ConfigError, ConfigIssue, LogflumeError, StateFileError
from logflume.events import RawChunk
from logflume.sinks.registry import SinkContext, build_sink, required_extra


def load_config_arg(path: str | None) -> LoadedConfig:
    """The config of ``-c FILE`` (the embedded default without one) and the warnings about its file;
    ConfigError when unusable."""
    loaded = read_config(path)
    issues = missing_extras(loaded.config)
    if issues:
        raise ConfigError(issues, path or "<embedded default>", warnings=loaded.warnings)
    return loaded


def build_issues(config: Config) -> list[ConfigIssue]:
    """What start-up would refuse when it builds the daemon from a valid config.

    Builds each source's parse step (preset and mapping), the stage chain (geo database, lookup
    tables, the anomaly detectors' window against the aggregate's) and each sink, with the very
    functions ``run`` uses, and reads each source's checkpoints (an impossible one stops the start
    with exit 2 too); files are read, none is written or created.
    """
    from logflume.pipeline.build import build_chain, build_parser
    from logflume.sources.tail import FileSource

    issues: list[ConfigIssue] = []
    for index, source in enumerate(config.sources):
        try:
            build_parser(source.preset, source.mapping, source.on_invalid)
        except (LogflumeError, OSError, ValueError) as exc:
            issues += _issues(exc, f"sources[{index}]")
        try:
            FileSource(source, config.state_dir, _never_emits).load_checkpoints()
        except StateFileError as exc:
            issues.append(ConfigIssue("state_dir", str(exc)))
    try:
        build_chain(config.pipeline, config.state_dir)
    except (LogflumeError, OSError, ValueError) as exc:
        issues += _issues(exc, "pipeline")
    context = SinkContext(state_dir=config.state_dir, host=socket.gethostname())
    sinks: list[Any] = config.sinks  # a union of every sink type's model
    for index, sink in enumerate(sinks):
        try:
            build_sink(sink, context)
        except (LogflumeError, OSError, ValueError) as exc:
            issues += _issues(exc, f"sinks[{index}]")
    return issues


async def _never_emits(chunk: RawChunk) -> None:
    raise AssertionError("a source built to read its checkpoints does not run")


def _issues(exc: Exception, where: str) -> list[ConfigIssue]:
    if isinstance(exc, ConfigError):
        return list(exc.issues)
    return [ConfigIssue(where, str(exc) or type(exc).__name__)]


def missing_extras(config: Config) -> list[ConfigIssue]:
    """One issue per sink whose client library (pip extra) is not installed."""
    issues = []
    sinks: list[Any] = config.sinks  # a union of every sink type's model
    for index, sink in enumerate(sinks):
        extra = required_extra(sink)
        if extra is not None and not extras.installed(extra):
            key = "digest" if sink.type == "file" else "flavor" if extra == "opensearch" else "type"
            issues.append(
                ConfigIssue(
                    f"sinks[{index}].{key}",
                    f"the {sink.type} sink {sink.name!r} needs logflume[{extra}], which is not "
                    f"installed: {extras.install_hint(extra)}",
                )
            )
    return issues
