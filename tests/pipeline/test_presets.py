"""Presets over real sample lines of each gateway: every canonical field right, nothing dead-lettered.

The samples are in tests/fixtures/gateways/ (SOURCES.md there cites repository, path and commit
of each line and says how adapted ones were changed). Expected values are read off the samples.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from logflume.canonical import NAMES, type_problems
from logflume.events import META_KEY, Ack, Event, RawChunk
from logflume.pipeline.mapping import MappingConfig, build_mapper, load_preset, preset_names
from logflume.pipeline.mapping.presets import PRESET_DIR
from logflume.pipeline.parse import Parser

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "gateways"
# Computed from two times (float epoch seconds): exact to well under a microsecond.
COMPUTED = {"response_time_ms"}


def parse_sample(preset: str) -> tuple[list[Event], list[Any]]:
    data = (SAMPLES / f"{preset}.jsonl").read_bytes()
    chunk = RawChunk(
        preset, "feed", str(SAMPLES / f"{preset}.jsonl"), 0, data, Ack("feed", len(data), lambda a: None)
    )
    return Parser(mapper=build_mapper(preset, None))(chunk, 0.0)


def canonical(event: Event) -> dict[str, Any]:
    return {name: event[name] for name in NAMES if name in event}


def assert_canonical(expected: list[dict[str, Any]], events: list[Event]) -> None:
    actual = [canonical(event) for event in events]
    assert [sorted(e) for e in expected] == [sorted(a) for a in actual]
    for want, got in zip(expected, actual, strict=True):
        for name, value in want.items():
            if name in COMPUTED:
                assert value == pytest.approx(got[name], abs=1e-3), name
            else:
                assert (value, type(value)) == (got[name], type(got[name])), name
    assert [[] for _ in events] == [type_problems(event) for event in events]


LITELLM = [
    {
        "request_id": "chatcmpl-fa9be5b7-9487-46ab-86de-6462d578fea1",
        "timestamp": "2025-06-22T17:59:08.162725Z",
        "response_time_ms": 236.798,
        "level": "INFO",
        "provider": "bedrock",
        "model": "arn:aws:bedrock:us-west-2:1234567890123:inference-profile/"
        "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
        "tokens": 81,
        "prompt_tokens": 14,
        "completion_tokens": 67,
        "cost_usd": 0.001047,
        "trace_id": "4c97150b-b1a3-4dec-bd7a-734786b1b3bc",
    },
    {
        "request_id": "chatcmpl-2299b6a2-82a3-465a-b47c-04e685a2227f",
        "timestamp": "2025-01-24T09:20:46.847371Z",
        "response_time_ms": 4.583,
        "level": "INFO",
        "provider": "openai",
        "model": "gpt-4o",
        "tokens": 30,
        "prompt_tokens": 10,
        "completion_tokens": 20,
        "cost_usd": 0.00022500000000000002,
    },
    {
        "request_id": "test_id",
        "timestamp": "2009-02-13T23:31:30.000Z",
        "response_time_ms": 1000.0,
        "level": "INFO",
        "model": "gpt-3.5-turbo",
        "tokens": 30,
        "prompt_tokens": 20,
        "completion_tokens": 10,
        "cost_usd": 0.1,
        "cache_hit": False,
        "user_id": "test_user",
        "ip_address": "127.0.0.1",
    },
    {
        "request_id": "chatcmpl-fa9be5b7-9487-46ab-86de-6462d578fea1-failure",
        "timestamp": "2025-06-22T17:59:08.162725Z",
        "response_time_ms": 236.798,
        "level": "ERROR",
        "status_code": 500,
        "message": "Test error message",
        "provider": "bedrock",
        "model": "arn:aws:bedrock:us-west-2:1234567890123:inference-profile/"
        "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
        "tokens": 0,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "cost_usd": 0.0,
        "trace_id": "4c97150b-b1a3-4dec-bd7a-734786b1b3bc",
    },
]

_KONG_BASE = {
    "request_id": "2f6946328ffc4946b8c9120704a4a155",
    "timestamp": "2024-09-19T22:10:39.538Z",
    "response_time_ms": 173.0,
    "user_agent": "HTTPie/3.2.3",
}
KONG = [
    {**_KONG_BASE, "status_code": 200, "level": "INFO", "method": "GET", "endpoint": "/example-route",
     "ip_address": "192.168.65.1"},
    {**_KONG_BASE, "status_code": 200, "level": "INFO", "method": "POST",
     "endpoint": "/openai/llm/v1/chat/good", "ip_address": "127.0.0.1", "provider": "openai",
     "model": "gpt-3.5-turbo", "tokens": 37, "prompt_tokens": 25, "completion_tokens": 12,
     "cost_usd": 0.00037},
    {**_KONG_BASE, "status_code": 502, "level": "ERROR", "method": "GET", "endpoint": "/example-route",
     "ip_address": "192.168.65.1"},
]  # fmt: skip

_CADDY_BASE = {
    "timestamp": "2022-03-09T21:30:01.524102Z",
    "logger": "http.log.access",
    "message": "handled request",
    "ip_address": "127.0.0.1",
    "user_agent": "curl/7.82.0",
}
CADDY = [
    {**_CADDY_BASE, "response_time_ms": 0.929675, "status_code": 200, "level": "INFO", "method": "GET",
     "endpoint": "/"},
    {"message": "handled request", "response_time_ms": 50.0, "status_code": 0, "level": "INFO",
     "trace_id": "1234567890abcdef", "span_id": "12345678"},
    {**_CADDY_BASE, "response_time_ms": 0.929675, "status_code": 404, "level": "WARNING", "method": "GET",
     "endpoint": "/v1/models/missing"},
    {**_CADDY_BASE, "response_time_ms": 1503.0, "status_code": 502, "level": "ERROR", "method": "POST",
     "endpoint": "/v1/chat/completions"},
]  # fmt: skip

TRAEFIK = [
    {"timestamp": "2024-01-15T10:30:15.123456Z", "response_time_ms": 1.234567, "status_code": 123,
     "level": "INFO", "method": "POST", "endpoint": "testpath", "ip_address": "TestHost",
     "user_agent": "testUserAgent", "user_id": "TestUser", "trace_id": "01000000000000000000000000000000",
     "span_id": "0100000000000000"},
    {"timestamp": "2024-01-15T10:31:00.500Z", "response_time_ms": 30002.345678, "status_code": 502,
     "level": "ERROR", "method": "POST", "endpoint": "/v1/chat/completions", "ip_address": "10.0.0.5",
     "user_agent": "testUserAgent"},
    {"timestamp": "2024-01-15T10:32:00.000Z", "response_time_ms": 0.85, "status_code": 404,
     "level": "WARNING", "method": "GET", "endpoint": "/v1/models/missing", "ip_address": "10.0.0.5",
     "user_agent": "testUserAgent"},
]  # fmt: skip

NGINX = [
    {"request_id": "e998cd20de9962239ef6a3194e9d6bca", "timestamp": "2026-12-05T17:11:14.328Z",
     "response_time_ms": 0.0, "status_code": 200, "level": "INFO", "method": "POST",
     "endpoint": "/v1/chat/completions", "ip_address": "127.0.0.1", "user_agent": "OpenAI/Python 1.84.0"},
    {"request_id": "aa56158d6aabdaf8c2f2f28cf3579405", "timestamp": "2026-12-05T17:11:14.348Z",
     "response_time_ms": 0.0, "status_code": 404, "level": "WARNING", "method": "GET",
     "endpoint": "/models/unknown", "ip_address": "127.0.0.1", "user_agent": "curl/7.88.1"},
    {"request_id": "41d7c4c51083951a88ba69acc001a6ee", "timestamp": "2026-12-05T17:11:14.360Z",
     "response_time_ms": 0.0, "status_code": 200, "level": "INFO", "method": "GET",
     "endpoint": "/private/report", "ip_address": "127.0.0.1", "user_agent": "curl/7.88.1",
     "user_id": "alice"},
    {"request_id": "2ee72ab35c4998221be4e2a52b127b80", "timestamp": "2026-12-05T17:11:14.374Z",
     "response_time_ms": 0.0, "status_code": 502, "level": "ERROR", "method": "GET",
     "endpoint": "/upstream/v1/embeddings", "ip_address": "127.0.0.1", "user_agent": 'say "hi"\\'},
    {"request_id": "d755acd93c3ce3b27095d8d0e242664d", "timestamp": "2026-12-05T17:11:19.111Z",
     "response_time_ms": 305.0, "status_code": 200, "level": "INFO", "method": "POST",
     "endpoint": "/upstream/v1/chat/completions", "ip_address": "127.0.0.1",
     "user_agent": "OpenAI/Python 1.84.0"},
]  # fmt: skip

EXPECTED = {"litellm": LITELLM, "kong": KONG, "caddy": CADDY, "traefik": TRAEFIK, "nginx": NGINX}


class TestSamples:
    @pytest.mark.parametrize("preset", sorted(EXPECTED))
    def test_every_canonical_field_from_the_samples(self, preset: str) -> None:
        """Each sample line maps to exactly the expected canonical fields, values and types."""
        events, dead = parse_sample(preset)
        assert [] == [letter.reason for letter in dead]
        assert_canonical(EXPECTED[preset], events)

    def test_every_preset_has_samples(self) -> None:
        """Every shipped preset is exercised by sample lines here."""
        assert preset_names() == sorted(EXPECTED)

    @pytest.mark.parametrize("preset", ["caddy", "traefik"])
    def test_access_log_level_is_kept_as_original(self, preset: str) -> None:
        """An access log's own level (info on a 4xx/5xx) yields to the outcome and is kept under
        logflume.original."""
        events, _ = parse_sample(preset)
        levels = [(event["level"], event[META_KEY]["original"]["level"]) for event in events]
        wanted = {
            "caddy": [("INFO", "info"), ("INFO", "info"), ("WARNING", "info"), ("ERROR", "error")],
            "traefik": [("INFO", "info"), ("ERROR", "info"), ("WARNING", "info")],
        }
        assert wanted[preset] == levels

    def test_litellm_key_metadata_is_hashes_not_keys(self) -> None:
        """LiteLLM's key hash, alias and team land in key_hash/key_alias/team_id; no raw key is read."""
        events, _ = parse_sample("litellm")
        keys = [{k: e[k] for k in ("key_hash", "key_alias", "team_id") if k in e} for e in events]
        assert [
            {"key_hash": "unused-for-aws-bedrock"},
            {},
            {"key_hash": "test_hash", "key_alias": "test_alias", "team_id": "test_team"},
            {"key_hash": "unused-for-aws-bedrock"},
        ] == keys
        rules = load_preset("litellm").fields.values()
        assert [] == [path for rule in rules for path in rule.sources() if path.endswith("user_api_key")]

    def test_litellm_nulls_leave_canonical_fields(self) -> None:
        """A null cache_hit or trace_id in the payload is no canonical value: moved to the originals."""
        events, _ = parse_sample("litellm")
        second = events[1]
        assert ("cache_hit" in second, "trace_id" in second) == (False, False)
        assert {"cache_hit": None, "trace_id": None} == second[META_KEY]["original"]

    def test_kong_llm_latency(self) -> None:
        """Kong's AI Proxy LLM latency is kept as llm_latency_ms (the request's own is response_time_ms)."""
        events, _ = parse_sample("kong")
        assert [None, 1.0, None] == [event.get("llm_latency_ms") for event in events]

    def test_originals_stay_in_place(self) -> None:
        """The source's own fields are all still there after mapping (only replaced ones move)."""
        events, _ = parse_sample("kong")
        raw = yaml.safe_load((SAMPLES / "kong.jsonl").read_text().splitlines()[1])
        assert raw["ai"] == events[1]["ai"]
        assert raw["latencies"] == events[1]["latencies"]


class TestPresetFiles:
    @pytest.mark.parametrize("name", preset_names())
    def test_preset_is_plain_mapping_data(self, name: str) -> None:
        """A preset file is the mapping language a user writes: it validates as a source's mapping."""
        data = yaml.safe_load((PRESET_DIR / f"{name}.yaml").read_text())
        assert load_preset(name) == MappingConfig.model_validate(data)

    def test_user_mapping_replaces_a_preset_rule(self) -> None:
        """A source's own rule for a target replaces the preset's, and adds its own targets."""
        own = MappingConfig.model_validate(
            {"fields": {"provider": {"value": "openai"}, "env": {"value": "prod"}}}
        )
        mapper = build_mapper("nginx", own)
        assert mapper is not None
        event: Event = {"status": "200", "request_uri": "/x?y", "msec": "10.5", "request_time": "0.5"}
        mapper(event)
        assert ("openai", "prod", "/x", 200) == (
            event["provider"],
            event["env"],
            event["endpoint"],
            event["status_code"],
        )
