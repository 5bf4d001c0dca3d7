"""The configuration reference: the JSON Schema covers every key of the models, and the docs match it."""

from __future__ import annotations

import json
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from logflume.config import Config, config_schema
from logflume.configtools.docs import COMMAND, render
from logflume.configtools.schema import format_duration, format_size
from logflume.configtools.walk import NO_DEFAULT, iter_keys
from logflume.units import parse_duration, parse_size

DOCS = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def model_fields(model: type[BaseModel], seen: set[type[BaseModel]] | None = None) -> set[tuple[str, str]]:
    """(model name, key) of every field of ``model`` and of every model its fields hold."""
    seen = set() if seen is None else seen
    if model in seen:
        return set()
    seen.add(model)
    found = set()
    for name, info in model.model_fields.items():
        found.add((model.__name__, info.alias or name))
        for inner in models_in(info.annotation):
            found |= model_fields(inner, seen)
    return found


def models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in typing.get_args(annotation) for model in models_in(arg)]


class TestSchema:
    def test_every_field_of_every_model_is_a_key(self) -> None:
        """Walking the schema finds exactly the fields of all models reachable from the config."""
        keys = {(key.owner or Config.__name__, key.name) for key in iter_keys(config_schema())}
        assert model_fields(Config) == keys

    def test_every_key_has_a_description(self) -> None:
        """No key of the schema lacks a description."""
        assert [] == [key.path for key in iter_keys(config_schema()) if not key.node.get("description")]

    def test_every_optional_key_has_its_default(self) -> None:
        """Every key that may be left out has its default in the schema, factory-made ones too."""
        keys = iter_keys(config_schema())
        assert [] == [key.path for key in keys if not key.required and key.default is NO_DEFAULT]

    def test_units_are_explained_and_defaults_written_with_them(self) -> None:
        """Durations and sizes refer to one definition each, and their defaults carry a unit."""
        schema = config_schema()
        s3 = schema["$defs"]["S3SinkConfig"]["properties"]
        assert (
            {"$ref": "#/$defs/Duration", "default": "500ms"},
            {"max_events": 20000, "max_bytes": "8MiB", "timeout": "1m"},
            ["number", "string"],
        ) == (
            {k: schema["properties"]["checkpoint_interval"][k] for k in ("$ref", "default")},
            s3["batch"]["default"],
            schema["$defs"]["Duration"]["type"],
        )

    def test_sinks_are_a_discriminated_union(self) -> None:
        """Each sink type is its own variant, chosen by `type`."""
        items = config_schema()["properties"]["sinks"]["items"]
        assert ("type", ["file", "elasticsearch", "postgres", "s3"]) == (
            items["discriminator"]["propertyName"],
            [ref["$ref"].rsplit("/", 1)[1].removesuffix("SinkConfig").lower() for ref in items["oneOf"]],
        )

    def test_command_prints_the_schema(self) -> None:
        """`logflume config schema` prints the schema as JSON."""
        result = subprocess.run(
            [sys.executable, "-m", "logflume", "config", "schema"], capture_output=True, text=True, check=True
        )
        assert config_schema() == json.loads(result.stdout)


class TestUnits:
    @pytest.mark.parametrize(
        ("seconds", "text"),
        [(0.5, "500ms"), (0.2, "200ms"), (30.0, "30s"), (60.0, "1m"), (900.0, "15m"), (86400.0, "1d"),
         (0.0, "0s"), (1.5, "1500ms"), (0.0001, "0.0001s")],
    )  # fmt: skip
    def test_duration_round_trip(self, seconds: float, text: str) -> None:
        """A duration is written with the largest unit that divides it, and reads back the same."""
        assert (text, seconds) == (format_duration(seconds), parse_duration(format_duration(seconds)))

    @pytest.mark.parametrize(
        ("size", "text"),
        [(1024, "1KiB"), (10 * 1000**2, "10MB"), (32 * 1024**2, "32MiB"), (1024**3, "1GiB"), (100, "100B"),
         (0, "0B")],
    )  # fmt: skip
    def test_size_round_trip(self, size: int, text: str) -> None:
        """A size is written with the largest unit that divides it, and reads back the same."""
        assert (text, size) == (format_size(size), parse_size(format_size(size)))


class TestDocs:
    def test_committed_docs_are_current(self) -> None:
        """docs/configuration.md is what the models generate today."""
        assert DOCS.read_text() == render(config_schema()), (
            f"docs/configuration.md is stale: run `{COMMAND}` and commit the result"
        )

    def test_every_key_is_documented(self) -> None:
        """Every key path of the schema has a row in the reference."""
        text = render(config_schema())
        assert [] == [key.path for key in iter_keys(config_schema()) if f"| `{key.path}` |" not in text]

    def test_command_writes_the_file(self, tmp_path: Path) -> None:
        """`logflume config docs -o FILE` writes the reference to FILE."""
        out = tmp_path / "configuration.md"
        subprocess.run([sys.executable, "-m", "logflume", "config", "docs", "-o", str(out)], check=True)
        assert render(config_schema()) == out.read_text()
