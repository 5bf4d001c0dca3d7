"""Sink configs: partial batch/buffer blocks keep the type's defaults; names stay in their directory."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from logflume.sinks.registry import SINK_TYPES

# The smallest valid config of each sink type.
MINIMAL: dict[str, dict[str, Any]] = {
    "file": {"path": "./out/{source}.jsonl"},
    "elasticsearch": {"hosts": ["http://127.0.0.1:9200"]},
    "postgres": {"dsn": "postgresql://logflume@127.0.0.1/logs"},
    "s3": {"bucket": "llm-logs"},
}
TYPES = sorted(SINK_TYPES)


def build(type_key: str, **keys: Any) -> Any:
    model = SINK_TYPES[type_key][0]
    return model.model_validate({"name": "out", "type": type_key, **MINIMAL[type_key], **keys})


def test_every_type_has_a_minimal_config() -> None:
    """The table above covers every registered sink type (a new type must be added to it)."""
    assert sorted(MINIMAL) == TYPES


class TestPartialBlocks:
    @pytest.mark.parametrize("type_key", TYPES)
    def test_partial_batch_keeps_type_defaults(self, type_key: str) -> None:
        """A batch block setting only timeout keeps the type's own max_events and max_bytes."""
        default = build(type_key).batch
        partial = build(type_key, batch={"timeout": "5s"}).batch
        assert default.model_copy(update={"timeout": 5.0}) == partial

    @pytest.mark.parametrize("type_key", TYPES)
    def test_partial_buffer_keeps_type_defaults(self, type_key: str) -> None:
        """A buffer block setting only when_full keeps the type's own memory limits."""
        default = build(type_key).buffer
        partial = build(type_key, buffer={"when_full": "drop_oldest"}).buffer
        assert default.model_copy(update={"when_full": "drop_oldest"}) == partial

    @pytest.mark.parametrize("type_key", TYPES)
    def test_keys_given_win(self, type_key: str) -> None:
        """Keys set in a block override the type's defaults."""
        config = build(type_key, batch={"max_events": 7}, buffer={"max_events": 70})
        assert (7, 70) == (config.batch.max_events, config.buffer.max_events)

    def test_issue_examples(self) -> None:
        """S3 with only a batch timeout keeps 20,000-event batches; PostgreSQL keeps 5,000."""
        s3 = build("s3", batch={"timeout": "5s"}).batch
        postgres = build("postgres", batch={"timeout": "5s"}).batch
        assert (20_000, 8 * 1024**2, 5_000) == (s3.max_events, s3.max_bytes, postgres.max_events)


class TestNames:
    @pytest.mark.parametrize("name", ["..", ".", ".hidden", "a/b", "../x", "a\x00b", "a b", "", "x" * 65])
    @pytest.mark.parametrize("type_key", TYPES)
    def test_path_escaping_names_rejected(self, type_key: str, name: str) -> None:
        """A sink name that is not one plain path component is a validation error at `name`."""
        model = SINK_TYPES[type_key][0]
        with pytest.raises(ValidationError) as info:
            model.model_validate({"name": name, "type": type_key, **MINIMAL[type_key]})
        assert [("name",)] == [error["loc"] for error in info.value.errors()]

    @pytest.mark.parametrize("name", ["local", "s3-archive", "pg_main.v2", "A1"])
    def test_plain_names_accepted(self, name: str) -> None:
        """Letters, digits, '_', '-' and inner dots make a valid name."""
        assert name == build("file", name=name).name
