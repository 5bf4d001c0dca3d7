"""Loading the config of a command: the one way every ``logflume`` command reads ``-c FILE``.

What start-up would refuse is refused here, before anything runs: an invalid file, and a config
whose sinks need a pip extra this installation does not have (as a ConfigIssue at the sink's key
path, naming the extra). Errors are raised, never printed here: ``logflume.cli.main`` turns a
ConfigError into its message on stderr and exit code 2, for every command alike.
"""

from __future__ import annotations

from typing import Any

from logflume import extras
from logflume.config import Config, LoadedConfig, read_config
from logflume.errors import ConfigError, ConfigIssue
from logflume.sinks.registry import required_extra


def load_config_arg(path: str | None) -> LoadedConfig:
    """The config of ``-c FILE`` (the embedded default without one) and the warnings about its file;
    ConfigError when unusable."""
    loaded = read_config(path)
    issues = missing_extras(loaded.config)
    if issues:
        raise ConfigError(issues, path or "<embedded default>", warnings=loaded.warnings)
    return loaded


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
