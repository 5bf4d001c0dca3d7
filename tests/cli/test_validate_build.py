"""`logflume validate` refuses what start-up would: it builds the parse steps, stages and sinks as
`run` does (reading files, creating none), so a bad geo database or an anomaly window the
aggregate cannot take fails validation instead of the daemon's start."""

from __future__ import annotations

from pathlib import Path

import orjson

from tests.cli.helpers import file_only_config, logflume, write_yaml


def tree(root: Path) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*")}


class TestValidateBuilds:
    def test_a_geo_file_that_is_no_database(self, tmp_path: Path) -> None:
        """A geo database that cannot be opened: validate exits 2 naming the key, as run does."""
        database = tmp_path / "geo.mmdb"
        database.write_text("not a database")
        config = write_yaml(
            tmp_path / "c.yaml",
            file_only_config(tmp_path, pipeline={"enrich": {"geo": {"database": str(database)}}}),
        )
        validated = logflume("validate", "-c", str(config))
        ran = logflume("run", "-c", str(config))
        key = f"pipeline.enrich.geo.database: cannot open geo database {database}"
        assert (2, 2) == (validated.returncode, ran.returncode), validated.stdout
        assert key in validated.stderr
        assert key in ran.stderr
        assert f"invalid config {config}" in ran.stderr

    def test_an_anomaly_window_the_aggregate_cannot_take(self, tmp_path: Path) -> None:
        """Detectors judging 90 s windows beside an aggregate of 60 s ones (not a multiple): exit 2
        at the detector's window, before anything runs."""
        pipeline = {
            "aggregate": {"windows": ["60s"]},
            "anomaly": {"statistical": {"window": "90s"}},
        }
        config = write_yaml(tmp_path / "c.yaml", file_only_config(tmp_path, pipeline=pipeline))
        result = logflume("validate", "-c", str(config))
        assert 2 == result.returncode, result.stdout
        key = "pipeline.anomaly.statistical.window"
        [line] = [line for line in result.stderr.splitlines() if key in line]
        assert line.endswith("window 90.0s is not a multiple of the shortest window 60.0s")

    def test_validate_creates_nothing(self, tmp_path: Path) -> None:
        """Validating a config with every stage whose state_dir and output do not exist yet leaves
        the file system as it was."""
        pipeline = {"aggregate": {"windows": ["60s"]}, "anomaly": {"statistical": {"window": "60s"}}}
        config = write_yaml(
            tmp_path / "c.yaml",
            file_only_config(tmp_path, state_dir=str(tmp_path / "new" / "state"), pipeline=pipeline),
        )
        before = tree(tmp_path)
        result = logflume("validate", "-c", str(config))
        assert (0, before) == (result.returncode, tree(tmp_path)), result.stderr

    def test_an_impossible_checkpoint(self, tmp_path: Path) -> None:
        """A checkpoint file with a negative offset, which stops the start with exit 2, fails
        validate the same way, naming the file and the entry."""
        config = write_yaml(tmp_path / "c.yaml", file_only_config(tmp_path))
        checkpoint = tmp_path / "state" / "checkpoints" / "proxy.json"
        checkpoint.parent.mkdir(parents=True)
        entry = {"path": str(tmp_path / "logs" / "app.log"), "dev": 1, "ino": 2, "offset": -5, "updated": 1.0}
        checkpoint.write_bytes(orjson.dumps({"version": 1, "files": {"0123456789abcdef": entry}}))
        result = logflume("validate", "-c", str(config))
        assert 2 == result.returncode, result.stdout
        assert f"state_dir: impossible checkpoint file {checkpoint}" in result.stderr
        assert "files.0123456789abcdef.offset must be a non-negative integer, not -5" in result.stderr
