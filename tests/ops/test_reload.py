"""SIGHUP reloads the config while events keep flowing: nothing lost, nothing doubled."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from logflume.generate import generate_rotating
from tests.daemonproc import DaemonProcess, read_output, request_ids
from tests.ops.helpers import free_port, log_records, messages, metric, ops_config, running, wait_for

LINES = 20_000
RATE = 5_000.0
SEED = 4


def all_ids() -> list[str]:
    return [f"req_{SEED}_{seq:010d}" for seq in range(LINES)]


def edit_config(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data))


def extra_sink(tmp: Path) -> dict[str, Any]:
    return {"name": "extra", "type": "file", "path": str(tmp / "out2" / "{source}.jsonl")}


def sighup(proc: DaemonProcess) -> None:
    assert proc.proc is not None
    proc.proc.send_signal(signal.SIGHUP)


def reloads(proc: DaemonProcess) -> list[dict[str, Any]]:
    return [
        r
        for r in log_records(proc)
        if r["message"] in ("Config reloaded", "Config reload failed; keeping the running config")
    ]


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[threading.Thread]:
    """Writes LINES lines at RATE lines/s into logs/app.log, like a live service."""
    thread = threading.Thread(
        target=generate_rotating, args=(tmp_path / "logs", LINES, 0, RATE, SEED, "app.log")
    )
    yield thread
    if thread.is_alive():
        thread.join()


def contiguous_suffix(ids: set[str]) -> bool:
    """``ids`` are the last len(ids) lines written, without a gap."""
    expected = all_ids()
    return ids == set(expected[len(expected) - len(ids) :])


def contiguous_prefix(ids: set[str]) -> bool:
    return ids == set(all_ids()[: len(ids)])


class TestValidReload:
    def test_new_sink_starts_and_old_sink_misses_nothing(
        self, tmp_path: Path, writer: threading.Thread
    ) -> None:
        """A sink added by a reload receives every event from the swap on; the unchanged sink keeps
        running (its counters carry on) and gets every line exactly once."""
        port = free_port()
        config = ops_config(tmp_path, port)
        with running(config, port) as proc:
            writer.start()
            wait_for(
                lambda: (metric(port, "logflume_sink_events_sent_total", sink="local") or 0) > 2_000,
                60,
                0.1,
                "events before the reload",
            )
            edit_config(config, lambda data: data["sinks"].append(extra_sink(tmp_path)))
            sighup(proc)
            wait_for(lambda: reloads(proc) != [], 60, 0.1, "the reload")
            writer.join()
            wait_for(
                lambda: metric(port, "logflume_sink_events_sent_total", sink="local") == LINES,
                60,
                0.2,
                "every event in the old sink",
            )
            received = metric(port, "logflume_sink_events_received_total", sink="local")
            reloaded = metric(port, "logflume_reloads_total", result="ok")
            assert proc.stop() == 0
        assert reloads(proc)[0]["message"] == "Config reloaded"
        assert reloads(proc)[0]["sinks_start"] == ["extra"]
        assert reloaded == 1
        # The runner was kept, not rebuilt: its count covers what it got before the reload too.
        assert received == LINES
        local = request_ids(read_output(tmp_path / "out"))
        assert set(all_ids()) == set(local)
        assert {1} == set(local.values())
        extra = request_ids(read_output(tmp_path / "out2"))
        assert 0 < len(extra) < LINES
        assert {1} == set(extra.values())
        assert contiguous_suffix(set(extra))

    def test_removed_sink_drains_and_closes(self, tmp_path: Path, writer: threading.Thread) -> None:
        """A sink removed by a reload keeps what it got before the swap (a gap-free prefix) and is
        closed; the remaining sink gets every line exactly once."""
        port = free_port()
        config = ops_config(tmp_path, port)
        edit_config(config, lambda data: data["sinks"].append(extra_sink(tmp_path)))
        with running(config, port) as proc:
            writer.start()
            wait_for(
                lambda: (metric(port, "logflume_sink_events_sent_total", sink="extra") or 0) > 2_000,
                60,
                0.1,
                "events before the reload",
            )
            edit_config(config, lambda data: data["sinks"].pop())
            sighup(proc)
            wait_for(lambda: reloads(proc) != [], 60, 0.1, "the reload")
            wait_for(
                lambda: metric(port, "logflume_sink_events_sent_total", sink="extra") is None,
                60,
                0.1,
                "the removed sink to close",
            )
            writer.join()
            wait_for(
                lambda: metric(port, "logflume_sink_events_sent_total", sink="local") == LINES,
                60,
                0.2,
                "every event in the remaining sink",
            )
            assert proc.stop() == 0
        assert reloads(proc)[0]["sinks_stop"] == ["extra"]
        local = request_ids(read_output(tmp_path / "out"))
        assert set(all_ids()) == set(local)
        assert {1} == set(local.values())
        extra = request_ids(read_output(tmp_path / "out2"))
        assert 0 < len(extra) < LINES
        assert {1} == set(extra.values())
        assert contiguous_prefix(set(extra))

    def test_changed_sink_is_replaced_after_draining(self, tmp_path: Path, writer: threading.Thread) -> None:
        """A sink whose settings change is drained and closed, then its replacement (same name, same
        output) starts: every line exactly once."""
        port = free_port()
        config = ops_config(tmp_path, port)
        with running(config, port) as proc:
            writer.start()
            wait_for(
                lambda: (metric(port, "logflume_sink_events_sent_total", sink="local") or 0) > 2_000,
                60,
                0.1,
                "events before the reload",
            )
            edit_config(config, lambda data: data["sinks"][0].update(batch={"max_events": 100}))
            sighup(proc)
            wait_for(lambda: reloads(proc) != [], 60, 0.1, "the reload")
            writer.join()
            wait_for(
                lambda: len(request_ids(read_output(tmp_path / "out"))) == LINES,
                60,
                0.2,
                "every event in the output",
            )
            assert proc.stop() == 0
        record = reloads(proc)[0]
        assert (record["sinks_stop"], record["sinks_start"]) == (["local"], ["local"])
        local = request_ids(read_output(tmp_path / "out"))
        assert set(all_ids()) == set(local)
        assert {1} == set(local.values())

    def test_changed_source_hands_over_at_its_checkpoint(
        self, tmp_path: Path, writer: threading.Thread
    ) -> None:
        """A source whose settings change is drained and replaced; the new one resumes exactly where
        the old one stopped: every line once."""
        port = free_port()
        config = ops_config(tmp_path, port)
        with running(config, port) as proc:
            writer.start()
            wait_for(
                lambda: (metric(port, "logflume_sink_events_sent_total", sink="local") or 0) > 2_000,
                60,
                0.1,
                "events before the reload",
            )
            edit_config(config, lambda data: data["sources"][0].update(read_bytes="32KiB"))
            sighup(proc)
            wait_for(lambda: reloads(proc) != [], 60, 0.1, "the reload")
            writer.join()
            wait_for(
                lambda: metric(port, "logflume_sink_events_sent_total", sink="local") == LINES,
                60,
                0.2,
                "every event",
            )
            assert proc.stop() == 0
        record = reloads(proc)[0]
        assert (record["sources_stop"], record["sources_start"]) == (["proxy"], ["proxy"])
        local = request_ids(read_output(tmp_path / "out"))
        assert set(all_ids()) == set(local)
        assert {1} == set(local.values())


class TestInvalidReload:
    def test_keeps_running_on_the_old_config(self, tmp_path: Path, writer: threading.Thread) -> None:
        """An invalid config is refused with its issues in the log; events keep flowing to the old sinks."""
        port = free_port()
        config = ops_config(tmp_path, port)
        with running(config, port) as proc:
            edit_config(config, lambda data: data["sinks"][0].update(flush_every="1s"))
            sighup(proc)
            wait_for(lambda: reloads(proc) != [], 60, 0.1, "the refused reload")
            writer.start()
            writer.join()
            wait_for(
                lambda: metric(port, "logflume_sink_events_sent_total", sink="local") == LINES,
                60,
                0.2,
                "every event",
            )
            failed = metric(port, "logflume_reloads_total", result="failed")
            assert proc.alive()
            assert proc.stop() == 0
        record = reloads(proc)[0]
        assert record["message"] == "Config reload failed; keeping the running config"
        assert str(config) == record["file"]
        assert any("sinks[0].flush_every" in issue and "unknown key" in issue for issue in record["issues"])
        assert failed == 1
        assert "Config reloaded" not in messages(proc)
        assert set(all_ids()) == set(request_ids(read_output(tmp_path / "out")))
