"""The canonical event schema: the field names and types everything downstream reads.

The seed proxy's log line defines it. Aggregates, anomaly detectors, the sinks' typed columns,
``analyze``/``query`` and the shipped dashboards read these names; a source whose logs look
different is mapped onto them (:mod:`logflume.pipeline.mapping`, presets for common gateways).

Absent information stays absent: a field is left out rather than given a made-up value (no
``status_code`` for a request whose log has none, no provider guessed from a URL).

A leaf module: it imports nothing of logflume's, so any layer may read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

FieldType = Literal["timestamp", "string", "int", "float", "bool"]


@dataclass(frozen=True)
class CanonicalField:
    name: str
    type: FieldType
    description: str


FIELDS: tuple[CanonicalField, ...] = (
    CanonicalField("timestamp", "timestamp", "When the request started (ISO 8601, UTC, 'Z')."),
    CanonicalField("level", "string", "DEBUG, INFO, WARNING, ERROR or CRITICAL."),
    CanonicalField("logger", "string", "The writing component's logger name."),
    CanonicalField("message", "string", "Human-readable message."),
    CanonicalField("request_id", "string", "The request's id, as the gateway or proxy assigned it."),
    CanonicalField("user_id", "string", "The calling user (or end user) id."),
    CanonicalField("provider", "string", "LLM provider (openai, anthropic, bedrock, ...)."),
    CanonicalField("model", "string", "Model name as requested."),
    CanonicalField("tokens", "int", "Total tokens of the request."),
    CanonicalField("prompt_tokens", "int", "Prompt (input) tokens, where known."),
    CanonicalField("completion_tokens", "int", "Completion (output) tokens, where known."),
    CanonicalField("response_time_ms", "float", "Time to the complete response, milliseconds."),
    CanonicalField("status_code", "int", "HTTP status code returned to the client."),
    CanonicalField("ip_address", "string", "The client's IP address."),
    CanonicalField("user_agent", "string", "The client's User-Agent."),
    CanonicalField("endpoint", "string", "Request path, without the query string."),
    CanonicalField("method", "string", "HTTP method."),
    CanonicalField("cache_hit", "bool", "Whether the response was served from a cache."),
    CanonicalField("cost_usd", "float", "Cost of the request in US dollars."),
    CanonicalField("trace_id", "string", "Distributed-trace id."),
    CanonicalField("span_id", "string", "Span id within the trace."),
)
BY_NAME: dict[str, CanonicalField] = {field.name: field for field in FIELDS}
NAMES: tuple[str, ...] = tuple(BY_NAME)
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "timestamp": (str,),
    "string": (str,),
    "int": (int,),
    "float": (float, int),
    "bool": (bool,),
}


def type_problems(event: dict[str, Any]) -> list[str]:
    """The canonical fields of ``event`` whose value has the wrong type (absent fields are fine).

    ``int`` excludes ``bool`` (JSON true is not the number 1); ``float`` accepts integers.
    """
    problems = []
    for name, value in event.items():
        field = BY_NAME.get(name)
        if field is None:
            continue
        allowed = _PYTHON_TYPES[field.type]
        wrong_bool = type(value) is bool and field.type != "bool"
        if wrong_bool or not isinstance(value, allowed):
            problems.append(f"{name}: {type(value).__name__} is not {field.type}")
    return problems
