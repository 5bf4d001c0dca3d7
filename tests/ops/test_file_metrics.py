"""Per-file series after real rotations: one series per file being read at its path, gone when the
file is done with."""

from __future__ import annotations

import os
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.ops.helpers import free_port, http, metric, ops_config, running, wait_for, write_lines

ROTATIONS = 3


def file_series(port: int, family: str) -> list[tuple[str, float]]:
    """(file label, value) of every sample of ``family``, duplicates included."""
    status, body = http(port, "/metrics")
    assert status == 200
    return sorted(
        (sample.labels["file"], sample.value)
        for parsed in text_string_to_metric_families(body.decode())
        if parsed.name == family
        for sample in parsed.samples
    )


def offsets(port: int) -> list[tuple[str, float]]:
    return file_series(port, "logflume_file_read_offset_bytes")


def rotate(logs: Path, n: int) -> None:
    """Rename-and-create, as logrotate does: app.log becomes app.log.<n>, a new app.log starts."""
    os.rename(logs / "app.log", logs / f"app.log.{n}")
    write_lines(logs.parent, 20, seed=100 + n)


class TestOffsetSeries:
    def test_rotated_away_files_leave_no_series_while_they_drain(self, tmp_path: Path) -> None:
        """Globs of the live file only (*.log) and a long rotate_wait: after three rotations the
        rotated files are still being drained (four files open), yet the offset and lag families
        hold one series, the live app.log, with its full size."""
        port = free_port()
        config = ops_config(tmp_path, port, source={"rotate_wait": "60s"})
        logs = tmp_path / "logs"
        with running(config, port) as proc:
            write_lines(tmp_path, 20, seed=100)
            for n in range(1, ROTATIONS + 1):
                size = (logs / "app.log").stat().st_size
                live = [(str(logs / "app.log"), size)]
                wait_for(lambda live=live: offsets(port) == live, 60, 0.1, "the live file read")
                rotate(logs, n)
            size = (logs / "app.log").stat().st_size
            open_files = lambda: metric(port, "logflume_source_files_open", source="proxy")  # noqa: E731
            wait_for(lambda: open_files() == ROTATIONS + 1, 60, 0.1, "every file open")
            wait_for(lambda: offsets(port)[-1][1] == size, 60, 0.1, "the newest file read")
            found = (offsets(port), file_series(port, "logflume_file_lag_bytes"))
            assert proc.stop() == 0
        assert ([(str(logs / "app.log"), size)], [(str(logs / "app.log"), 0)]) == found

    def test_rotated_files_in_the_globs_are_series_until_deleted(self, tmp_path: Path) -> None:
        """Globs that include rotated names (app.log*): each rotated file is one series under its
        new name; deleted, its series goes once its reader has finished."""
        port = free_port()
        config = ops_config(tmp_path, port, source={"include": [str(tmp_path / "logs" / "app.log*")]})
        logs = tmp_path / "logs"
        with running(config, port) as proc:
            write_lines(tmp_path, 20, seed=100)
            for n in range(1, ROTATIONS + 1):
                wait_for(lambda: str(logs / "app.log") in dict(offsets(port)), 60, 0.1, "the live file read")
                rotate(logs, n)
            names = sorted(str(path) for path in logs.iterdir())
            sizes = {str(path): path.stat().st_size for path in logs.iterdir()}
            each = sorted(sizes.items())
            wait_for(lambda: offsets(port) == each, 60, 0.1, "a series per file, each read to its end")
            for n in range(1, ROTATIONS + 1):
                (logs / f"app.log.{n}").unlink()
            wait_for(lambda: len(offsets(port)) == 1, 60, 0.1, "the deleted files finished")
            after = offsets(port)
            assert proc.stop() == 0
        assert ROTATIONS + 1 == len(names)
        assert [(str(logs / "app.log"), sizes[str(logs / "app.log")])] == after
