"""The top-level config: loading YAML, interpolating the environment, validating into models.

``load_config`` is the one path used by ``logflume validate`` and by start-up. Every problem is
reported with its YAML key path (``sinks[0].rotation.max_size``) and line.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import Field, model_validator

from logflume import safeyaml
from logflume.alerts.config import AlertsConfig
from logflume.configtools.issues import collect
from logflume.configtools.schema import build_schema
from logflume.configtools.secrets import literal_secrets
from logflume.errors import ConfigError, ConfigIssue
from logflume.models import StrictModel
from logflume.ops.config import HttpConfig
from logflume.pipeline.config import PipelineConfig
from logflume.sinks.registry import SINK_TYPES
from logflume.sources.config import SourceConfig
from logflume.units import Duration

log = logging.getLogger("logflume.config")

_sink_models = tuple(model for model, _ in SINK_TYPES.values())
SinkConfig = (
    Annotated[Union[_sink_models], Field(discriminator="type")]  # noqa: UP007
    if len(_sink_models) > 1
    else _sink_models[0]
)


class DeadLetterConfig(StrictModel):
    """Invalid lines and events a backend refused for good, with the reason."""

    path: str | None = Field(
        None, description="Dead-letter JSON-lines file; default <state_dir>/dead-letter.jsonl."
    )
    raw: Literal["redacted", "keep", "omit"] = Field(
        "redacted",
        description="What `raw` holds: redacted: the line with the redact stage's text rules applied "
        "(even when the stage is off; a line that is not UTF-8 is kept as lossy text); keep: the "
        "line as read (base64 when not UTF-8): secrets in it are stored in clear; omit: null.",
    )


class LogConfig(StrictModel):
    """logflume's own log, on stderr."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "INFO", description="Own log level."
    )
    format: Literal["auto", "json", "text"] = Field(
        "auto", description="auto: text on a terminal, else JSON."
    )
    levels: dict[str, Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]] = Field(
        default_factory=dict, description="Per-logger levels, e.g. {logflume.sinks: DEBUG}."
    )


# Where Config's own checks (below) read the names they compare: `validate` still reports them when
# other parts of the file are wrong, unless one of these places had to be set aside.
ROOT_READS: tuple[tuple[str, ...], ...] = (("sources",), ("sinks",), ("alerts", "channels"))


class Config(StrictModel):
    """The whole config file."""

    state_dir: Path = Field(..., description="Checkpoints, buffers and detector state live here.")
    sources: list[SourceConfig] = Field(..., min_length=1, description="The files to follow, by name.")
    sinks: list[SinkConfig] = Field(  # type: ignore[valid-type]
        ..., min_length=1, description="Where events go, by name; each sink has a `type`."
    )
    pipeline: PipelineConfig = Field(
        default_factory=PipelineConfig, description="The stages every event runs through, in order."
    )
    alerts: AlertsConfig = Field(
        default_factory=AlertsConfig, description="Alert channels the anomaly stage sends to."
    )
    dead_letter: DeadLetterConfig = Field(
        default_factory=DeadLetterConfig, description="Where lines that cannot be processed are kept."
    )
    log: LogConfig = Field(default_factory=LogConfig, description="logflume's own log.")
    http: HttpConfig = Field(
        default_factory=HttpConfig, description="The local endpoint: metrics, health, tap."
    )
    checkpoint_interval: Duration = Field(0.5, gt=0, description="How often acknowledged offsets are saved.")
    shutdown_timeout: Duration = Field(30.0, gt=0, description="SIGTERM drains for at most this long.")
    queue_chunks: int = Field(
        4, gt=0, le=256, description="Read chunks waiting for the pipeline before readers pause."
    )
    workers: int | None = Field(
        None,
        ge=1,
        le=64,
        description="Processes that parse, run the stateless stages (audit to sample) and encode "
        "for the sinks, each on whole chunks; results are applied in the order the chunks were "
        "read. 1: all of it in the daemon's own process, no extra process. null: one per core the "
        "daemon may use, at most 4. The aggregate and anomaly stages always run in the daemon's "
        "process. Takes effect at the next start.",
    )

    @model_validator(mode="after")
    def _references(self) -> Config:
        # One check, so that every wrong name is reported in one run (the first failing check of a
        # model ends its validation).
        problems = [*self._duplicate_names(), *self._unknown_channels(), *self._unknown_route_sinks()]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _duplicate_names(self) -> list[str]:
        problems = []
        for kind, items in (("sources", self.sources), ("sinks", self.sinks)):
            seen: set[str] = set()
            for item in items:
                if item.name in seen:
                    problems.append(f"{kind}: duplicate name {item.name!r}")
                seen.add(item.name)
        return problems

    def _unknown_channels(self) -> list[str]:
        # An alert rule naming a channel that does not exist would only be noticed when it fires.
        anomaly = self.pipeline.anomaly
        rules = anomaly.rules if anomaly is not None else []
        named = [(f"anomaly {rule.name!r}", rule.channels) for rule in rules]
        if anomaly is not None and anomaly.statistical is not None:
            named.append(("anomaly 'statistical'", anomaly.statistical.channels))
        named.append(("pipeline.audit", self.pipeline.audit.channels))
        problems = []
        for owner, channels in named:
            unknown = [name for name in channels if name not in self.alerts.channels]
            if unknown:
                problems.append(f"{owner} names unknown alert channels: {', '.join(unknown)}")
        return problems

    def _unknown_route_sinks(self) -> list[str]:
        # A route to a sink that does not exist would silently lose the routed events.
        sinks: list[Any] = self.sinks
        unknown = sorted(self.pipeline.filter.route_sinks() - {sink.name for sink in sinks})
        return [f"pipeline.filter routes to unknown sinks: {', '.join(unknown)}"] if unknown else []

    def dead_letter_path(self) -> Path:
        return Path(self.dead_letter.path) if self.dead_letter.path else self.state_dir / "dead-letter.jsonl"


# ---------------------------------------------------------------------------------------------
# Loading

_VAR = re.compile(r"\$\$|\$\{(file:[^}]+|[^}:]+)(?::-([^}]*))?\}")
# A secret file holds a password or a key, not a document.
MAX_SECRET_FILE_BYTES = 64 * 1024


def interpolate(text: str, env: dict[str, str]) -> str:
    """Replace ``${VAR}``, ``${VAR:-default}`` and ``${file:/path}``; ``$$`` is a literal ``$``.

    Raises KeyError naming the variable when it is unset and has no default.
    """

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        if name.startswith("file:"):
            return _read_secret_file(name[5:])
        if name in env and env[name] != "":
            return env[name]
        if default is not None:
            return default
        raise KeyError(f"environment variable {name} is not set")

    return _VAR.sub(replace, text)


def _read_secret_file(path: str) -> str:
    try:
        data = _read_bounded(Path(path), MAX_SECRET_FILE_BYTES)
    except OSError as exc:
        raise KeyError(f"cannot read secret file {path}: {exc.strerror}") from exc
    if data is None:
        raise KeyError(f"secret file {path} is larger than {MAX_SECRET_FILE_BYTES} bytes")
    try:
        return data.decode("utf-8").rstrip("\n")
    except UnicodeDecodeError as exc:
        raise KeyError(f"secret file {path} is not UTF-8 text (byte {exc.start})") from exc


def _read_bounded(path: Path, limit: int) -> bytes | None:
    """The content of ``path``, or None when it is longer than ``limit`` bytes (read no further)."""
    with path.open("rb") as handle:
        data = handle.read(limit + 1)
    return None if len(data) > limit else data


def _interpolate_tree(
    value: Any, loc: tuple[Any, ...], env: dict[str, str], issues: list[tuple[Any, ...]]
) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate_tree(v, (*loc, k), env, issues) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate_tree(v, (*loc, i), env, issues) for i, v in enumerate(value)]
    if isinstance(value, str) and "$" in value:
        try:
            return interpolate(value, env)
        except KeyError as exc:
            issues.append((loc, str(exc.args[0])))
            # Validation goes on with the references left empty, so that the rest of the file and
            # this value's other problems are still reported in the same run.
            return _VAR.sub(lambda match: "$" if match.group(0) == "$$" else "", value)
    return value


def parse_config(text: str, file: str | None = None, env: dict[str, str] | None = None) -> Config:
    """Validate YAML text into a :class:`Config`, raising :class:`ConfigError` with every issue."""
    return check_config(text, file, env).config


@dataclass(frozen=True)
class LoadedConfig:
    """A valid config and the warnings about its file (literal secrets)."""

    config: Config
    warnings: list[ConfigIssue]


def check_config(text: str, file: str | None = None, env: dict[str, str] | None = None) -> LoadedConfig:
    """The one path from YAML text to a config, for ``validate`` and start-up alike.

    Raises :class:`ConfigError` with every problem of the file (see :mod:`logflume.configtools.issues`)
    and its warnings.
    """
    env = dict(os.environ) if env is None else env
    try:
        data, root = safeyaml.load(text)
    except safeyaml.YamlLimitError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark is not None else None
        raise ConfigError([ConfigIssue("", f"refused: {exc.problem}", line)], file) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigError([ConfigIssue("", f"not valid YAML: {exc}", line)], file) from exc
    if not isinstance(data, dict):
        raise ConfigError([ConfigIssue("", "the config must be a mapping of keys", 1)], file)
    return _validate(data, root, file, env)


def _validate(
    data: dict[str, Any], root: yaml.Node | None, file: str | None, env: dict[str, str]
) -> LoadedConfig:
    schema = config_schema()
    warnings = literal_secrets(schema, data, root, _VAR)
    env_issues: list[tuple[Any, ...]] = []
    data = _interpolate_tree(data, (), env, env_issues)
    earlier = [(loc, message) for loc, message in env_issues]
    config, issues = collect(Config, schema, data, root, earlier, ROOT_READS)
    if not isinstance(config, Config):
        raise ConfigError(issues, file, warnings)
    return LoadedConfig(config, warnings)


@functools.cache
def config_schema() -> dict[str, Any]:
    """The JSON Schema of the config file (``logflume config schema``); callers must not change it."""
    return build_schema(Config, "logflume configuration")


def load_config(path: str | Path, env: dict[str, str] | None = None) -> Config:
    """Read and validate a config file."""
    return read_config(path, env).config


def load_config_or_default(path: str | Path | None) -> Config:
    """``-c FILE`` when given, else the embedded default (what every command starts from)."""
    return read_config(path).config


def read_config(path: str | Path | None, env: dict[str, str] | None = None) -> LoadedConfig:
    """``-c FILE`` (or the embedded default when None) with its warnings: ``validate`` and ``run``."""
    if path is None:
        return check_config(default_config_text(), "<embedded default>", env)
    try:
        data = _read_bounded(Path(path), safeyaml.MAX_DOCUMENT_BYTES)
    except OSError as exc:
        raise ConfigError([ConfigIssue("", f"cannot read config: {exc.strerror}")], str(path)) from exc
    if data is None:
        message = f"refused: the file is larger than {safeyaml.MAX_DOCUMENT_BYTES} bytes"
        raise ConfigError([ConfigIssue("", message)], str(path))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        message = f"not UTF-8 text: invalid byte at offset {exc.start}"
        raise ConfigError([ConfigIssue("", message)], str(path)) from exc
    return check_config(text, str(path), env)


def log_warnings(loaded: LoadedConfig, file: str | Path | None) -> None:
    """Log the warnings about a config file (start-up; ``validate`` prints them)."""
    for warning in loaded.warnings:
        log.warning(
            "Config file warning.",
            extra={"file": str(file or "<embedded default>"), "key": warning.path, "line": warning.line,
                   "warning": warning.message},
        )  # fmt: skip


def default_config_text() -> str:
    """The embedded default config (local files in, local files out)."""
    return (Path(__file__).parent / "default.yaml").read_text()
