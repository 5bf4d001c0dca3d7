"""Optional parts (pip extras): declared consistently, and named when a config or command needs
one that is not installed (simulated by hiding its modules, see tests/cli/helpers.py)."""

from __future__ import annotations

import signal
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from logflume import extras
from logflume.generate import lines
from tests.cli.helpers import file_only_config, logflume, logflume_argv, write_yaml
from tests.daemonproc import append_lines, read_jsonl, read_output
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
# One sink of each kind that needs an extra: (extra, sink config, key path named in the error).
SINKS: list[tuple[str, dict[str, Any], str]] = [
    ("elasticsearch", {"type": "elasticsearch", "hosts": ["http://127.0.0.1:9200"]}, "sinks[0].type"),
    (
        "opensearch",
        {"type": "elasticsearch", "flavor": "opensearch", "hosts": ["http://127.0.0.1:9200"]},
        "sinks[0].flavor",
    ),
    ("s3", {"type": "s3", "bucket": "llm-logs"}, "sinks[0].type"),
    ("postgres", {"type": "postgres", "dsn": "postgresql://logflume@127.0.0.1/logs"}, "sinks[0].type"),
    ("analysis", {"type": "file", "path": "out/{source}.jsonl", "digest": True}, "sinks[0].digest"),
]


def optional_dependencies() -> dict[str, list[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    result: dict[str, list[str]] = project["optional-dependencies"]
    return result


def sink_config(tmp_path: Path, sink: dict[str, Any]) -> Path:
    config = file_only_config(tmp_path, sinks=[{"name": "backend", **sink}])
    return write_yaml(tmp_path / "logflume.yaml", config)


class TestDeclared:
    def test_pyproject_and_the_table_agree(self) -> None:
        """pyproject's extras are logflume.extras' (plus all and dev), each requiring its distributions."""
        declared = optional_dependencies()
        assert set(extras.EXTRAS) | {"all", "dev"} == set(declared)
        for name, extra in extras.EXTRAS.items():
            required = {spec.split("[")[0].split(">")[0].split("=")[0].strip() for spec in declared[name]}
            assert set(extra.distributions) == required, name
        assert [f"logflume[{','.join(extras.EXTRAS)}]"] == declared["all"]

    def test_base_install_has_no_backend_client(self) -> None:
        """The base dependencies hold none of the extras' libraries (a file-only install stays small)."""
        project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
        base = {spec.split("[")[0].split(">")[0].strip() for spec in project["dependencies"]}
        in_extras = {d for extra in extras.EXTRAS.values() for d in extra.distributions}
        assert set() == base & in_extras

    def test_tests_install_every_extra(self) -> None:
        """scripts/test.sh installs the extras the suite needs (all of them) with dev."""
        assert "pip install -q -e '.[all,dev]'" in (ROOT / "scripts" / "test.sh").read_text()

    def test_container_installs_all(self) -> None:
        """The image builds and installs logflume[all]."""
        dockerfile = (ROOT / "Dockerfile").read_text()
        assert 'pip wheel --no-cache-dir --wheel-dir /wheels ".[all]"' in dockerfile
        assert 'echo "logflume[all]==' in dockerfile


class TestMissing:
    @pytest.mark.parametrize(("extra", "sink", "key"), SINKS, ids=[s[0] for s in SINKS])
    def test_validate_names_the_extra(
        self, extra: str, sink: dict[str, Any], key: str, tmp_path: Path
    ) -> None:
        """A sink whose client library is missing: validate exits 2 naming the key and the pip command."""
        result = logflume("validate", "-c", str(sink_config(tmp_path, sink)), hide=(extra,))
        assert 2 == result.returncode
        assert f"{key}: the {sink['type']} sink 'backend' needs logflume[{extra}]" in result.stderr
        assert f"pip install 'logflume[{extra}]'" in result.stderr

    @pytest.mark.parametrize("command", ["run", "check"])
    def test_run_and_check_refuse_before_starting(self, command: str, tmp_path: Path) -> None:
        """run and check refuse the same config the same way, before touching the state directory."""
        config = sink_config(tmp_path, SINKS[3][1])
        result = logflume(command, "-c", str(config), hide=("postgres",))
        assert 2 == result.returncode
        assert "pip install 'logflume[postgres]'" in result.stderr
        assert not (tmp_path / "state").exists()

    def test_with_the_extra_the_same_config_is_valid(self, tmp_path: Path) -> None:
        """Control: with asyncpg present the postgres config validates (the refusal was the extra)."""
        result = logflume("validate", "-c", str(sink_config(tmp_path, SINKS[3][1])))
        assert (0, "") == (result.returncode, result.stderr)

    def test_analyze_needs_the_analysis_extra(self, tmp_path: Path) -> None:
        """analyze without DuckDB: exit 2 naming logflume[analysis]; query still works on files."""
        log = tmp_path / "app.log"
        append_lines(log, b"".join(lines(20, seed=1)))
        analyze = logflume("analyze", str(log), hide=("analysis",))
        assert (2, "") == (analyze.returncode, analyze.stdout)
        assert "logflume analyze needs logflume[analysis]" in analyze.stderr
        query = logflume("query", "--count", "level exists", str(log), hide=("analysis",))
        assert (0, "20") == (query.returncode, query.stdout.strip())

    @pytest.mark.parametrize(
        ("extra", "spec"), [("s3", "s3://llm-logs/proxy"), ("postgres", "postgresql://u@127.0.0.1/db")]
    )
    def test_remote_inputs_name_their_extra(self, extra: str, spec: str) -> None:
        """An s3:// or postgresql:// input without its client: exit 2 naming the extra, nothing fetched."""
        result = logflume("query", "--count", "level exists", spec, hide=(extra,))
        assert 2 == result.returncode
        assert f"needs logflume[{extra}]" in result.stderr


class TestBaseInstallDaemon:
    def test_file_sink_without_duckdb_skips_digests_and_says_so(self, tmp_path: Path) -> None:
        """Without DuckDB the default file sink rotates and compresses, logs once that digests are off."""
        config = write_yaml(tmp_path / "logflume.yaml", file_only_config(tmp_path))
        log_path = tmp_path / "daemon.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                logflume_argv("run", "-c", str(config), hide=("analysis",)), stdout=log, stderr=log
            )
        try:
            append_lines(tmp_path / "logs" / "app.log", b"".join(lines(2000, seed=3)))
            wait_for(lambda: len(read_output(tmp_path / "out")) == 2000, 120, what="2000 events")
            wait_for(lambda: list((tmp_path / "out").rglob("*.gz")), 120, what="a compressed file")
            proc.send_signal(signal.SIGTERM)
            assert 0 == proc.wait(120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(30)
        records = list(read_jsonl(log_path))
        off = [r for r in records if r["message"] == "Analysis digests off: DuckDB is not installed"]
        assert [("local", "pip install 'logflume[analysis]'")] == [(r["sink"], r["install"]) for r in off]
        assert [] == [r for r in records if "digest" in r["message"] and r not in off]
        assert [] == [p for p in (tmp_path / "out").rglob("*") if "digest" in p.name]

    def test_reload_into_a_missing_extra_keeps_the_running_config(self, tmp_path: Path) -> None:
        """SIGHUP into a config needing asyncpg, which is missing: refused, logged with the extra; runs on."""
        config = file_only_config(tmp_path)
        path = write_yaml(tmp_path / "logflume.yaml", config)
        log_path = tmp_path / "daemon.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                logflume_argv("run", "-c", str(path), hide=("postgres",)), stdout=log, stderr=log
            )
        try:
            wait_for(lambda: "Daemon started" in log_path.read_text(), 60, what="the start")
            config["sinks"].append({"name": "warehouse", **SINKS[3][1]})
            write_yaml(path, config)
            proc.send_signal(signal.SIGHUP)
            wait_for(lambda: "Config reload failed" in log_path.read_text(), 60, what="the refused reload")
            append_lines(tmp_path / "logs" / "app.log", b"".join(lines(100, seed=4)))
            wait_for(
                lambda: len(read_output(tmp_path / "out")) == 100, 60, what="100 events after the reload"
            )
            proc.send_signal(signal.SIGTERM)
            assert 0 == proc.wait(120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(30)
        (failure,) = [r for r in read_jsonl(log_path) if r["message"].startswith("Config reload failed")]
        assert "the postgres sink 'warehouse' needs logflume[postgres]" in failure["error"]
