"""The top-level config: loading YAML, interpolating the environment, validating into models.

``load_config`` is the one path used by ``logflume validate`` and by start-up. Every problem is
reported with its YAML key path (``sinks[0].rotation.max_size``) and line.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import Field, ValidationError, model_validator

from logflume import safeyaml
from logflume.alerts.config import AlertsConfig
from logflume.errors import ConfigError, ConfigIssue
from logflume.models import StrictModel
from logflume.ops.config import HttpConfig
from logflume.pipeline.config import PipelineConfig
from logflume.sinks.registry import SINK_TYPES
from logflume.sources.config import SourceConfig
from logflume.units import Duration

_sink_models = tuple(model for model, _ in SINK_TYPES.values())
SinkConfig = (
    Annotated[Union[_sink_models], Field(discriminator="type")]  # noqa: UP007
    if len(_sink_models) > 1
    else _sink_models[0]
)


class DeadLetterConfig(StrictModel):
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
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "INFO", description="Own log level."
    )
    format: Literal["auto", "json", "text"] = Field(
        "auto", description="auto: text on a terminal, else JSON."
    )
    levels: dict[str, Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]] = Field(
        default_factory=dict, description="Per-logger levels, e.g. {logflume.sinks: DEBUG}."
    )


class Config(StrictModel):
    state_dir: Path = Field(..., description="Checkpoints, buffers and detector state live here.")
    sources: list[SourceConfig] = Field(..., min_length=1)
    sinks: list[SinkConfig] = Field(..., min_length=1)  # type: ignore[valid-type]
    pipeline: PipelineConfig = Field(default_factory=PipelineConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    dead_letter: DeadLetterConfig = Field(default_factory=DeadLetterConfig)
    log: LogConfig = Field(default_factory=LogConfig)
    http: HttpConfig = Field(
        default_factory=HttpConfig, description="The local endpoint: metrics, health, tap."
    )
    checkpoint_interval: Duration = Field(0.5, gt=0, description="How often acknowledged offsets are saved.")
    shutdown_timeout: Duration = Field(30.0, gt=0, description="SIGTERM drains for at most this long.")
    queue_chunks: int = Field(
        4, gt=0, le=256, description="Read chunks waiting for the pipeline before readers pause."
    )

    @model_validator(mode="after")
    def _unique_names(self) -> Config:
        for kind, items in (("sources", self.sources), ("sinks", self.sinks)):
            seen: set[str] = set()
            for item in items:
                if item.name in seen:
                    raise ValueError(f"{kind}: duplicate name {item.name!r}")
                seen.add(item.name)
        return self

    @model_validator(mode="after")
    def _rules_name_channels(self) -> Config:
        # An alert rule naming a channel that does not exist would only be noticed when it fires.
        anomaly = self.pipeline.anomaly
        rules = anomaly.rules if anomaly is not None else []
        named = [(f"anomaly {rule.name!r}", rule.channels) for rule in rules]
        if anomaly is not None and anomaly.statistical is not None:
            named.append(("anomaly 'statistical'", anomaly.statistical.channels))
        named.append(("pipeline.audit", self.pipeline.audit.channels))
        for owner, channels in named:
            unknown = [name for name in channels if name not in self.alerts.channels]
            if unknown:
                names = ", ".join(unknown)
                raise ValueError(f"{owner} names unknown alert channels: {names}")
        return self

    @model_validator(mode="after")
    def _routes_name_sinks(self) -> Config:
        # A route to a sink that does not exist would silently lose the routed events.
        sinks: list[Any] = self.sinks
        unknown = sorted(self.pipeline.filter.route_sinks() - {sink.name for sink in sinks})
        if unknown:
            raise ValueError(f"pipeline.filter routes to unknown sinks: {', '.join(unknown)}")
        return self

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


def format_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _node_line(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the YAML node at ``loc`` (or of its nearest existing parent)."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == part:
                    line = key.start_mark.line + 1
                    node = value
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


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
    return value


def _clean_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    # A discriminated union adds its tag to the location (sinks.0.file.path): drop it.
    if len(loc) > 2 and loc[0] == "sinks" and isinstance(loc[1], int) and loc[2] in SINK_TYPES:
        return (*loc[:2], *loc[3:])
    return loc


def parse_config(text: str, file: str | None = None, env: dict[str, str] | None = None) -> Config:
    """Validate YAML text into a :class:`Config`, raising :class:`ConfigError` with every issue."""
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
    env_issues: list[tuple[Any, ...]] = []
    data = _interpolate_tree(data, (), env, env_issues)
    if env_issues:
        issues = [ConfigIssue(format_path(loc), msg, _node_line(root, loc)) for loc, msg in env_issues]
        raise ConfigError(issues, file)
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        issues = []
        for err in exc.errors(include_url=False):
            loc = _clean_loc(tuple(err["loc"]))
            message = err["msg"]
            if err["type"] == "extra_forbidden":
                message = "unknown key"
            elif err["type"] == "missing":
                message = "required key is missing"
            issues.append(ConfigIssue(format_path(loc), message, _node_line(root, loc)))
        raise ConfigError(issues, file) from exc


def load_config(path: str | Path, env: dict[str, str] | None = None) -> Config:
    """Read and validate a config file (at most ``safeyaml.MAX_DOCUMENT_BYTES`` of UTF-8 text)."""
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
    return parse_config(text, str(path), env)


def load_config_or_default(path: str | Path | None) -> Config:
    """``-c FILE`` when given, else the embedded default (what every command starts from)."""
    if path is None:
        return parse_config(default_config_text(), "<embedded default>")
    return load_config(path)


def default_config_text() -> str:
    """The embedded default config (local files in, local files out)."""
    return (Path(__file__).parent / "default.yaml").read_text()
