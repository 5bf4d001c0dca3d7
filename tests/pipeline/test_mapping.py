"""The mapping language: conversions, units, arithmetic, originals, and errors as dead letters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from logflume.cli import main as cli_main
from logflume.config import parse_config
from logflume.errors import ConditionError, ConfigError, MappingError
from logflume.events import META_KEY, Ack, Event, RawChunk
from logflume.pipeline.filter.arithmetic import compile_arithmetic
from logflume.pipeline.filter.config import FilterConfig
from logflume.pipeline.mapping import Mapper, MappingConfig
from logflume.pipeline.mapping import convert as cv
from logflume.pipeline.parse import Parser


def mapper(fields: dict[str, Any], **extra: Any) -> Mapper:
    return Mapper(MappingConfig.model_validate({"fields": fields, **extra}))


def mapped(fields: dict[str, Any], event: Event, **extra: Any) -> Event:
    mapper(fields, **extra)(event)
    return event


class TestConversions:
    @pytest.mark.parametrize(
        ("convert", "value", "expected"),
        [
            (cv.to_int, "200", 200),
            (cv.to_int, 200.0, 200),
            (cv.to_int, " 12 ", 12),
            (cv.to_float, "0.305", 0.305),
            (cv.to_float, 7, 7.0),
            (cv.to_bool, "true", True),
            (cv.to_bool, "No", False),
            (cv.to_bool, 1, True),
            (cv.to_string, 42, "42"),
            (cv.to_path, "/v1/chat/completions?stream=true#x", "/v1/chat/completions"),
            (cv.to_path, "https://api.example.com/v1/models?x=1", "/v1/models"),
            (cv.to_path, "http://host", "/"),
            (cv.status_level, 503, "ERROR"),
            (cv.status_level, "429", "WARNING"),
            (cv.status_level, 200, "INFO"),
            (cv.status_level, 0, "INFO"),
        ],
    )
    def test_converts(self, convert: Any, value: Any, expected: Any) -> None:
        """Each conversion reads the common spellings of its type."""
        assert (expected, type(expected)) == (convert(value), type(convert(value)))

    @pytest.mark.parametrize(
        ("convert", "value", "message"),
        [
            (cv.to_int, "abc", "cannot read 'abc' as an integer"),
            (cv.to_int, 12.5, "cannot read 12.5 as an integer"),
            (cv.to_int, True, "cannot read True as an integer"),
            (cv.to_float, "nan", "cannot read 'nan' as a number"),
            (cv.to_float, [1], "cannot read [1] as a number"),
            (cv.to_bool, "maybe", "cannot read 'maybe' as a boolean"),
            (cv.to_string, {"a": 1}, "as a string"),
            (cv.status_level, 1200, "cannot read 1200 as an HTTP status"),
        ],
    )
    def test_wrong_values_are_errors(self, convert: Any, value: Any, message: str) -> None:
        """A value that is not what the rule says raises MappingError saying what it was."""
        with pytest.raises(MappingError) as info:
            convert(value)
        assert message in str(info.value)

    @pytest.mark.parametrize(
        ("value", "unit", "expected"),
        [
            ("2024-01-15T10:30:15.123Z", None, "2024-01-15T10:30:15.123Z"),
            ("2024-01-15T12:30:15+02:00", None, "2024-01-15T10:30:15.000Z"),
            ("2025-01-24 09:20:46.847371", None, "2025-01-24T09:20:46.847371Z"),
            ("2022-11-02T00:22:41.640464109Z", None, "2022-11-02T00:22:41.640464Z"),
            (1705314615, None, "2024-01-15T10:30:15.000Z"),
            (1705314615123, None, "2024-01-15T10:30:15.123Z"),
            (1705314615123456, None, "2024-01-15T10:30:15.123456Z"),
            (1705314615123456789, None, "2024-01-15T10:30:15.123456Z"),
            ("1705314615.5", None, "2024-01-15T10:30:15.500Z"),
            (1705314615123, "ms", "2024-01-15T10:30:15.123Z"),
            (31622400, "s", "1971-01-02T00:00:00.000Z"),
            ("15/Jan/2024:12:30:15 +0200", None, "2024-01-15T10:30:15.000Z"),
            ("Mon, 15 Jan 2024 10:30:15 GMT", None, "2024-01-15T10:30:15.000Z"),
        ],
    )
    def test_timestamps_in_any_common_form(self, value: Any, unit: str | None, expected: str) -> None:
        """ISO 8601 (any offset or none), epoch s/ms/µs/ns, access-log and RFC 2822 times → UTC ISO."""
        assert expected == cv.to_timestamp(value, unit)

    def test_not_a_timestamp(self) -> None:
        """A string that is no known time form is an error."""
        with pytest.raises(MappingError, match="cannot read 'yesterday' as a timestamp"):
            cv.to_timestamp("yesterday", None)

    @pytest.mark.parametrize(
        ("value", "unit", "expected"),
        [
            (1.5, "s", 1500.0),
            ("0.305", "s", 305.0),
            (250, "ms", 250.0),
            (1500, "us", 1.5),
            (1500, "µs", 1.5),
            (30002345678, "ns", 30002.345678),
            ("6.31ms", None, 6.31),
            ("1m2.5s", None, 62500.0),
            ("120µs", None, 0.12),
            ("1h", "ns", 3_600_000.0),
        ],
    )
    def test_durations_in_milliseconds(self, value: Any, unit: str | None, expected: float) -> None:
        """Durations in s, ms, µs or ns (or strings with their unit) come out in milliseconds."""
        assert expected == cv.to_duration_ms(value, unit)

    def test_bare_duration_needs_a_unit(self) -> None:
        """A bare number without a unit is not guessed."""
        with pytest.raises(MappingError, match="with a unit"):
            cv.to_duration_ms(12, None)


class TestArithmetic:
    def run(self, text: str, event: Event) -> Any:
        evaluate, _ = compile_arithmetic(text, cv.to_number)
        return evaluate(event)

    def test_precedence_parentheses_and_signs(self) -> None:
        """* and / bind tighter than + and -; parentheses and unary minus work."""
        event = {"a": 2, "b": 3, "c": 4}
        results = [
            self.run(t, event) for t in ("a + b * c", "(a + b) * c", "-a - -b", "c / a / 2", "1e3 * a")
        ]
        assert [14, 20, 1, 1.0, 2000.0] == results

    def test_times_count_as_epoch_seconds(self) -> None:
        """Timestamps (numbers, numeric or ISO strings) subtract to seconds."""
        event = {"start": "2024-01-15T10:30:15.250Z", "end": "2024-01-15T10:30:16Z", "t": "12.5"}
        assert [750.0, 25.0] == [self.run("(end - start) * 1000", event), self.run("t * 2", event)]

    def test_absent_field_makes_the_result_absent(self) -> None:
        """A missing or null field gives no value rather than a made-up one."""
        from logflume.pipeline.paths import MISSING

        assert [MISSING, MISSING] == [self.run("a - b", {"a": 1}), self.run("a - b", {"a": 1, "b": None})]

    def test_fields_it_reads(self) -> None:
        """The compiled expression names the fields it reads (backticks for names with '-')."""
        _, fields = compile_arithmetic("(endTime-startTime) * `x-total`", cv.to_number)
        assert ["endTime", "startTime", "x-total"] == fields

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("", "the expression is empty"),
            ("a +", "expected a number, a field or '(' at the end"),
            ("(a + b", "expected ')' at the end"),
            ("a b", "expected an operator at column 3"),
            ("a % b", "unexpected character '%' at column 3"),
            ("(" * 60 + "a" + ")" * 60, "nests deeper than 50 levels"),
            ("-" * 60 + "a", "nests deeper than 50 levels"),
        ],
    )
    def test_syntax_errors(self, text: str, message: str) -> None:
        """A bad expression raises ConditionError saying what and where."""
        with pytest.raises(ConditionError) as info:
            compile_arithmetic(text, cv.to_number)
        assert message in str(info.value)

    def test_long_sums_do_not_recurse(self) -> None:
        """A sum of thousands of terms evaluates in a loop (no RecursionError)."""
        assert 5000 == self.run(" + ".join(["a"] * 5000), {"a": 1})

    @pytest.mark.parametrize(
        ("event", "message"),
        [({"a": "x", "b": 1}, "a: cannot read 'x'"), ({"a": 1, "b": 0}, "division by zero")],
    )
    def test_evaluation_errors(self, event: Event, message: str) -> None:
        """A field that is no number or a zero divisor raises MappingError."""
        with pytest.raises(MappingError, match=message):
            self.run("a / b", event)


class TestRules:
    def test_copy_rename_and_convert(self) -> None:
        """Copies from nested paths and list items, converts types, drops fields: rename = map + drop."""
        event = mapped(
            {
                "request_id": "req.id",
                "user_agent": "headers.User-Agent[0]",
                "status_code": {"from": "status", "type": "int"},
                "response_time_ms": {"from": "duration", "type": "duration", "unit": "s"},
            },
            {"req": {"id": "r1"}, "headers": {"User-Agent": ["curl/8"]}, "status": "404", "duration": 0.25},
            drop=["req"],
        )
        assert {"headers": {"User-Agent": ["curl/8"]}, "status": "404", "duration": 0.25, "request_id": "r1",
                "user_agent": "curl/8", "status_code": 404, "response_time_ms": 250.0} == event  # fmt: skip

    def test_first_present_source_wins(self) -> None:
        """A list of paths takes the first that is present, not null and not an absent marker."""
        rules = {"user_id": {"from": ["end_user", "meta.user", "fallback"]}}
        results = [
            mapped(rules, {"end_user": "", "meta": {"user": None}, "fallback": "u3"})["user_id"],
            mapped(rules, {"end_user": "u1", "fallback": "u3"})["user_id"],
            "user_id" in mapped(rules, {"end_user": "-"}, absent=["", "-"]),
        ]
        assert ["u3", "u1", False] == results

    def test_compute_and_value(self) -> None:
        """A computed field and a constant."""
        event = mapped(
            {
                "response_time_ms": {"compute": "(endTime - startTime) * 1000"},
                "provider": {"value": "openai"},
            },
            {"startTime": 100.0, "endTime": 100.5},
        )
        assert (500.0, "openai") == (event["response_time_ms"], event["provider"])

    def test_level_from_status_only_when_absent(self) -> None:
        """keep_existing derives level from the status only for events that have none."""
        rules = {"level": {"from": "status", "type": "status_level", "keep_existing": True}}
        events = [mapped(rules, {"status": 503}), mapped(rules, {"status": 503, "level": "DEBUG"})]
        assert ["ERROR", "DEBUG"] == [event["level"] for event in events]

    def test_value_table(self) -> None:
        """map: looks values up by their JSON spelling; an unknown value is an error."""
        rules = {"level": {"from": "status", "map": {"success": "INFO", "failure": "ERROR"}}}
        assert "ERROR" == mapped(rules, {"status": "failure"})["level"]
        assert "INFO" == mapped({"level": {"from": "ok", "map": {"true": "INFO"}}}, {"ok": True})["level"]
        with pytest.raises(MappingError, match="level: 'partial' is not one of the mapped values"):
            mapped(rules, {"status": "partial"})

    def test_originals_are_kept_under_logflume_original(self) -> None:
        """A source field a rule replaces moves to logflume.original; unchanged ones do not."""
        event = mapped(
            {
                "level": {"from": "status", "type": "status_level"},
                "status": {"from": "status", "type": "int"},
                "model": "model",
            },
            {"level": "info", "status": "502", "model": "gpt-4o", META_KEY: {"event_id": "f-0"}},
        )
        assert {"event_id": "f-0", "original": {"level": "info", "status": "502"}} == event[META_KEY]
        assert ("ERROR", 502, "gpt-4o") == (event["level"], event["status"], event["model"])

    def test_on_error_omit_leaves_the_target_absent(self) -> None:
        """on_error: omit skips a value that does not convert instead of failing the event."""
        event = mapped({"status_code": {"from": "code", "type": "int", "on_error": "omit"}}, {"code": "E42"})
        assert ("status_code" in event, event["code"]) == (False, "E42")

    def test_conversion_error_names_the_target(self) -> None:
        """A value of the wrong type raises MappingError naming the target field."""
        with pytest.raises(MappingError, match=r"^status_code: cannot read 'abc' as an integer$"):
            mapped({"status_code": {"from": "status", "type": "int"}}, {"status": "abc"})


def chunk(data: bytes) -> RawChunk:
    return RawChunk("gw", "cafe", "/logs/gw.log", 1000, data, Ack("cafe", 1000 + len(data), lambda a: None))


class TestParserWithMapping:
    def test_bad_event_is_a_dead_letter_and_the_rest_flows(self) -> None:
        """An event the mapping cannot convert is dead-lettered with the reason and its line; the
        others of the chunk are mapped and kept."""
        lines = [b'{"status": "200"}', b'{"status": "abc", "n": 2}', b'{"status": 503}']
        parser = Parser(mapper=mapper({"status_code": {"from": "status", "type": "int"}}))
        events, dead = parser(chunk(b"\n".join(lines) + b"\n"), 0.0)
        assert [200, 503] == [event["status_code"] for event in events]
        assert [("mapping: status_code: cannot read 'abc' as an integer", lines[1], 1018)] == [
            (d.reason, d.raw, d.offset) for d in dead
        ]
        assert (parser.stats.mapping_errors, parser.stats.events) == (1, 2)

    def test_metadata_is_not_a_mapping_target(self) -> None:
        """The daemon's own metadata key cannot be a target."""
        with pytest.raises(ValueError, match="the key 'logflume' is the daemon's own metadata"):
            MappingConfig.model_validate({"fields": {"logflume.source": {"value": "x"}}})


def _config(source: dict[str, Any], **extra: Any) -> str:
    config = {
        "state_dir": "/tmp/state",
        "sources": [{"name": "gw", "include": ["/logs/*.log"], **source}],
        "sinks": [{"name": "out", "type": "file", "path": "/tmp/out.jsonl"}],
        **extra,
    }
    return orjson.dumps(config).decode()


class TestConfigErrors:
    @pytest.mark.parametrize(
        ("source", "path", "message"),
        [
            ({"preset": "apache"}, "sources[0].preset", "unknown preset 'apache' (one of: caddy, kong"),
            (
                {"mapping": {"fields": {"response_time_ms": {"compute": "(endTime - startTime"}}}},
                "sources[0].mapping.fields.response_time_ms.compute",
                "invalid expression: expected ')' at the end",
            ),
            (
                {"mapping": {"fields": {"x": {"from": "a", "compute": "b"}}}},
                "sources[0].mapping.fields.x",
                "exactly one of from, compute, value (got from, compute)",
            ),
            (
                {"mapping": {"fields": {"x": {"from": "a", "type": "integer"}}}},
                "sources[0].mapping.fields.x.type",
                "",
            ),
            (
                {"mapping": {"fields": {"x": {"from": "a", "unit": "s"}}}},
                "sources[0].mapping.fields.x",
                "unit is only",
            ),
            (
                {"mapping": {"fields": {"x": {"from": "a..b"}}}},
                "sources[0].mapping.fields.x.from",
                "invalid field path",
            ),
            ({"mapping": {"feilds": {}}}, "sources[0].mapping.feilds", "unknown key"),
        ],
    )
    def test_bad_mapping_names_its_key_path(self, source: dict[str, Any], path: str, message: str) -> None:
        """A bad preset name or mapping rule is a config error at its YAML key path."""
        with pytest.raises(ConfigError) as info:
            parse_config(_config(source))
        assert [path] == [issue.path for issue in info.value.issues]
        assert message in info.value.issues[0].message

    def test_deeply_nested_filter_is_exit_2_in_validate(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Thousands of nested 'not' in a filter's when: make validate exit 2 with the key path, not
        a RecursionError."""
        rules = [{"when": "not " * 5000 + 'level == "ERROR"', "action": "drop"}]
        path = tmp_path / "deep.yaml"
        path.write_text(_config({}, pipeline={"filter": {"rules": rules}}))
        code = cli_main(["validate", "-c", str(path)])
        err = capsys.readouterr().err
        assert 2 == code
        assert "pipeline.filter.rules[0].when" in err
        assert "nests deeper than 50 levels" in err

    def test_deeply_nested_parentheses(self) -> None:
        """Deep parentheses are a config error at the rule's key path."""
        rules = [{"when": "(" * 3000 + 'level == "ERROR"' + ")" * 3000, "action": "drop"}]
        with pytest.raises(ConfigError) as info:
            parse_config(_config({}, pipeline={"filter": {"rules": rules}}))
        assert ["pipeline.filter.rules[0].when"] == [issue.path for issue in info.value.issues]

    def test_deeply_nested_mapping_form(self) -> None:
        """A condition of thousands of nested {not: ...} mappings fails validation at its place."""
        deep: Any = {"level": "ERROR"}
        for _ in range(3000):
            deep = {"not": deep}
        with pytest.raises(ValidationError) as info:
            FilterConfig.model_validate({"rules": [{"when": deep, "action": "drop"}]})
        assert [("rules", 0, "when")] == [error["loc"] for error in info.value.errors()]
        assert "nests deeper than 100 levels of all/any/not" in str(info.value)
