"""/healthz and /readyz of a running daemon, and the health judgements behind them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.ops.helpers import (
    free_port,
    get_json,
    log_records,
    metric,
    ops_config,
    running,
    wait_for,
    write_lines,
)


def dead_postgres(port: int, buffer: str) -> dict[str, Any]:
    """A PostgreSQL sink pointing at a port nothing listens on."""
    return {
        "name": "db",
        "type": "postgres",
        "dsn": f"postgresql://logflume@127.0.0.1:{port}/logs",
        "connect_timeout": "1s",
        "buffer": {"type": buffer},
        "retry": {"initial_backoff": "100ms", "max_backoff": "500ms"},
    }


def with_second_sink(tmp: Path, port: int, sink: dict[str, Any]) -> Path:
    config = ops_config(tmp, port)
    data = yaml.safe_load(config.read_text())
    data["sinks"].append(sink)
    config.write_text(yaml.safe_dump(data))
    return config


class TestHealthz:
    def test_alive(self, tmp_path: Path) -> None:
        """A running daemon answers 200 with its loop lag."""
        port = free_port()
        with running(ops_config(tmp_path, port), port) as proc:
            status, body = get_json(port, "/healthz")
            assert proc.stop() == 0
        assert status == 200
        assert body["status"] == "ok"
        assert body["loop_lag_seconds"] < 5


class TestReadyz:
    def test_ready_when_everything_works(self, tmp_path: Path) -> None:
        """Sources following and the file sink writing: 200, ready, each item reported ok."""
        port = free_port()
        with running(ops_config(tmp_path, port), port) as proc:
            write_lines(tmp_path, 10, seed=1)
            wait_for(lambda: get_json(port, "/readyz")[1]["status"] == "ready", 60, 0.1, "ready")
            status, body = get_json(port, "/readyz")
            assert proc.stop() == 0
        assert status == 200
        assert body["status"] == "ready"
        files_open = body["sources"]["proxy"]["files_open"]
        assert {"proxy": {"running": True, "state": "following", "files_open": files_open}} == body["sources"]
        assert body["sinks"]["local"]["status"] == "ok"

    def test_sink_down_with_memory_buffer_is_not_ready(self, tmp_path: Path) -> None:
        """A sink whose backend is down and that can only hold events in memory: 503, naming the sink."""
        port = free_port()
        config = with_second_sink(tmp_path, port, dead_postgres(free_port(), "memory"))
        with running(config, port):
            write_lines(tmp_path, 10, seed=1)
            wait_for(lambda: get_json(port, "/readyz")[0] == 503, 60, 0.2, "readyz to turn 503")
            status, body = get_json(port, "/readyz")
        assert status == 503
        assert body["status"] == "not ready"
        assert body["sinks"]["db"]["status"] == "unreachable"
        assert body["sinks"]["db"]["error"]
        assert body["sinks"]["local"]["status"] == "ok"
        assert any(problem.startswith("sink db is unreachable") for problem in body["problems"])

    def test_sink_down_with_room_on_disk_is_degraded(self, tmp_path: Path) -> None:
        """A dead backend whose events go to a disk buffer with room left: 200 degraded, the sink
        buffering, its events on disk, and the reason listed."""
        port = free_port()
        config = with_second_sink(tmp_path, port, dead_postgres(free_port(), "disk"))
        with running(config, port) as proc:
            write_lines(tmp_path, 10, seed=1)
            wait_for(
                lambda: get_json(port, "/readyz")[1]["sinks"]["db"].get("disk_bytes", 0) > 0,
                60,
                0.2,
                "the sink to buffer on disk",
            )
            status, body = get_json(port, "/readyz")
            proc.stop()
        assert (200, "degraded", "buffering") == (status, body["status"], body["sinks"]["db"]["status"])
        assert any(reason.startswith("sink db buffers to disk") for reason in body["degraded"])


class TestSourcesFollowingNothing:
    def test_a_missing_log_directory_is_not_ready_until_files_appear(self, tmp_path: Path) -> None:
        """The only source's glob lies in a directory that does not exist: 503 not ready, the
        source 'missing' in the body and the metric, one warning naming the glob and the
        directory; once the directory and a file appear, the daemon is ready and says so."""
        port = free_port()
        logs = tmp_path / "later" / "logs"
        config = ops_config(tmp_path, port, source={"include": [str(logs / "*.log")]})
        with running(config, port) as proc:
            wait_for(lambda: get_json(port, "/readyz")[1]["sources"]["proxy"]["state"] == "missing", 60, 0.1,
                     "the first scan")  # fmt: skip
            status, body = get_json(port, "/readyz")
            missing = metric(port, "logflume_source_state", source="proxy", state="missing")
            logs.mkdir(parents=True)
            (logs / "app.log").write_text('{"a": 1}\n')
            wait_for(lambda: get_json(port, "/readyz")[1]["status"] == "ready", 60, 0.1, "ready")
            following = metric(port, "logflume_source_state", source="proxy", state="following")
            assert proc.stop() == 0
        records = log_records(proc)
        warnings = [r for r in records if r["message"] == "Source follows no file"]
        expected = {
            "status": (503, "not ready"),
            "missing": [str(logs)],
            "metrics": (1.0, 1.0),
            "warnings": [([str(logs / "*.log")], [str(logs)])],
            "recovered": 1,
        }
        assert expected == {
            "status": (status, body["status"]),
            "missing": body["sources"]["proxy"]["missing_directories"],
            "metrics": (missing, following),
            "warnings": [(r["include"], r["missing_directories"]) for r in warnings],
            "recovered": sum(r["message"] == "Source follows files again" for r in records),
        }
        assert any("none can" in problem for problem in body["problems"])

    def test_an_empty_log_directory_is_degraded_not_unready(self, tmp_path: Path) -> None:
        """The directory exists but nothing matches yet (a proxy that has not logged): 200 degraded,
        so a readiness probe does not hold back the very traffic that would make the first log."""
        port = free_port()
        with running(ops_config(tmp_path, port), port) as proc:
            wait_for(lambda: get_json(port, "/readyz")[1]["sources"]["proxy"]["state"] == "waiting", 60, 0.1,
                     "the first scan")  # fmt: skip
            status, body = get_json(port, "/readyz")
            assert proc.stop() == 0
        assert (200, "degraded") == (status, body["status"])
        assert [f"source proxy follows no file yet: nothing matches {tmp_path / 'logs' / '*.log'}"] == body[
            "degraded"
        ]
