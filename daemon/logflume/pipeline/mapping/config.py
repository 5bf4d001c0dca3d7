"""The mapping language: how a source's log lines become canonical events (``mapping:`` of a source).

::

    mapping:
      absent: ["", "-"]                 # values that count as "not logged"
      fields:                           # target: rule, applied in order
        request_id: id                  # copy (a dotted path reaches into objects)
        user_id: {from: [end_user, metadata.user_api_key_user_id]}   # first present wins
        status_code: {from: status, type: int}
        response_time_ms: {from: duration, type: duration, unit: s}
        response_time_ms: {compute: "(endTime - startTime) * 1000"}
        timestamp: {from: startTime, type: timestamp}
        level: {from: status_code, type: status_level}
        level: {from: status, map: {success: INFO, failure: ERROR}}
      drop: [messages, response]        # source fields removed after the rules

A preset (``preset: litellm``) is a file in exactly this language (``pipeline/mapping/presets``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from logflume.errors import ConditionError
from logflume.models import StrictModel
from logflume.pipeline.filter.arithmetic import compile_arithmetic
from logflume.pipeline.mapping.convert import to_number
from logflume.pipeline.paths import check_path

RuleType = Literal["auto", "string", "int", "float", "bool", "timestamp", "duration", "path", "status_level"]
MapValue = str | int | float | bool


class FieldRule(StrictModel):
    """Where one target field's value comes from and how it is converted."""

    from_: str | list[str] | None = Field(
        None,
        alias="from",
        description="Source path (dotted paths reach into objects; `name[0]` takes a list's first item), "
        "or a list of paths: the first present one is used.",
    )
    compute: str | None = Field(
        None,
        description="Arithmetic over fields (+ - * /, parentheses, numbers), e.g. '(endTime - startTime) "
        "* 1000'. Times in fields count as epoch seconds. Absent when a field it reads is absent.",
    )
    value: MapValue | None = Field(
        None, description="A constant (e.g. the provider of a one-provider proxy)."
    )
    type: RuleType = Field(
        "auto",
        description="Conversion: auto (as read), string, int, float, bool, timestamp (ISO 8601 UTC out), "
        "duration (milliseconds out), path (request path without query string), "
        "status_level (HTTP status → ERROR 5xx / WARNING 4xx / INFO).",
    )
    unit: Literal["s", "ms", "us", "µs", "ns"] | None = Field(
        None,
        description="duration: the unit of bare numbers (strings like '1.5s' carry their own); "
        "timestamp: the epoch unit of numbers (default: told by magnitude).",
    )
    map: dict[str, MapValue] | None = Field(
        None,
        description="Value table applied before the conversion, e.g. {success: INFO, failure: ERROR}; "
        "a value not in it is an error.",
    )
    keep_existing: bool = Field(
        False, description="Only fill the target when the event has no value there (derive when absent)."
    )
    on_error: Literal["dead_letter", "omit"] = Field(
        "dead_letter",
        description="A value that does not convert: dead-letter the event (with the reason), or leave "
        "the target absent.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> FieldRule:
        given = [name for name, value in (("from", self.from_), ("compute", self.compute)) if value]
        if self.value is not None:
            given.append("value")
        if len(given) != 1:
            got = ", ".join(given) or "none"
            raise ValueError(f"a rule needs exactly one of from, compute, value (got {got})")
        if self.type == "duration" and self.unit is None and self.compute is not None:
            raise ValueError("type duration of a computed number needs a unit")
        if self.unit is not None and self.type not in ("duration", "timestamp"):
            raise ValueError("unit is only for type duration or timestamp")
        return self

    @field_validator("from_")
    @classmethod
    def _paths(cls, value: str | list[str] | None) -> str | list[str] | None:
        paths = [value] if isinstance(value, str) else value or []
        if isinstance(value, list) and not value:
            raise ValueError("a list of paths cannot be empty")
        for path in paths:
            check_path(path.replace("[", ".").replace("]", ""))
        return value

    @field_validator("compute")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                compile_arithmetic(value, to_number)
            except ConditionError as exc:
                raise ValueError(f"invalid expression: {exc}") from exc
        return value

    def sources(self) -> list[str]:
        if self.from_ is None:
            return []
        return [self.from_] if isinstance(self.from_, str) else list(self.from_)


def _shorthand_schema(schema: dict[str, Any]) -> None:
    # The JSON Schema shows what `_shorthand` accepts: a path or a list of paths stands for {from: …}.
    rule = schema["additionalProperties"]
    schema["additionalProperties"] = {
        "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}, rule]
    }


class MappingConfig(StrictModel):
    """Rules turning a source's own log shape into canonical fields; originals are kept."""

    fields: dict[str, FieldRule] = Field(
        default_factory=dict,
        description="Target field → rule (a string is a source path to copy), applied in order: a rule "
        "reads the event as the earlier rules left it.",
        json_schema_extra=_shorthand_schema,
    )
    drop: list[str] = Field(
        default_factory=list, description="Source paths removed after the rules (rename = map + drop)."
    )
    absent: list[str] = Field(
        default_factory=lambda: [""],
        description="String values that mean 'not logged' (access logs write '-'): treated as absent.",
    )

    @field_validator("fields", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {
                key: {"from": rule} if isinstance(rule, str | list) else rule for key, rule in value.items()
            }
        return value

    @field_validator("fields")
    @classmethod
    def _targets(cls, value: dict[str, FieldRule]) -> dict[str, FieldRule]:
        for target in value:
            check_path(target)
            if target == "logflume" or target.startswith("logflume."):
                raise ValueError(f"target {target!r}: the key 'logflume' is the daemon's own metadata")
        return value

    @field_validator("drop")
    @classmethod
    def _drop_paths(cls, value: list[str]) -> list[str]:
        return [check_path(path) for path in value]
