"""`logflume tap`: a live sample of the events after a stage, from a running daemon."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from logflume.generate import lines
from logflume.ops.tap import QUEUE_LINES, TapHub, tap_refusal
from tests.daemonproc import DaemonProcess, append_lines
from tests.ops.helpers import free_port, log_records, messages, ops_config, running, wait_for, write_lines

FILTERED = {"pipeline": {"filter": {"rules": [{"when": 'level == "DEBUG"', "action": "drop"}]}}}
BEFORE_REDACT = {"tap_before_redact": True}
SECRET = "hunter2-Zq9x"


def start_tap(config: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "logflume", "tap", "-c", str(config), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def taps_started(proc: DaemonProcess) -> int:
    return messages(proc).count("Tap started")


class TestTapCommand:
    @pytest.mark.parametrize("workers", [1, 2])
    def test_prints_events_after_each_stage(self, tmp_path: Path, workers: int) -> None:
        """Tapping parse shows every event (DEBUG ones too); tapping filter only what the filter
        kept; the same when the stages run in worker processes."""
        port = free_port()
        config = ops_config(tmp_path, port, http=BEFORE_REDACT, workers=workers, **FILTERED)
        with running(config, port) as proc:
            after_parse = start_tap(config, "--stage", "parse", "--limit", "200")
            wait_for(lambda: taps_started(proc) == 1, 30, 0.1, "the first tap")
            after_filter = start_tap(config, "--stage", "filter", "--limit", "150")
            wait_for(lambda: taps_started(proc) == 2, 30, 0.1, "the second tap")
            write_lines(tmp_path, 1_000, seed=8)
            parse_out, parse_err = after_parse.communicate(timeout=60)
            filter_out, filter_err = after_filter.communicate(timeout=60)
            assert proc.stop() == 0
        assert (after_parse.returncode, after_filter.returncode) == (0, 0), (parse_err, filter_err)
        parsed = [json.loads(line) for line in parse_out.splitlines()]
        filtered = [json.loads(line) for line in filter_out.splitlines()]
        assert [f"req_8_{seq:010d}" for seq in range(200)] == [event["request_id"] for event in parsed]
        assert "DEBUG" in {event["level"] for event in parsed}
        assert len(filtered) == 150
        assert "DEBUG" not in {event["level"] for event in filtered}
        kept = [event["request_id"] for event in parsed if event["level"] != "DEBUG"]
        assert kept[:150] == [event["request_id"] for event in filtered]
        assert {"proxy"} == {event["logflume"]["source"] for event in filtered}

    def test_unknown_stage_is_refused(self, tmp_path: Path) -> None:
        """A stage that does not exist: exit 1, and the message lists the stages there are."""
        port = free_port()
        config = ops_config(tmp_path, port)
        with running(config, port) as proc:
            tap = start_tap(config, "--stage", "transform")
            _, err = tap.communicate(timeout=60)
            assert proc.stop() == 0
        assert tap.returncode == 1
        assert b"unknown stage 'transform'" in err
        assert b"parse, audit, normalise, redact, enrich, filter, sample, aggregate, anomaly" in err

    def test_no_daemon_running(self, tmp_path: Path) -> None:
        """Nothing listens on the configured address: exit 1 saying the daemon cannot be reached."""
        config = ops_config(tmp_path, free_port())
        tap = start_tap(config, "--limit", "1")
        _, err = tap.communicate(timeout=60)
        assert tap.returncode == 1
        assert b"cannot reach the daemon" in err


def write_secret_lines(tmp: Path, count: int) -> None:
    """Generated lines whose messages hold a password in a key-value form."""
    data = b""
    for line in lines(count, seed=9):
        event = orjson.loads(line)
        event["message"] = f"login retried password={SECRET} for {event['user_id']}"
        data += orjson.dumps(event) + b"\n"
    append_lines(tmp / "logs" / "app.log", data)


class TestTapRedaction:
    def test_default_stage_is_after_redaction(self, tmp_path: Path) -> None:
        """Without --stage the tap follows redact: the password in every message is shown
        redacted, never in clear."""
        port = free_port()
        config = ops_config(tmp_path, port)
        with running(config, port) as proc:
            tap = start_tap(config, "--limit", "50")
            wait_for(lambda: taps_started(proc) == 1, 30, 0.1, "the tap")
            write_secret_lines(tmp_path, 100)
            out, err = tap.communicate(timeout=60)
            assert proc.stop() == 0
        shown = [json.loads(line) for line in out.splitlines()]
        started = [r["stage"] for r in log_records(proc) if r["message"] == "Tap started"]
        assert (0, 50, ["redact"]) == (tap.returncode, len(shown), started), err
        assert {"login retried password=[REDACTED:key_value] for "} == {
            event["message"][: -len(event["user_id"])] for event in shown
        }
        assert SECRET.encode() not in out

    def test_stages_before_redaction_are_refused(self, tmp_path: Path) -> None:
        """Tapping parse or normalise without http.tap_before_redact exits 1 saying why; the
        daemon logs each refusal and shows no event."""
        port = free_port()
        config = ops_config(tmp_path, port)
        answers = []
        with running(config, port) as proc:
            write_secret_lines(tmp_path, 10)
            for stage in ("parse", "normalise"):
                tap = start_tap(config, "--stage", stage)
                out, err = tap.communicate(timeout=60)
                said = (b"tap refused (403)" in err, b"tap_before_redact" in err)
                answers.append((tap.returncode, out, *said))
            assert proc.stop() == 0
        refused = [r["stage"] for r in log_records(proc) if r["message"] == "Tap refused"]
        assert [(1, b"", True, True)] * 2 == answers
        assert ["parse", "normalise"] == refused

    def test_refusal_follows_the_stage_order(self) -> None:
        """Only stages before redact are refused, and none once tapping before redaction is allowed."""
        stages = ["parse", "audit", "normalise", "redact", "enrich", "filter"]
        refused = [stage for stage in stages if tap_refusal(stages, stage, False) is not None]
        allowed = [stage for stage in stages if tap_refusal(stages, stage, True) is None]
        assert (["parse", "audit", "normalise"], stages) == (refused, allowed)


class TestTapHub:
    def test_inactive_until_someone_taps(self) -> None:
        """The hub is active exactly while a tapper is subscribed."""
        hub = TapHub()
        before = hub.active
        tapper = hub.subscribe("parse", 1)
        during = hub.active
        hub.unsubscribe(tapper)
        assert (before, during, hub.active) == (False, True, False)

    def test_limit_spans_batches(self) -> None:
        """A tapper takes events from successive batches until its limit, then nothing more."""
        hub = TapHub()
        tapper = hub.subscribe("parse", 3)
        hub.offer("parse", [{"n": 1}, {"n": 2}])
        hub.offer("filter", [{"n": 99}])
        hub.offer("parse", [{"n": 3}, {"n": 4}])
        lines = [tapper.queue.get_nowait() for _ in range(tapper.queue.qsize())]
        assert lines == [b'{"n":1}\n', b'{"n":2}\n', b'{"n":3}\n']
        assert tapper.finished

    def test_slow_tapper_skips_instead_of_blocking(self) -> None:
        """Events beyond the tapper's queue are skipped and counted; the offer never waits."""
        hub = TapHub()
        tapper = hub.subscribe("parse", QUEUE_LINES + 10)
        hub.offer("parse", [{"n": n} for n in range(QUEUE_LINES + 10)])
        assert (tapper.queue.qsize(), tapper.skipped) == (QUEUE_LINES, 10)
