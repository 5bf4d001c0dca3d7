"""`logflume check`: a line per source glob and sink, ok or FAIL with the reason; exit 1 on any failure."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.daemonproc import write_config
from tests.fixtures.common import free_port
from tests.fixtures.postgres import PASSWORD, PostgresServer


def run_check(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "logflume", "check", "-c", str(config), "--timeout", "20"],
        capture_output=True,
        text=True,
        timeout=120,
    )


def report(result: subprocess.CompletedProcess[str]) -> dict[str, tuple[str, str]]:
    """item -> (ok|FAIL, detail), from the printed lines."""
    out = {}
    for line in result.stdout.splitlines():
        status, rest = line.split(None, 1)
        item, detail = rest.split(": ", 1)
        out[item] = (status, detail)
    return out


def postgres_sink(dsn: str, **extra: Any) -> dict[str, Any]:
    return {"name": "db", "type": "postgres", "dsn": dsn, "connect_timeout": "2s", **extra}


def add_sink(config: Path, sink: dict[str, Any]) -> None:
    data = yaml.safe_load(config.read_text())
    data["sinks"].append(sink)
    config.write_text(yaml.safe_dump(data))


class TestCheck:
    def test_good_config(self, tmp_path: Path, postgres_server: PostgresServer) -> None:
        """Readable files, a writable output directory and a live database: every line ok, exit 0."""
        config = write_config(tmp_path)
        (tmp_path / "logs" / "app.log").write_text('{"a": 1}\n')
        add_sink(config, postgres_sink(postgres_server.dsn_without_password(), password=PASSWORD))
        result = run_check(config)
        lines = report(result)
        assert result.returncode == 0, result.stdout + result.stderr
        assert {"ok"} == {status for status, _ in lines.values()}
        pattern = str(tmp_path / "logs" / "*.log")
        assert lines[f"source proxy {pattern}"] == ("ok", "1 files match, all readable")
        assert "writable" in lines["sink local"][1]
        assert {
            "pipeline", f"state_dir {tmp_path / 'state'}", "sink local", "sink db", f"source proxy {pattern}"
        } == set(lines)  # fmt: skip

    def test_bad_config(self, tmp_path: Path) -> None:
        """A glob under a missing directory and a database nobody listens for: FAIL lines, exit 1."""
        config = write_config(tmp_path, source={"include": [str(tmp_path / "missing" / "*.log")]})
        add_sink(config, postgres_sink(f"postgresql://logflume@127.0.0.1:{free_port()}/logs"))
        result = run_check(config)
        lines = report(result)
        assert result.returncode == 1
        assert "2 of 5 checks failed" in result.stderr
        missing = str(tmp_path / "missing")
        assert ("FAIL", f"no file matches and directory {missing} does not exist") == lines[
            f"source proxy {missing}/*.log"
        ]
        assert lines["sink db"][0] == "FAIL"
        assert lines["sink local"][0] == "ok"

    def test_empty_directory_is_fine(self, tmp_path: Path) -> None:
        """No file yet in an existing directory is ok: the daemon picks files up when they appear."""
        config = write_config(tmp_path)
        result = run_check(config)
        assert result.returncode == 0
        assert ("ok", f"no file matches yet; directory {tmp_path / 'logs'} exists") == report(result)[
            f"source proxy {tmp_path / 'logs' / '*.log'}"
        ]

    def test_invalid_config(self, tmp_path: Path) -> None:
        """A config that does not validate: exit 2 and the issue, before anything is checked."""
        config = write_config(tmp_path, unknown_key=1)
        result = run_check(config)
        assert result.returncode == 2
        assert "unknown_key" in result.stderr
        assert result.stdout == ""


def tree(root: Path) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*")}


class TestNoSideEffects:
    def test_check_creates_nothing(self, tmp_path: Path) -> None:
        """Output and state directories that do not exist yet are reported as creatable, and
        neither they nor anything else is created (before: the file sink made out/check/)."""
        config = write_config(
            tmp_path,
            state_dir=str(tmp_path / "not" / "yet" / "state"),
            sink={"path": str(tmp_path / "not" / "yet" / "out" / "{source}" / "%Y-%m-%d.jsonl")},
        )
        (tmp_path / "logs" / "app.log").write_text('{"a": 1}\n')
        before = tree(tmp_path)
        result = run_check(config)
        lines = report(result)
        assert (0, before) == (result.returncode, tree(tmp_path)), result.stdout + result.stderr
        state = f"state_dir {tmp_path / 'not' / 'yet' / 'state'}"
        assert lines[state] == ("ok", f"will be created in {tmp_path}")
        assert lines["sink local"][1].endswith(f"it will be created in {tmp_path}, which is writable")

    def test_check_builds_the_pipeline_as_run_does(self, tmp_path: Path) -> None:
        """A geo database that is no database: the pipeline line fails with the key path and the
        reason, as run would refuse to start; exit 1."""
        database = tmp_path / "geo.mmdb"
        database.write_text("not a database")
        config = write_config(tmp_path, pipeline={"enrich": {"geo": {"database": str(database)}}})
        result = run_check(config)
        status, detail = report(result)["pipeline"]
        assert (1, "FAIL") == (result.returncode, status)
        assert detail.startswith(f"pipeline.enrich.geo.database: cannot open geo database {database}")
