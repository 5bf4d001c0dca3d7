"""``analyze``/``query`` on gateway logs: --preset on raw files, the daemon's mapped output, and
input without the fields an answer needs (a clear error instead of zeros).

The expected figures are computed here directly from the raw sample lines (tests/fixtures/gateways,
cited in SOURCES.md there), without the mapping code.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.analysis import corpus
from tests.analysis.checks import analyze_json, assert_report, run
from tests.daemonproc import Daemons, read_output, write_config
from tests.waiting import wait_for

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "gateways"


def _seconds(value: Any) -> float:
    if isinstance(value, int | float):
        return float(value)
    return datetime.fromisoformat(value).replace(tzinfo=UTC).timestamp()


def _status_level(status: int) -> str:
    return "ERROR" if status >= 500 else "WARNING" if status >= 400 else "INFO"


def _litellm(raw: dict[str, Any]) -> dict[str, Any]:
    error = raw.get("error_information") or {}
    code = error.get("error_code") or ""
    return {
        "response_time_ms": (_seconds(raw["endTime"]) - _seconds(raw["startTime"])) * 1000,
        "level": "ERROR" if raw["status"] == "failure" else "INFO",
        "status_code": int(code) if code.isdigit() else None,
        "cache_hit": raw["cache_hit"],
        "message": error.get("error_message") or raw.get("error_str") or None,
        "provider": raw.get("custom_llm_provider"),
        "model": raw["model"],
    }


def _kong(raw: dict[str, Any]) -> dict[str, Any]:
    status = raw["response"]["status"]
    ai = raw.get("ai", {}).get("proxy", {}).get("meta", {})
    return {
        "response_time_ms": float(raw["latencies"]["request"]),
        "status_code": status,
        "level": _status_level(status),
        "provider": ai.get("provider_name"),
        "endpoint": raw["request"]["uri"].split("?")[0],
    }


def _caddy(raw: dict[str, Any]) -> dict[str, Any]:
    duration = raw["duration"]
    rt = float(duration[:-2]) if isinstance(duration, str) else duration * 1000
    return {
        "response_time_ms": rt,
        "status_code": raw["status"],
        "level": _status_level(raw["status"]),
        "message": raw["msg"],
    }


def _traefik(raw: dict[str, Any]) -> dict[str, Any]:
    status = raw["DownstreamStatus"]
    return {"response_time_ms": raw["Duration"] / 1e6, "status_code": status, "level": _status_level(status)}


def _nginx(raw: dict[str, Any]) -> dict[str, Any]:
    status = int(raw["status"])
    return {
        "response_time_ms": float(raw["request_time"]) * 1000,
        "status_code": status,
        "level": _status_level(status),
        "endpoint": raw["request_uri"].split("?")[0],
    }


DIRECT: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "litellm": _litellm,
    "kong": _kong,
    "caddy": _caddy,
    "traefik": _traefik,
    "nginx": _nginx,
}
GROUP_BY = {"litellm": "provider", "kong": "provider", "nginx": "endpoint"}


def expected(preset: str) -> dict[str, Any]:
    raws = [orjson.loads(line) for line in (SAMPLES / f"{preset}.jsonl").read_bytes().splitlines()]
    records = [{k: v for k, v in DIRECT[preset](raw).items() if v is not None} for raw in raws]
    return corpus.expected(records, by=GROUP_BY.get(preset))


def _by(preset: str) -> list[str]:
    return ["--by", GROUP_BY[preset]] if preset in GROUP_BY else []


class TestRawFilesWithPreset:
    @pytest.mark.parametrize("preset", sorted(DIRECT))
    def test_analyze_agrees_with_the_samples(self, preset: str, capsys: pytest.CaptureFixture[str]) -> None:
        """analyze --preset on a gateway's raw lines gives the figures computed from the lines."""
        actual = analyze_json(capsys, "--preset", preset, *_by(preset), str(SAMPLES / f"{preset}.jsonl"))
        assert_report(expected(preset), actual)

    @pytest.mark.parametrize("preset", ["nginx", "traefik"])
    def test_without_preset_says_why_there_is_nothing(
        self, preset: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Raw gateway logs without --preset fail with exit 1 and a hint instead of a report of zeros."""
        code, out, err = run(capsys, "analyze", str(SAMPLES / f"{preset}.jsonl"))
        why = {
            "nginx": "no line of the input has a field analyze reads",
            "traefik": "none of the 3 events read has response_time_ms or status_code: no request to report",
        }
        assert (1, "") == (code, out)
        assert err.startswith(f"logflume analyze: {why[preset]}")
        assert err.rstrip().endswith("use --preset (caddy, kong, litellm, nginx, traefik)")

    def test_wrong_preset_is_reported(self, capsys: pytest.CaptureFixture[str]) -> None:
        """A preset that does not fit the logs: the lines it cannot map are counted, then the error."""
        code, out, err = run(capsys, "analyze", "--preset", "litellm", str(SAMPLES / "nginx.jsonl"))
        assert (1, "") == (code, out)
        assert err.startswith("logflume analyze: skipped 5 of 5 events the preset cannot map (first: level: ")
        assert "are these logs of the litellm format?" in err

    def test_empty_window_of_real_requests_is_zeros(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A window without requests in logs that do have some is an honest report of zeros."""
        actual = analyze_json(
            capsys, "--preset", "kong", "--since", "2030-01-01", str(SAMPLES / "kong.jsonl")
        )
        assert (0, 0) == (actual["total_events"], actual["total_requests"])


class TestQueryWithPreset:
    def test_query_reads_canonical_fields(self, capsys: pytest.CaptureFixture[str]) -> None:
        """query --preset matches and prints the mapped events."""
        code, out, err = run(
            capsys, "query", "--preset", "nginx", "status_code >= 500", str(SAMPLES / "nginx.jsonl")
        )
        events = [orjson.loads(line) for line in out.splitlines()]
        assert (0, "") == (code, err)
        assert [(502, "ERROR", "/upstream/v1/embeddings")] == [
            (e["status_code"], e["level"], e["endpoint"]) for e in events
        ]

    def test_query_without_the_fields_says_so(self, capsys: pytest.CaptureFixture[str]) -> None:
        """An expression on fields no line has fails with exit 1 naming them."""
        code, out, err = run(capsys, "query", "status_code >= 500", str(SAMPLES / "nginx.jsonl"))
        assert (1, "") == (code, out)
        assert err.startswith("logflume query: no line has the field(s) the expression reads: status_code")

    def test_no_match_on_present_fields_is_fine(self, capsys: pytest.CaptureFixture[str]) -> None:
        """No match among lines that have the fields is an empty answer, exit 0."""
        code, out, err = run(
            capsys, "query", "--preset", "caddy", "status_code == 418", str(SAMPLES / "caddy.jsonl")
        )
        assert (0, "", "") == (code, out, err)


class TestDaemonOutput:
    def test_daemon_mapped_output_gives_the_same_figures(
        self, tmp_path: Path, daemons: Daemons, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The daemon with each preset maps the samples (nothing dead-lettered), and analyze on its
        output, without --preset, gives the figures computed from the raw lines."""
        (tmp_path / "logs").mkdir()
        sources = []
        for preset in sorted(DIRECT):
            shutil.copy(SAMPLES / f"{preset}.jsonl", tmp_path / "logs" / f"{preset}.log")
            sources.append(
                {"name": preset, "preset": preset, "include": [str(tmp_path / "logs" / f"{preset}.log")],
                 "poll_interval": "50ms", "scan_interval": "200ms"}
            )  # fmt: skip
        config = write_config(tmp_path, sources=sources)
        proc = daemons.start(config)
        total = sum(len((SAMPLES / f"{p}.jsonl").read_bytes().splitlines()) for p in DIRECT)
        wait_for(lambda: len(read_output(tmp_path / "out")) == total, what=f"{total} mapped events")
        assert 0 == proc.stop()
        dead = tmp_path / "state" / "dead-letter.jsonl"
        assert "" == (dead.read_text() if dead.exists() else "")
        for preset in sorted(DIRECT):
            actual = analyze_json(capsys, *_by(preset), str(tmp_path / "out" / preset))
            assert_report(expected(preset), actual)

    def test_unmappable_line_is_dead_lettered_and_the_rest_flows(
        self, tmp_path: Path, daemons: Daemons
    ) -> None:
        """A line the preset cannot convert goes to the dead-letter file with the reason; the daemon
        keeps running and delivers the lines around it."""
        good = (SAMPLES / "nginx.jsonl").read_bytes().splitlines()
        bad = good[1].replace(b'"status":"404"', b'"status":"4O4"')
        config = write_config(tmp_path, source={"preset": "nginx"})
        (tmp_path / "logs" / "access.log").write_bytes(b"\n".join([good[0], bad, good[2]]) + b"\n")
        proc = daemons.start(config)
        dead = tmp_path / "state" / "dead-letter.jsonl"
        wait_for(
            lambda: len(read_output(tmp_path / "out")) == 2 and dead.exists(), what="2 events, 1 dead letter"
        )
        assert proc.alive()
        assert 0 == proc.stop()
        letters = [orjson.loads(line) for line in dead.read_bytes().splitlines()]
        assert [("mapping: status_code: cannot read '4O4' as an integer", bad.decode())] == [
            (letter["reason"], letter["raw"]) for letter in letters
        ]
        assert [200, 200] == [event["status_code"] for event in read_output(tmp_path / "out")]
