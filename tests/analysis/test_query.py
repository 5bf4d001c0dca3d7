"""``logflume query``: the filter stage's own case table gives the same matches through the CLI."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest

from tests.analysis.checks import run
from tests.pipeline.filter_cases import CASES, FilterCase

EXPRESSIONS = [
    pytest.param(case, form, id=f"{case.name}: {form}")
    for case in CASES
    for form in case.forms
    if isinstance(form, str)
]


def _lines(case: FilterCase) -> list[bytes]:
    return [orjson.dumps(event) for event in case.events]


class TestFilterCases:
    @pytest.mark.parametrize(("case", "expression"), EXPRESSIONS)
    def test_same_matches_as_the_filter_stage(
        self, case: FilterCase, expression: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Each expression of the shared case table prints exactly the events the filter keeps."""
        lines = _lines(case)
        path = tmp_path / "events.jsonl"
        path.write_bytes(b"\n".join(lines) + b"\n")
        code, out, err = run(capsys, "query", expression, str(path))
        wanted = [line.decode() for line, keep in zip(lines, case.expected, strict=True) if keep]
        assert (code, err) == (0, "")
        assert out.splitlines() == wanted

    @pytest.mark.parametrize(("case", "expression"), EXPRESSIONS[:8])
    def test_count_on_gzip_input(
        self, case: FilterCase, expression: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--count on a .gz file prints the number of events the filter keeps."""
        path = tmp_path / "events.jsonl.gz"
        path.write_bytes(gzip.compress(b"\n".join(_lines(case)) + b"\n"))
        code, out, _ = run(capsys, "query", "--count", expression, str(path))
        assert (code, out) == (0, f"{sum(case.expected)}\n")


class TestOutput:
    @pytest.fixture
    def events_file(self, tmp_path: Path) -> Path:
        path = tmp_path / "app.log"
        events = [
            {
                "level": "ERROR",
                "provider": "openai",
                "response_time_ms": 6000,
                "extra_data": {"stream": True},
            },
            {"level": "INFO", "provider": "openai", "response_time_ms": 100},
            {"level": "ERROR", "message": "two\nlines", "response_time_ms": 7000.5},
            {"level": "ERROR", "provider": "google", "response_time_ms": 8000, "tags": ["a", "b"]},
        ]
        path.write_bytes(b"".join(orjson.dumps(event) + b"\n" for event in events))
        return path

    def test_fields_table(self, events_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """--fields prints an aligned table: strings bare, missing empty, other values as JSON."""
        code, out, _ = run(
            capsys,
            "query",
            "--fields",
            "provider,response_time_ms,extra_data.stream,tags,message",
            'level == "ERROR"',
            str(events_file),
        )
        assert code == 0
        assert out.splitlines() == [
            "provider  response_time_ms  extra_data.stream  tags       message",
            "openai    6000              true",
            "          7000.5                                          two\\nlines",
            'google    8000                                 ["a","b"]',
        ]

    def test_limit(self, events_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """--limit N stops after the first N matches, in input order."""
        code, out, _ = run(
            capsys,
            "query",
            "--limit",
            "2",
            "--fields",
            "response_time_ms",
            "response_time_ms > 5000",
            str(events_file),
        )
        assert (code, out.split()) == (0, ["response_time_ms", "6000", "7000.5"])

    def test_limit_zero(self, events_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """--limit 0 with --count prints 0 without reading anything."""
        assert run(capsys, "query", "--limit", "0", "--count", "level exists", str(events_file)) == (
            0,
            "0\n",
            "",
        )

    def test_skips_lines_that_are_not_objects(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Invalid and non-object lines are skipped and counted on stderr; blank lines are ignored."""
        path = tmp_path / "mixed.log"
        path.write_bytes(b'{"level": "ERROR"}\nnot json\n\n[1]\n{"level": "INFO"}\r\n')
        code, out, err = run(capsys, "query", "level exists", str(path))
        assert (code, out) == (0, '{"level": "ERROR"}\n{"level": "INFO"}\n')
        assert err == "logflume query: skipped 2 of 4 lines that are not JSON objects\n"

    def test_invalid_expression(self, events_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """An expression the filter language rejects fails with exit 1 and its reason."""
        code, out, err = run(capsys, "query", 'level === "ERROR"', str(events_file))
        assert (code, out) == (1, "")
        assert err.startswith("logflume query: ")
        assert len(err.splitlines()) >= 1

    def test_missing_input(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A missing input fails with exit 1 naming it."""
        code, _, err = run(capsys, "query", "level exists", str(tmp_path / "nope"))
        assert (code, err) == (1, f"logflume query: {tmp_path / 'nope'}: no such file or directory\n")
