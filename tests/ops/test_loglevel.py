"""Own log levels changed at run time: POST /loglevel, SIGUSR1 (more verbose), SIGUSR2 (less)."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.daemonproc import DaemonProcess, append_lines
from tests.ops.helpers import free_port, get_json, http, log_records, ops_config, running, wait_for


def dead_letter_debug_records(proc: DaemonProcess) -> int:
    """DEBUG records of the dead-letter file (one per dead-lettered batch)."""
    return sum(1 for r in log_records(proc) if r["logger"] == "logflume.deadletter" and r["level"] == "DEBUG")


def write_invalid_and_wait(tmp: Path, port: int, count: int) -> None:
    """Append one non-JSON line and wait until the daemon dead-lettered it."""
    append_lines(tmp / "logs" / "app.log", b"not json\n")

    def settled() -> bool:
        _, body = http(port, "/metrics")
        return f'logflume_stage_events_dead_lettered_total{{stage="parse"}} {float(count)}' in body.decode()

    wait_for(settled, 60, 0.1, f"{count} dead letters")


class TestPostLoglevel:
    def test_changes_one_logger(self, tmp_path: Path) -> None:
        """Setting logflume.deadletter to DEBUG makes its debug records appear, and only from then on."""
        port = free_port()
        with running(ops_config(tmp_path, port), port) as proc:
            write_invalid_and_wait(tmp_path, port, 1)
            before = dead_letter_debug_records(proc)
            status, body = http(port, "/loglevel", {"level": "debug", "logger": "logflume.deadletter"})
            write_invalid_and_wait(tmp_path, port, 2)
            wait_for(lambda: dead_letter_debug_records(proc) == 1, 30, 0.1, "the debug record")
            _, levels = get_json(port, "/loglevel")
            assert proc.stop() == 0
        assert before == 0
        assert status == 200
        assert b'"previous": "INFO"' in body
        assert levels["levels"] == {"logflume": "INFO", "logflume.deadletter": "DEBUG"}

    def test_rejects_unknown_level_and_foreign_logger(self, tmp_path: Path) -> None:
        """A level that does not exist or a logger outside logflume's tree: 400 and a reason."""
        port = free_port()
        with running(ops_config(tmp_path, port), port) as proc:
            bad_level = http(port, "/loglevel", {"level": "LOUD"})
            foreign = http(port, "/loglevel", {"level": "DEBUG", "logger": "aiohttp"})
            not_json = http(port, "/loglevel", "x")
            assert proc.stop() == 0
        assert bad_level[0] == 400
        assert b"unknown level" in bad_level[1]
        assert foreign[0] == 400
        assert b"not one of logflume's" in foreign[1]
        assert not_json[0] == 400


class TestSignals:
    def test_sigusr1_raises_and_sigusr2_lowers_verbosity(self, tmp_path: Path) -> None:
        """SIGUSR1 moves INFO to DEBUG (debug records appear); two SIGUSR2 then move it to WARNING."""
        port = free_port()
        with running(ops_config(tmp_path, port), port) as proc:
            proc.proc.send_signal(signal.SIGUSR1)  # type: ignore[union-attr]
            wait_for(
                lambda: get_json(port, "/loglevel")[1]["levels"]["logflume"] == "DEBUG", 30, 0.1, "DEBUG"
            )
            write_invalid_and_wait(tmp_path, port, 1)
            wait_for(lambda: dead_letter_debug_records(proc) == 1, 30, 0.1, "the debug record")
            # One signal at a time: a second one sent before the first is handled merges with it.
            proc.proc.send_signal(signal.SIGUSR2)  # type: ignore[union-attr]
            wait_for(lambda: get_json(port, "/loglevel")[1]["levels"]["logflume"] == "INFO", 30, 0.1, "INFO")
            proc.proc.send_signal(signal.SIGUSR2)  # type: ignore[union-attr]
            wait_for(
                lambda: get_json(port, "/loglevel")[1]["levels"]["logflume"] == "WARNING", 30, 0.1, "WARNING"
            )
            assert proc.stop() == 0
        changes = [r["levels"] for r in log_records(proc) if r["message"] == "Log level changed"]
        assert changes == [{"logflume": "DEBUG"}, {"logflume": "INFO"}, {"logflume": "WARNING"}]
