"""The example configs under config/examples/ validate, and their sources map real sample lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from logflume.canonical import type_problems
from logflume.config import load_config
from logflume.errors import ConfigError
from logflume.events import Ack, RawChunk
from logflume.pipeline.mapping import build_mapper
from logflume.pipeline.parse import Parser

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "config" / "examples"
SAMPLES = ROOT / "tests" / "fixtures" / "gateways"
# Secrets the examples take from the environment.
ENV = {"ES_API_KEY": "k", "PGPASSWORD": "p", "OPENSEARCH_PASSWORD": "o"}
EXPECTED = {
    "litellm-elasticsearch.yaml": ("litellm", "elasticsearch"),
    "kong-postgres.yaml": ("kong", "postgres"),
    "nginx-s3.yaml": ("nginx", "s3"),
    "sidecar-gateway.yaml": ("traefik", "elasticsearch"),
}


class TestExamples:
    def test_every_example_is_listed(self) -> None:
        """The examples here are exactly the documented set."""
        assert sorted(EXPECTED) == sorted(path.name for path in EXAMPLES.glob("*.yaml"))

    @pytest.mark.parametrize("name", sorted(EXPECTED))
    def test_validates(self, name: str) -> None:
        """Each example is a valid config: its gateway's preset in, its backend out."""
        config = load_config(EXAMPLES / name, env=ENV)
        sinks: list[object] = list(config.sinks)
        assert EXPECTED[name] == (config.sources[0].preset, getattr(sinks[0], "type", None))

    def test_secrets_come_from_the_environment(self) -> None:
        """Without its secret's variable an example does not validate (nothing is hard-coded)."""
        with pytest.raises(ConfigError) as info:
            load_config(EXAMPLES / "kong-postgres.yaml", env={})
        assert ["sinks[0].password"] == [issue.path for issue in info.value.issues]

    @pytest.mark.parametrize("name", sorted(EXPECTED))
    def test_source_maps_the_gateway_samples(self, name: str) -> None:
        """The example's source (preset plus its own mapping) maps its gateway's sample lines, none
        dead-lettered, every canonical field of the right type."""
        source = load_config(EXAMPLES / name, env=ENV).sources[0]
        assert source.preset is not None
        data = (SAMPLES / f"{source.preset}.jsonl").read_bytes()
        chunk = RawChunk(source.name, "feed", "sample", 0, data, Ack("feed", len(data), lambda a: None))
        events, dead = Parser(mapper=build_mapper(source.preset, source.mapping))(chunk, 0.0)
        assert ([], len(data.splitlines())) == ([d.reason for d in dead], len(events))
        assert [[]] * len(events) == [type_problems(event) for event in events]

    def test_kong_example_keeps_names_not_objects(self) -> None:
        """The Kong example keeps route and service names and drops Kong's repeated objects."""
        source = load_config(EXAMPLES / "kong-postgres.yaml", env=ENV).sources[0]
        data = (SAMPLES / "kong.jsonl").read_bytes().splitlines()[0] + b"\n"
        chunk = RawChunk("kong", "feed", "sample", 0, data, Ack("feed", len(data), lambda a: None))
        (event,), _ = Parser(mapper=build_mapper(source.preset, source.mapping))(chunk, 0.0)
        assert ("example_route", "example_service", False, False) == (
            event["route_name"], event["service_name"], "route" in event, "tries" in event
        )  # fmt: skip

    def test_litellm_example_drops_prompts(self) -> None:
        """The LiteLLM example keeps prompts and completions out of the index."""
        source = load_config(EXAMPLES / "litellm-elasticsearch.yaml", env=ENV).sources[0]
        data = (SAMPLES / "litellm.jsonl").read_bytes()
        chunk = RawChunk("litellm", "feed", "sample", 0, data, Ack("feed", len(data), lambda a: None))
        events, _ = Parser(mapper=build_mapper(source.preset, source.mapping))(chunk, 0.0)
        assert [(False, False)] * 4 == [("messages" in e, "response" in e) for e in events]
