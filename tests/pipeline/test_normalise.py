"""Normalise: field renames, one UTC @timestamp, canonical level names."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from logflume import eventtime
from logflume.events import META_KEY, Batch
from logflume.pipeline.normalise import NormaliseConfig, Normaliser
from tests.hostile import CANONICAL, HOSTILE, time_texts, values


def run(events: list[dict[str, Any]], **config: Any) -> list[dict[str, Any]]:
    return Normaliser(NormaliseConfig(**config))(Batch(events), 0).events


class TestTimestamps:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("2024-01-15T10:30:15.123Z", "2024-01-15T10:30:15.123Z"),
            ("2024-01-15T10:30:15Z", "2024-01-15T10:30:15Z"),
            ("2024-01-15T12:30:15.123+02:00", "2024-01-15T10:30:15.123Z"),
            ("2024-01-15T05:30:15-05:00", "2024-01-15T10:30:15.000Z"),
            ("2024-01-15T10:30:15.123456+00:00", "2024-01-15T10:30:15.123456Z"),
            ("2024-01-15T10:30:15", "2024-01-15T10:30:15.000Z"),
            ("2024-01-15 10:30:15Z", "2024-01-15T10:30:15.000Z"),
            ("2024-01-15T10:30:15,5Z", "2024-01-15T10:30:15.500Z"),
            (1705314615, "2024-01-15T10:30:15.000Z"),
            (1705314615.25, "2024-01-15T10:30:15.250Z"),
            (1705314615123, "2024-01-15T10:30:15.123Z"),
            (1705314615123456, "2024-01-15T10:30:15.123456Z"),
            (1705314615123456789, "2024-01-15T10:30:15.123456Z"),
            ("2024-01-15T10:30:15.123456789Z", "2024-01-15T10:30:15.123456789Z"),
            ("2024-01-15T10:30:15.123456789+00:00", "2024-01-15T10:30:15.123456Z"),
            ("1705314615", "2024-01-15T10:30:15.000Z"),
            ("1705314615123", "2024-01-15T10:30:15.123Z"),
        ],
    )
    def test_formats_become_utc_iso_with_z(self, value: Any, expected: str) -> None:
        """ISO 8601 with Z or an offset, and epoch seconds/ms/µs/ns, all become UTC ISO 8601 with Z
        (finer than microseconds is cut, except in text already canonical, which is kept)."""
        assert expected == run([{"timestamp": value}])[0]["@timestamp"]

    @pytest.mark.parametrize(
        "value",
        [
            "yesterday", "", "2024-13-45T10:00:00Z", None, True, [1], {"a": 1}, 1e300, "²", "١٢",
            "9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+05:00", 10**400, float("nan"),
        ],
    )  # fmt: skip
    def test_unparseable_values_are_no_time(self, value: Any) -> None:
        """Text, unicode digits, out-of-range numbers and offsets, and other types leave the event
        without a time of its own: omitted when so configured, never an exception."""
        assert [{"timestamp": value}] == run([{"timestamp": value}], on_bad_timestamp="omit")

    @HOSTILE
    @given(value=st.one_of(values, time_texts(), st.from_regex(CANONICAL, fullmatch=True)))
    def test_inline_fast_path_agrees_with_eventtime(self, value: Any) -> None:
        """The stage's inline reading of canonical text gives what logflume.eventtime gives."""
        stamped = run([{"timestamp": value}], on_bad_timestamp="omit")[0].get("@timestamp")
        assert eventtime.canonical(value) == stamped

    def test_first_present_field_wins(self) -> None:
        """The first configured field present is used, dotted paths included."""
        out = run(
            [{"time": 1705314615, "timestamp": "2000-01-01T00:00:00Z"}, {"ctx": {"ts": 1705314615000}}],
            timestamp_fields=["time", "ctx.ts", "timestamp"],
        )
        assert [e["@timestamp"] for e in out] == ["2024-01-15T10:30:15.000Z"] * 2

    def test_original_field_is_kept(self) -> None:
        """The source field stays as the application wrote it."""
        out = run([{"timestamp": "2024-01-15T12:30:15+02:00"}])
        assert out[0] == {"timestamp": "2024-01-15T12:30:15+02:00", "@timestamp": "2024-01-15T10:30:15.000Z"}

    def test_bad_timestamp_falls_back_to_ingest_time(self) -> None:
        """Without a parseable time the event gets the time logflume read it, and is counted."""
        meta = {"event_id": "f-0", "ingested_at": "2024-02-01T00:00:00.000Z"}
        stage = Normaliser(NormaliseConfig())
        out = stage(Batch([{"timestamp": "garbage", META_KEY: meta}, {META_KEY: meta}]), 0).events
        assert ([e["@timestamp"] for e in out], stage.stats.bad_timestamps) == (
            ["2024-02-01T00:00:00.000Z"] * 2,
            2,
        )

    def test_bad_timestamp_omitted_when_configured(self) -> None:
        """on_bad_timestamp: omit leaves @timestamp out, even a bad one the log carried."""
        out = run([{"@timestamp": "garbage"}], on_bad_timestamp="omit")
        assert out == [{}]


class TestLevels:
    @pytest.mark.parametrize(
        ("raw", "level"),
        [
            ("warn", "WARNING"), ("WARN", "WARNING"), ("Warning", "WARNING"), ("err", "ERROR"),
            ("Error", "ERROR"), ("fatal", "CRITICAL"), ("FATAL", "CRITICAL"), ("crit", "CRITICAL"),
            ("info", "INFO"), ("debug", "DEBUG"), ("trace", "DEBUG"), ("wArN", "WARNING"),
            (" error ", "ERROR"), (40, "ERROR"), (10, "DEBUG"), ("INFO", "INFO"),
        ],
    )  # fmt: skip
    def test_names_are_normalised(self, raw: Any, level: str) -> None:
        """Level aliases and Python's numeric levels map to the five names, case-insensitively."""
        assert level == run([{"level": raw}])[0]["level"]

    @pytest.mark.parametrize("raw", ["verbose", 35, None, {"name": "x"}, ["warn"], True])
    def test_unknown_levels_are_left_alone(self, raw: Any) -> None:
        """Values that are not a known level stay as they were."""
        assert raw == run([{"level": raw}])[0]["level"]

    def test_extra_aliases_and_level_field(self) -> None:
        """Configured aliases and a different level field are honoured."""
        out = run(
            [{"severity": "Verbose"}, {"severity": "warn"}],
            level_field="severity",
            levels={"verbose": "DEBUG"},
        )
        assert [e["severity"] for e in out] == ["DEBUG", "WARNING"]


class TestRenames:
    def test_keys_and_dotted_paths_are_renamed(self) -> None:
        """Renames move values between keys and nested paths before the other steps run."""
        out = run(
            [{"lvl": "warn", "msg": "hi", "ctx": {"request": {"id": "r1"}}, "when": 1705314615}],
            fields={"lvl": "level", "msg": "message", "ctx.request.id": "request_id", "when": "meta.time"},
            timestamp_fields=["meta.time"],
        )
        assert out[0] == {
            "level": "WARNING",
            "message": "hi",
            "ctx": {"request": {}},
            "request_id": "r1",
            "meta": {"time": 1705314615},
            "@timestamp": "2024-01-15T10:30:15.000Z",
        }

    def test_missing_source_and_blocked_target_change_nothing(self) -> None:
        """A missing source does nothing; a target whose parent is not an object is not overwritten."""
        out = run(
            [{"a": 1, "b": "text"}],
            fields={"x": "y", "a": "b.c"},
            timestamp_fields=["t"],
            on_bad_timestamp="omit",
        )
        assert out == [{"b": "text"}]

    def test_invalid_paths_are_rejected(self) -> None:
        """Empty path segments are a config error naming the path."""
        with pytest.raises(ValidationError, match=r"invalid field path 'a\.\.b'"):
            NormaliseConfig(fields={"a..b": "c"})

    def test_unknown_keys_are_rejected(self) -> None:
        """An unknown option is a validation error."""
        with pytest.raises(ValidationError, match=r"Extra inputs are not permitted"):
            NormaliseConfig.model_validate({"timestamp_field": "ts"})

    def test_unknown_level_target_is_rejected(self) -> None:
        """An alias must map to one of the five level names."""
        with pytest.raises(ValidationError, match="DEBUG"):
            NormaliseConfig.model_validate({"levels": {"verbose": "TRACE"}})
