"""Rotation handled for real, with the daemon running as a separate process."""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import pytest

from logflume.generate import lines
from tests.daemonproc import DaemonProcess, Daemons, append_lines, read_output, request_ids, write_config
from tests.waiting import wait_for


def block(count: int, seed: int) -> bytes:
    return b"".join(lines(count, seed))


def expected_ids(*blocks: tuple[int, int]) -> set[str]:
    return {f"req_{seed}_{seq:010d}" for count, seed in blocks for seq in range(count)}




def delivered(tmp: Path, want: set[str]) -> bool:
    return want <= set(request_ids(read_output(tmp / "out")))


def assert_exactly_once(tmp: Path, want: set[str], proc: DaemonProcess) -> None:
    wait_for(lambda: delivered(tmp, want), 60, 0.3, "every line delivered")
    assert proc.stop() == 0, proc.logs()
    counts = request_ids(read_output(tmp / "out"))
    assert set(counts) == want
    assert [rid for rid, n in counts.items() if n > 1] == []


# Every rotation case with the work in the daemon's process and in two worker processes.
WORKERS = pytest.mark.parametrize("workers", [1, 2])


@WORKERS
class TestRunningRotation:
    def test_rename_and_create(self, tmp_path: Path, daemons: Daemons, workers: int) -> None:
        """A renamed file is read to its end, including lines written after the rename."""
        log = tmp_path / "logs" / "app.log"
        config = write_config(tmp_path, workers=workers)
        append_lines(log, block(1000, 1))
        proc = daemons.start(config)
        wait_for(lambda: delivered(tmp_path, expected_ids((1000, 1))), 30, 0.2, "first block")
        writer = open(log, "ab")  # noqa: SIM115 - the "service" keeps writing across the rotation
        writer.write(block(500, 2))
        writer.flush()
        log.rename(log.with_name("app.log.1"))  # out of the glob
        writer.write(block(200, 3))  # the writer still holds the renamed file
        writer.close()
        append_lines(log, block(1000, 4))
        assert_exactly_once(tmp_path, expected_ids((1000, 1), (500, 2), (200, 3), (1000, 4)), proc)

    def test_copytruncate_with_copy_in_glob(
        self, tmp_path: Path, daemons: Daemons, workers: int
    ) -> None:
        """copytruncate: the shrink restarts the file at 0; the copy is the same file and only its
        unread remainder is read."""
        log = tmp_path / "logs" / "app.log"
        rotated = {"include": [str(tmp_path / "logs" / "app.log*")]}
        config = write_config(tmp_path, workers=workers, source=rotated)
        append_lines(log, block(1000, 1))
        proc = daemons.start(config)
        wait_for(lambda: delivered(tmp_path, expected_ids((1000, 1))), 30, 0.2, "first block")
        append_lines(log, block(700, 2))
        shutil.copyfile(log, log.with_name("app.log.1"))
        os.truncate(log, 0)
        append_lines(log, block(300, 3))
        assert_exactly_once(tmp_path, expected_ids((1000, 1), (700, 2), (300, 3)), proc)

    def test_copytruncate_restarts_at_zero(self, tmp_path: Path, daemons: Daemons, workers: int) -> None:
        """After a truncation the new content is read from offset 0."""
        log = tmp_path / "logs" / "app.log"
        config = write_config(tmp_path, workers=workers)
        append_lines(log, block(1000, 1))
        proc = daemons.start(config)
        wait_for(lambda: delivered(tmp_path, expected_ids((1000, 1))), 30, 0.2, "first block")
        os.truncate(log, 0)
        append_lines(log, block(50, 2))
        assert_exactly_once(tmp_path, expected_ids((1000, 1), (50, 2)), proc)

    def test_rotate_then_gzip(self, tmp_path: Path, daemons: Daemons, workers: int) -> None:
        """A rotated file compressed to .gz (matching the glob) is never read twice."""
        log = tmp_path / "logs" / "app.log"
        include = [str(tmp_path / "logs" / "*.log"), str(tmp_path / "logs" / "*.gz")]
        config = write_config(tmp_path, workers=workers, source={"include": include})
        append_lines(log, block(1000, 1))
        proc = daemons.start(config)
        wait_for(lambda: delivered(tmp_path, expected_ids((1000, 1))), 30, 0.2, "first block")
        append_lines(log, block(600, 2))
        rotated = log.with_name("app.log.1")
        log.rename(rotated)
        with open(rotated, "rb") as src, gzip.open(str(rotated) + ".gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
        rotated.unlink()
        append_lines(log, block(400, 3))
        assert_exactly_once(tmp_path, expected_ids((1000, 1), (600, 2), (400, 3)), proc)

    def test_gzip_file_found_later(self, tmp_path: Path, daemons: Daemons, workers: int) -> None:
        """A .gz that matches the glob and was never seen is read decompressed, once."""
        gzipped = {"include": [str(tmp_path / "logs" / "*.gz")]}
        config = write_config(tmp_path, workers=workers, source=gzipped)
        proc = daemons.start(config)
        with gzip.open(tmp_path / "logs" / "old.log.gz", "wb") as out:
            out.write(block(800, 5))
        assert_exactly_once(tmp_path, expected_ids((800, 5)), proc)

    def test_delete_while_open(self, tmp_path: Path, daemons: Daemons, workers: int) -> None:
        """A file deleted while open is drained to its end."""
        log = tmp_path / "logs" / "app.log"
        config = write_config(tmp_path, workers=workers)
        append_lines(log, block(1000, 1))
        proc = daemons.start(config)
        wait_for(lambda: delivered(tmp_path, expected_ids((1000, 1))), 30, 0.2, "first block")
        writer = open(log, "ab")  # noqa: SIM115 - the "service" keeps writing across the rotation
        log.unlink()
        writer.write(block(800, 2))
        writer.close()
        assert_exactly_once(tmp_path, expected_ids((1000, 1), (800, 2)), proc)

    def test_new_file_is_found(self, tmp_path: Path, daemons: Daemons, workers: int) -> None:
        """A file created after start that matches the glob is read from its beginning."""
        config = write_config(tmp_path, workers=workers)
        proc = daemons.start(config)
        append_lines(tmp_path / "logs" / "late.log", block(300, 7))
        assert_exactly_once(tmp_path, expected_ids((300, 7)), proc)


@WORKERS
class TestRotationWhileStopped:
    def test_rename_while_stopped(self, tmp_path: Path, daemons: Daemons, workers: int) -> None:
        """On start, the file renamed out of the glob is finished from its checkpoint, then the new one."""
        log = tmp_path / "logs" / "app.log"
        config = write_config(tmp_path, workers=workers)
        append_lines(log, block(1000, 1))
        proc = daemons.start(config)
        wait_for(lambda: delivered(tmp_path, expected_ids((1000, 1))), 30, 0.2, "first block")
        assert proc.stop() == 0
        append_lines(log, block(500, 2))
        log.rename(log.with_name("app.log.1"))
        append_lines(log, block(300, 3))
        proc = daemons.start(config)
        assert_exactly_once(tmp_path, expected_ids((1000, 1), (500, 2), (300, 3)), proc)

    def test_rename_and_gzip_while_stopped(self, tmp_path: Path, daemons: Daemons, workers: int) -> None:
        """A file rotated and compressed while the daemon was down is finished from the .gz."""
        log = tmp_path / "logs" / "app.log"
        config = write_config(tmp_path, workers=workers)
        append_lines(log, block(1000, 1))
        proc = daemons.start(config)
        wait_for(lambda: delivered(tmp_path, expected_ids((1000, 1))), 30, 0.2, "first block")
        assert proc.stop() == 0
        append_lines(log, block(500, 2))
        with open(log, "rb") as src, gzip.open(str(log) + ".1.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
        log.unlink()
        append_lines(log, block(300, 3))
        proc = daemons.start(config)
        assert_exactly_once(tmp_path, expected_ids((1000, 1), (500, 2), (300, 3)), proc)

    def test_copytruncate_while_stopped(self, tmp_path: Path, daemons: Daemons, workers: int) -> None:
        """copytruncate while down, copy in the glob: the copy's remainder and the new content arrive once."""
        log = tmp_path / "logs" / "app.log"
        rotated = {"include": [str(tmp_path / "logs" / "app.log*")]}
        config = write_config(tmp_path, workers=workers, source=rotated)
        append_lines(log, block(1000, 1))
        proc = daemons.start(config)
        wait_for(lambda: delivered(tmp_path, expected_ids((1000, 1))), 30, 0.2, "first block")
        assert proc.stop() == 0
        append_lines(log, block(500, 2))
        shutil.copyfile(log, log.with_name("app.log.1"))
        os.truncate(log, 0)
        append_lines(log, block(300, 3))
        proc = daemons.start(config)
        assert_exactly_once(tmp_path, expected_ids((1000, 1), (500, 2), (300, 3)), proc)
