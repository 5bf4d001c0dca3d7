"""SIGTERM drains then exits 0; a second SIGTERM exits at once, keeping what was acknowledged."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import yaml

from logflume.generate import lines
from tests.daemonproc import DaemonProcess, append_lines, read_output, request_ids
from tests.ops.helpers import free_port, messages, metric, ops_config, running, wait_for

LINES = 60_000
SEED = 6


def checkpoint_offset(tmp: Path) -> int:
    saved = json.loads((tmp / "state" / "checkpoints" / "proxy.json").read_text())
    (entry,) = saved["files"].values()
    return int(entry["offset"])


def lines_before(path: Path, offset: int) -> int:
    return path.read_bytes()[:offset].count(b"\n")


class TestDrain:
    def test_everything_read_is_delivered_and_checkpointed(self, tmp_path: Path) -> None:
        """SIGTERM in the middle of ingestion: exit 0, the checkpoint covers exactly what reached the
        sink, and a restart delivers the rest without a duplicate."""
        port = free_port()
        config = ops_config(tmp_path, port)
        log_file = tmp_path / "logs" / "app.log"
        with running(config, port) as proc:
            append_lines(log_file, b"".join(lines(LINES, SEED)))
            wait_for(
                lambda: (metric(port, "logflume_sink_events_sent_total", sink="local") or 0) > 0,
                60,
                0.05,
                "the first events",
            )
            code = proc.stop()
        assert code == 0
        assert "Stopped" in messages(proc)
        delivered = request_ids(read_output(tmp_path / "out"))
        done = lines_before(log_file, checkpoint_offset(tmp_path))
        assert done > 0
        assert {f"req_{SEED}_{seq:010d}" for seq in range(done)} == set(delivered)
        assert {1} == set(delivered.values())
        with running(config, port) as again:
            wait_for(
                lambda: metric(port, "logflume_sink_events_sent_total", sink="local") == LINES - done,
                60,
                0.2,
                "the rest",
            )
            assert again.stop() == 0
        delivered = request_ids(read_output(tmp_path / "out"))
        assert {f"req_{SEED}_{seq:010d}" for seq in range(LINES)} == set(delivered)
        assert {1} == set(delivered.values())


class TestSecondSignal:
    def test_exits_at_once_keeping_acknowledged_checkpoints(self, tmp_path: Path) -> None:
        """A drain stuck on a dead backend ends at the second SIGTERM with exit 0; the checkpoint,
        never saved before (long interval), covers exactly the acknowledged lines."""
        port = free_port()
        config = ops_config(tmp_path, port, checkpoint_interval="1h", shutdown_timeout="5m")
        data = yaml.safe_load(config.read_text())
        data["sinks"].append(
            {
                "name": "db",
                "type": "postgres",
                "dsn": f"postgresql://logflume@127.0.0.1:{free_port()}/logs",
                "connect_timeout": "1s",
                "buffer": {"type": "memory"},
                "retry": {"initial_backoff": "100ms", "max_backoff": "200ms"},
            }
        )
        # Lines with kind: hold go only to the dead database; the others only to the file sink.
        data["pipeline"] = {
            "filter": {"rules": [{"when": 'kind == "hold"', "action": "route", "sinks": ["db"]}]}
        }
        config.write_text(yaml.safe_dump(data))
        log_file = tmp_path / "logs" / "app.log"
        with running(config, port) as proc:
            append_lines(log_file, b"".join(lines(100, SEED)))
            wait_for(
                lambda: metric(port, "logflume_sink_events_sent_total", sink="local") == 100,
                60,
                0.1,
                "the acknowledged lines",
            )
            acknowledged = log_file.stat().st_size
            append_lines(log_file, b'{"kind": "hold", "request_id": "held"}\n')
            # Retried events, not write errors: the failed connection at start is counted as one.
            wait_for(
                lambda: (metric(port, "logflume_sink_events_retried_total", sink="db") or 0) > 0,
                60,
                0.1,
                "the held line's write to fail",
            )
            assert not (tmp_path / "state" / "checkpoints" / "proxy.json").exists()
            assert proc.proc is not None
            proc.proc.send_signal(signal.SIGTERM)
            wait_for(lambda: "Shutting down" in messages(proc), 60, 0.1, "the drain")
            assert proc.alive()
            proc.proc.send_signal(signal.SIGTERM)
            code = proc.proc.wait(30)
        assert code == 0
        assert "Second signal: exiting now" in messages(proc)
        assert "Stopped" not in messages(proc)
        assert acknowledged == checkpoint_offset(tmp_path)
        assert len(read_output(tmp_path / "out")) == 100


def test_failed_start_exits_non_zero(tmp_path: Path) -> None:
    """A daemon that cannot listen on its HTTP address exits 1 (so Restart=on-failure applies)."""
    port = free_port()
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        proc = DaemonProcess(ops_config(tmp_path, port)).start()
        assert proc.proc is not None
        code = proc.proc.wait(60)
    assert code == 1
    assert "Cannot listen on the HTTP address" in messages(proc)
