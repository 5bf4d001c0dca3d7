"""The index template: mappings for the LLM-proxy log fields, shared by both flavours.

Ids and enumerations are ``keyword`` (exact match, aggregations), measurements are numbers,
times are ``date``. Numbers, ``timestamp`` and the client address get ``ignore_malformed``: a proxy that once
logs ``"status_code": "N/A"`` must not lose the whole event: the value stays in ``_source`` and
the field is listed in ``_ignored``. Other strings map to ``keyword`` (logs are filtered, rarely
searched as prose), except ``message``, which is full text.
"""

from __future__ import annotations

from typing import Any

from logflume.events import META_KEY

KEYWORD_FIELDS = (
    "level", "logger", "module", "function", "provider", "model", "request_id", "user_id", "trace_id",
    "span_id", "endpoint", "method", "operation", "cache_key", "provider_name", "api_call",
)
LONG_FIELDS = (
    "tokens", "tokens_used", "prompt_tokens", "completion_tokens", "line", "request_size_bytes",
    "response_size_bytes", "rate_limit_remaining", "retry_count", "cache_ttl", "entries_count",
)
INTEGER_FIELDS = ("status_code",)
DOUBLE_FIELDS = ("response_time_ms", "duration_ms", "cost_usd", "memory_usage_mb", "hit_rate")
BOOLEAN_FIELDS = ("cache_hit",)

# Longest string kept in a keyword's index (longer ones stay in _source only): Lucene refuses
# terms over 32 KiB, and a prompt pasted into a field would otherwise reject the event.
_IGNORE_ABOVE = 1024


def _keyword() -> dict[str, Any]:
    return {"type": "keyword", "ignore_above": _IGNORE_ABOVE}


def mappings() -> dict[str, Any]:
    """The ``mappings`` section of the template."""
    properties: dict[str, Any] = {name: _keyword() for name in KEYWORD_FIELDS}
    properties.update({name: {"type": "long", "ignore_malformed": True} for name in LONG_FIELDS})
    properties.update({name: {"type": "integer", "ignore_malformed": True} for name in INTEGER_FIELDS})
    properties.update({name: {"type": "double", "ignore_malformed": True} for name in DOUBLE_FIELDS})
    properties.update({name: {"type": "boolean"} for name in BOOLEAN_FIELDS})
    # @timestamp is always valid (the sink writes it); the proxy's own field may not be.
    properties["@timestamp"] = {"type": "date"}
    properties["timestamp"] = {"type": "date", "ignore_malformed": True}
    properties["message"] = {"type": "text"}
    properties["user_agent"] = _keyword()
    properties["ip_address"] = {"type": "ip", "ignore_malformed": True}
    properties[META_KEY] = {
        "properties": {
            "event_id": _keyword(),
            "source": _keyword(),
            "file": _keyword(),
            "offset": {"type": "long"},
            "ingested_at": {"type": "date"},
            "type": _keyword(),
        }
    }
    return {
        "dynamic_templates": [
            {"strings_as_keyword": {"match_mapping_type": "string", "mapping": _keyword()}},
        ],
        "properties": properties,
    }


def index_template(
    pattern: str,
    *,
    priority: int,
    data_stream: bool,
    shards: int | None = None,
    replicas: int | None = None,
) -> dict[str, Any]:
    """The body of ``PUT _index_template/<name>`` (same on Elasticsearch 8/9 and OpenSearch 2)."""
    settings: dict[str, Any] = {}
    if shards is not None:
        settings["number_of_shards"] = shards
    if replicas is not None:
        settings["number_of_replicas"] = replicas
    template: dict[str, Any] = {"mappings": mappings()}
    if settings:
        template["settings"] = {"index": settings}
    body: dict[str, Any] = {
        "index_patterns": [pattern],
        "priority": priority,
        "template": template,
        "_meta": {"managed_by": "logflume"},
    }
    if data_stream:
        body["data_stream"] = {}
    return body
