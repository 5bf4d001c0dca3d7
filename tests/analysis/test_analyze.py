"""``logflume analyze`` on local files: exact statistics, windows, groups and output formats."""

from __future__ import annotations

import csv
import gzip
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from tests.analysis import corpus
from tests.analysis.checks import analyze_json, assert_report, run
from tests.analysis.conftest import Corpus


class TestExactStatistics:
    def test_raw_log_files(self, analysis_corpus: Corpus, capsys: pytest.CaptureFixture[str]) -> None:
        """The proxy's own plain log files give the exact statistics of the documented definitions."""
        actual = analyze_json(capsys, *map(str, sorted(analysis_corpus.raw_dir.iterdir())))
        assert_report(corpus.expected(analysis_corpus.records), actual)

    def test_file_sink_output_with_gzip(
        self, analysis_corpus: Corpus, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """File-sink output (metadata, own events, rotated .gz files) gives the same statistics."""
        actual = analyze_json(capsys, str(analysis_corpus.sink_dir))
        assert_report(corpus.expected(analysis_corpus.records), actual)
        assert actual["files"] == 5

    def test_glob_reads_only_matching_files(
        self, analysis_corpus: Corpus, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A glob reads exactly the files it matches: here the rotated .gz files alone."""
        gz = sorted(analysis_corpus.sink_dir.glob("*.gz"))
        records = [
            orjson.loads(line)
            for path in gz
            for line in gzip.decompress(path.read_bytes()).splitlines()
            if _is_object(line)
        ]
        actual = analyze_json(capsys, str(analysis_corpus.sink_dir / "*.gz"))
        assert_report(corpus.expected(records), actual)
        assert len(gz) == actual["files"]

    def test_group_by_provider(self, analysis_corpus: Corpus, capsys: pytest.CaptureFixture[str]) -> None:
        """--by provider adds per-provider metrics, busiest first, events without one under (none)."""
        actual = analyze_json(capsys, "--by", "provider", str(analysis_corpus.sink_dir))
        assert actual["group_by"] == "provider"
        assert_report(corpus.expected(analysis_corpus.records, by="provider"), actual)

    @pytest.mark.parametrize("field", ["model", "endpoint", "level"])
    def test_group_by_other_fields(
        self, field: str, analysis_corpus: Corpus, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--by model/endpoint/level group like provider (levels compared case-insensitively)."""
        actual = analyze_json(capsys, "--by", field, str(analysis_corpus.raw_dir))
        assert_report(corpus.expected(analysis_corpus.records, by=field), actual)

    def test_slow_threshold(self, analysis_corpus: Corpus, capsys: pytest.CaptureFixture[str]) -> None:
        """--slow-ms moves the threshold of slow_requests (strictly greater than it)."""
        actual = analyze_json(capsys, "--slow-ms", "1000", str(analysis_corpus.raw_dir))
        assert (
            corpus.expected(analysis_corpus.records, slow_ms=1000)["slow_requests"] == actual["slow_requests"]
        )
        assert actual["slow_ms"] == 1000.0

    def test_top_errors_limit(self, analysis_corpus: Corpus, capsys: pytest.CaptureFixture[str]) -> None:
        """--top N lists the N most frequent error messages."""
        actual = analyze_json(capsys, "--top", "2", str(analysis_corpus.raw_dir))
        assert corpus.expected(analysis_corpus.records, top=2)["top_errors"] == actual["top_errors"]


class TestTimeWindow:
    def test_absolute_window(self, analysis_corpus: Corpus, capsys: pytest.CaptureFixture[str]) -> None:
        """--since (inclusive) and --until (exclusive) as ISO times keep only events inside."""
        since = datetime(2024, 1, 15, 7, 30, tzinfo=UTC)
        until = datetime(2024, 1, 15, 9, 0, tzinfo=UTC)
        actual = analyze_json(
            capsys,
            "--since",
            "2024-01-15T07:30:00Z",
            "--until",
            "2024-01-15T09:00:00",
            str(analysis_corpus.sink_dir),
        )
        assert_report(corpus.expected(analysis_corpus.records, since=since, until=until), actual)
        assert (actual["since"], actual["until"]) == ("2024-01-15T07:30:00.000Z", "2024-01-15T09:00:00.000Z")

    def test_relative_since(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """--since 1h keeps the last hour: events 30 min old count, events 90 min old do not."""
        now = datetime.now(UTC)
        recent = corpus.make_events(300, seed=1, start=now - timedelta(minutes=40), span=600)
        old = corpus.make_events(300, seed=2, start=now - timedelta(minutes=100), span=600)
        recent = [event for event in recent if "timestamp" in event]
        path = tmp_path / "app.log"
        path.write_bytes(b"".join(orjson.dumps(event) + b"\n" for event in old + recent))
        actual = analyze_json(capsys, "--since", "1h", str(path))
        assert_report(corpus.expected(recent), actual)

    def test_window_excludes_events_without_timestamp(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """With a window, an event without a timestamp is left out; without one it counts."""
        path = tmp_path / "app.log"
        path.write_text(
            '{"level": "INFO", "response_time_ms": 5}\n'
            '{"timestamp": "2024-01-15T10:00:00Z", "response_time_ms": 7}\n'
        )
        assert analyze_json(capsys, str(path))["total_requests"] == 2
        assert analyze_json(capsys, "--since", "2024-01-01", str(path))["total_requests"] == 1

    def test_invalid_time_is_an_error(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A --since that is neither a duration nor an ISO time fails with exit 1 and says why."""
        path = tmp_path / "app.log"
        path.write_text("{}\n")
        code, out, err = run(capsys, "analyze", "--since", "yesterday", str(path))
        assert (code, out) == (1, "")
        assert "invalid time 'yesterday'" in err


class TestHeterogeneousLines:
    def test_mixed_keys_types_and_junk(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """Lines with different keys, wrong types and non-JSON load; unconvertible values are ignored."""
        path = tmp_path / "mixed.log"
        path.write_text(
            "\n".join(
                [
                    '{"timestamp": "2024-01-15T10:00:00Z", "level": "INFO", '
                    '"response_time_ms": 100, "status_code": 200}',
                    '{"level": "ERROR", "message": "boom", "status_code": 502, "response_time_ms": "abc"}',
                    '{"message": "numbers in strings count", "response_time_ms": "300.5"}',
                    '{"cache_hit": true, "status_code": 200, "extra": {"nested": [1, 2]}}',
                    '{"cache_hit": false, "provider": 42}',
                    "this line is not JSON",
                    "[1, 2]",
                    "{}",
                    "",
                    '{"unrelated": "object"}',
                ]
            )
            + "\n"
        )
        actual = analyze_json(capsys, "--by", "provider", str(path))
        expected = {
            "total_events": 5,
            "total_requests": 4,
            "error_count": 1,
            "error_events": 1,
            "error_rate": 0.25,
            "avg_response_time_ms": 200.25,
            "p50_ms": 200.25,
            "slow_requests": 0,
            "cache_hits": 1,
            "cache_lookups": 2,
            "cache_hit_rate": 0.5,
            "top_errors": {"boom": 1},
        }
        assert expected == {key: actual[key] for key in expected}
        assert list(actual["groups"]) == ["(none)", "42"]

    @pytest.mark.parametrize("kind", ["file", "directory"])
    def test_empty_input(self, kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """An empty file or directory is no report of zeros: exit 1, saying no line has the fields."""
        path = tmp_path / "empty"
        if kind == "file":
            path.write_bytes(b"")
        else:
            path.mkdir()
        code, out, err = run(capsys, "analyze", "--format", "json", str(path))
        assert (1, "") == (code, out)
        assert err.startswith("logflume analyze: no line of the input has a field analyze reads (timestamp,")


class TestOutputFormats:
    def test_csv_matches_json(self, analysis_corpus: Corpus, capsys: pytest.CaptureFixture[str]) -> None:
        """CSV has an "all" row and one row per group, with the JSON form's values."""
        source = str(analysis_corpus.raw_dir)
        report = analyze_json(capsys, "--by", "provider", source)
        code, out, _ = run(capsys, "analyze", "--format", "csv", "--by", "provider", source)
        rows = list(csv.DictReader(io.StringIO(out)))
        assert code == 0
        assert [("all", "")] + [("provider", key) for key in report["groups"]] == [
            (r["scope"], r["key"]) for r in rows
        ]
        assert str(report["total_requests"]) == rows[0]["total_requests"]
        assert report["p95_ms"] == float(rows[0]["p95_ms"])
        openai = next(r for r in rows if r["key"] == "openai")
        assert report["groups"]["openai"]["error_count"] == int(openai["error_count"])

    def test_table_is_readable(self, analysis_corpus: Corpus, capsys: pytest.CaptureFixture[str]) -> None:
        """The default table shows the headline numbers, top errors and the group table."""
        source = str(analysis_corpus.raw_dir)
        report = analyze_json(capsys, "--by", "provider", source)
        code, out, _ = run(capsys, "analyze", "--by", "provider", source)
        assert code == 0
        lines = out.splitlines()
        requests = next(line for line in lines if line.strip().startswith("Requests"))
        assert f"{report['total_requests']:,}" in requests
        assert f"{report['error_rate'] * 100:.2f}%" in next(
            line for line in lines if line.strip().startswith("Errors")
        )
        top_message, top_count = next(iter(report["top_errors"].items()))
        assert any(top_message in line and f"{top_count:,}" in line for line in lines)
        by_provider = lines[lines.index("By provider") + 3 :]
        assert list(report["groups"]) == [line.split()[0] for line in by_provider]

    def test_json_has_required_keys(
        self, analysis_corpus: Corpus, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The JSON top level carries the keys the issue promises."""
        actual = analyze_json(capsys, "--by", "level", str(analysis_corpus.raw_dir))
        required = {
            "total_requests",
            "error_count",
            "error_rate",
            "avg_response_time_ms",
            "p50_ms",
            "p95_ms",
            "p99_ms",
            "slow_requests",
            "cache_hit_rate",
            "top_errors",
            "groups",
        }
        assert set() == required - set(actual)


class TestPlot:
    def test_plot_writes_png(
        self, analysis_corpus: Corpus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--plot writes a 1400x900 PNG beside the normal report."""
        target = tmp_path / "report.png"
        code, out, err = run(capsys, "analyze", "--plot", str(target), str(analysis_corpus.sink_dir))
        data = target.read_bytes()
        assert (code, err) == (0, f"logflume analyze: plot written to {target}\n")
        assert out.startswith("Events ")
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert (int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")) == (1400, 900)

    def test_plot_without_timestamps(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A plot of requests without timestamps is still drawn (the timeline panel stays empty)."""
        path = tmp_path / "app.log"
        path.write_text('{"level": "INFO", "response_time_ms": 12.5}\n')
        target = tmp_path / "empty.png"
        code, _, err = run(capsys, "analyze", "--plot", str(target), str(path))
        assert (code, err) == (0, f"logflume analyze: plot written to {target}\n")
        assert target.read_bytes()[:4] == b"\x89PNG"

    def test_no_plot_without_requests(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """Input without requests fails before drawing anything."""
        path = tmp_path / "app.log"
        path.write_text('{"level": "INFO", "message": "hello"}\n')
        target = tmp_path / "empty.png"
        code, _, _ = run(capsys, "analyze", "--plot", str(target), str(path))
        assert (1, False) == (code, target.exists())


class TestInputErrors:
    def test_missing_file(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A path that does not exist fails with exit 1 naming it."""
        code, out, err = run(capsys, "analyze", str(tmp_path / "nope.log"))
        assert (code, out) == (1, "")
        assert f"logflume analyze: {tmp_path / 'nope.log'}: no such file or directory\n" == err

    def test_glob_without_match(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A glob matching nothing fails with exit 1 naming it."""
        code, _, err = run(capsys, "analyze", str(tmp_path / "*.gz"))
        assert code == 1
        assert "the pattern matches no files" in err

    def test_corrupt_gzip(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A damaged .gz file fails with exit 1 and DuckDB's reason, not a traceback."""
        path = tmp_path / "bad.jsonl.gz"
        path.write_bytes(gzip.compress(b'{"level": "INFO"}\n' * 1000)[:60])
        code, out, err = run(capsys, "analyze", str(path))
        assert (code, out) == (1, "")
        assert err.startswith("logflume analyze: cannot analyse the input:")


def _is_object(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False
