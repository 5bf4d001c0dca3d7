"""Each writer of local files on a real full filesystem: nothing torn, nothing repeated, nothing lost,
and everything written once space returns."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import orjson
import pytest

from logflume.app import Daemon
from logflume.config import Config
from logflume.deadletter import DeadLetterFile
from logflume.errors import RetryableSinkError
from logflume.events import DeadLetter, RawChunk
from logflume.fsutil import atomic_write
from logflume.sinks.disk_buffer import DiskBuffer, encode_record
from logflume.sinks.file.config import FileSinkConfig
from logflume.sinks.file.sink import FileSink
from logflume.sinks.registry import SinkContext
from logflume.sinks.runner import SinkRunner
from logflume.sources.config import SourceConfig
from logflume.sources.state import FileState
from logflume.sources.tail import FileSource
from tests.faults.disks import Mount, fill, free
from tests.sinks.runner_fakes import AckLog, FakeSink, make_config, make_events, numbers
from tests.waiting import until

SIZE = 256 * 1024


def events(start: int, count: int, source: str = "proxy", pad: int = 200) -> list[dict[str, object]]:
    return [
        {"i": i, "pad": "x" * pad, "logflume": {"source": source, "event_id": f"e{i}"}}
        for i in range(start, start + count)
    ]


def lines_of(path: Path) -> list[int]:
    data = path.read_bytes()
    assert data == b"" or data.endswith(b"\n"), f"{path} ends in a torn line"
    return [orjson.loads(line)["i"] for line in data.splitlines()]


class TestAtomicWrite:
    def test_full_disk_keeps_the_old_file_and_leaves_no_temp(self, tmp_path: Path, small_disk: Mount) -> None:
        """A replacement the disk refuses raises, keeps the old content and removes its temp file."""
        disk = small_disk(tmp_path / "disk", SIZE)
        target = disk / "state.json"
        atomic_write(target, b"old")
        filler = fill(disk)
        with pytest.raises(OSError, match="No space left"):
            atomic_write(target, b"new" * 10_000)
        assert (b"old", [".filler", "state.json"]) == (target.read_bytes(), sorted(os.listdir(disk)))
        free(filler)
        atomic_write(target, b"new")
        assert b"new" == target.read_bytes()


class TestFileSink:
    def _sink(self, directory: Path) -> FileSink:
        config = FileSinkConfig.model_validate(
            {"name": "f", "type": "file", "path": str(directory / "{source}.jsonl"), "compression": "none"}
        )
        return FileSink(config, SinkContext(directory, "host"))

    async def test_failed_batch_leaves_no_torn_line_and_is_written_once_later(
        self, tmp_path: Path, small_disk: Mount
    ) -> None:
        """On a full disk a batch fails whole (file as before, error naming path and ENOSPC); its
        retry after space returns writes it exactly once."""
        disk = small_disk(tmp_path / "out", SIZE)
        sink = self._sink(disk)
        await sink.open()
        await sink.write(events(0, 10))
        before = (disk / "proxy.jsonl").stat().st_size
        filler = fill(disk)
        batch = events(10, 100)
        with pytest.raises(RetryableSinkError, match=r"proxy\.jsonl: No space left on device \(ENOSPC\)"):
            await sink.write(batch)
        assert before == (disk / "proxy.jsonl").stat().st_size
        with pytest.raises(RetryableSinkError):
            await sink.write(batch)  # still full: fails the same way, still nothing torn
        free(filler)
        await sink.write(batch)
        await sink.close()
        assert list(range(110)) == lines_of(disk / "proxy.jsonl")

    async def test_groups_written_before_the_failure_are_not_retried(
        self, tmp_path: Path, small_disk: Mount
    ) -> None:
        """When one source's file takes its events and the next source's does not, only the
        second source's events come back for a retry, so the first's are never repeated."""
        disk = small_disk(tmp_path / "out", SIZE)
        sink = self._sink(disk)
        await sink.open()
        # Both files get a page; the first keeps room in it for a small group, the second's
        # large group needs new pages, which the full disk refuses.
        await sink.write(events(0, 1, "a", pad=10) + events(1, 1, "b", pad=10))
        filler = fill(disk)
        small, large = events(2, 3, "a", pad=10), events(5, 40, "b", pad=200)
        result = await sink.write(small + large)
        assert [e["i"] for e in large] == [e["i"] for e in result.retry]
        free(filler)
        await sink.write(result.retry)
        await sink.close()
        assert ([0, 2, 3, 4], [1, *range(5, 45)]) == (lines_of(disk / "a.jsonl"), lines_of(disk / "b.jsonl"))


def letter(i: int) -> DeadLetter:
    return DeadLetter("proxy", "/logs/app.log", i * 100, "invalid JSON: x", "y" * 300 + str(i))


class TestDeadLetters:
    def test_refused_letters_are_held_in_order_and_written_once_space_returns(
        self, tmp_path: Path, small_disk: Mount
    ) -> None:
        """On a full disk write() holds the letters (no exception, no torn line), sync() reports
        them unwritten, and a flush after space returns writes each once, in order."""
        disk = small_disk(tmp_path / "state", SIZE)
        letters = DeadLetterFile(disk / "dead-letter.jsonl", raw="keep", scrub=None)
        letters.open()
        letters.write([letter(0)])
        filler = fill(disk)
        for i in range(1, 40):
            letters.write([letter(i)])
        held = letters.held
        assert (True, False, True) == (held > 0, letters.sync(), letters.faults.failing)
        assert letters.faults.errors >= 1
        data = (disk / "dead-letter.jsonl").read_bytes()
        assert data.endswith(b"\n")
        free(filler)
        assert (True, True, 0) == (letters.flush(), letters.sync(), letters.held)
        letters.close()
        written = (disk / "dead-letter.jsonl").read_bytes().splitlines()
        assert [i * 100 for i in range(40)] == [orjson.loads(line)["offset"] for line in written]


class TestDiskBuffer:
    def test_refused_append_leaves_no_partial_record(self, tmp_path: Path, small_disk: Mount) -> None:
        """An append the full disk refuses raises and leaves nothing behind; after space returns,
        appends go on and a reopen finds exactly the appended records, none damaged."""
        disk = small_disk(tmp_path / "state", SIZE)
        buffer = DiskBuffer(disk / "buffers" / "s", 1 << 20)
        buffer.open()
        first = [{"i": i, "pad": "x" * 100} for i in range(5)]
        buffer.append([(encode_record(first), 5)])
        filler = fill(disk)
        refused = [{"i": i, "pad": "x" * 500} for i in range(5, 50)]
        with pytest.raises(OSError, match="No space left"):
            buffer.append([(encode_record(refused), len(refused))])
        assert (5, True) == (buffer.stored_events, buffer.faults.failing)
        free(filler)
        buffer.append([(encode_record(refused), len(refused))])
        buffer.close()
        reopened = DiskBuffer(disk / "buffers" / "s", 1 << 20)
        reopened.open()
        read = reopened.read(1000, 1 << 30)
        assert read is not None
        assert (list(range(50)), 0) == ([e["i"] for e in read.events], reopened.skipped_bytes)


class TestCheckpoints:
    async def test_refused_save_is_retried_and_leaves_no_temp(
        self, tmp_path: Path, small_disk: Mount
    ) -> None:
        """A checkpoint save the full disk refuses returns False, keeps the source due for another
        save and leaves no temp file; the next save after space returns writes it."""
        disk = small_disk(tmp_path / "state", SIZE)
        config = SourceConfig.model_validate({"name": "proxy", "include": [str(tmp_path / "*.log")]})

        async def emit(chunk: RawChunk) -> None:
            return None

        source = FileSource(config, disk, emit)
        source.load_checkpoints()
        assert source.save_checkpoints()
        filler = fill(disk)
        source.mark_dirty()
        # A source with many files: the checkpoint needs more than the page the last save used.
        for n in range(200):
            source.files[f"fp{n}"] = FileState(f"fp{n}", f"/logs/{n}.log", 1, n, 10, 10)
        saved = source.save_checkpoints()
        assert (False, True, True) == (saved, source.checkpoint_due(), source.checkpoint_faults.failing)
        assert ["proxy.json"] == os.listdir(disk / "checkpoints")
        free(filler)
        assert source.save_checkpoints()
        assert 200 == len(orjson.loads((disk / "checkpoints" / "proxy.json").read_bytes())["files"])
        assert False is source.checkpoint_faults.failing


class TestSinkRunnerDiskBuffer:
    async def test_full_state_dir_holds_events_unacknowledged_until_space_returns(
        self, tmp_path: Path, small_disk: Mount
    ) -> None:
        """A sink whose backend is down spills to a disk buffer on a full state_dir: the appends
        fail, so nothing is acknowledged and put() blocks (the readers would pause); once space
        returns, everything is buffered, acknowledged in order and delivered once."""
        disk = small_disk(tmp_path / "state", SIZE)
        sink = FakeSink()
        sink.down = True
        acks = AckLog()
        config = make_config(
            buffer={"type": "disk", "max_events": 20},
            batch={"max_events": 10},
            retry={"initial_backoff": "5ms", "max_backoff": "20ms"},
        )
        runner = SinkRunner(sink, config, lambda dead: None, state_dir=disk)
        await runner.start()
        filler = fill(disk)
        done: list[int] = []

        async def produce() -> None:
            for n in range(0, 100, 5):
                await runner.put(make_events(n, 5, pad=400), [acks.ack(str(n))])
                done.append(n)

        producer = asyncio.create_task(produce())
        faults = runner.disk_faults
        assert faults is not None
        await until(lambda: faults.errors >= 3, "repeated refused appends")
        assert (False, [], True) == (producer.done(), acks.completed, faults.failing)
        assert len(done) < 20
        free(filler)
        await asyncio.wait_for(producer, 60)
        await until(lambda: len(acks.completed) == 20, "every ack")
        sink.down = False
        await until(lambda: len(sink.delivered) == 100, "everything delivered")
        await runner.stop()
        assert list(range(100)) == numbers(sink.delivered)
        assert [str(n) for n in range(0, 100, 5)] == acks.completed
        assert False is faults.failing


RULE = {"name": "errors", "condition": 'level == "ERROR"', "threshold": 5}


class TestStageState:
    def test_refused_detector_state_save_is_counted_not_fatal(
        self, tmp_path: Path, small_disk: Mount
    ) -> None:
        """A detector-state save the full state_dir refuses is counted and reported as failing,
        never raised; the next save after space returns writes the state."""
        disk = small_disk(tmp_path / "state", SIZE)
        config = Config.model_validate(
            {
                "state_dir": str(disk),
                "sources": [{"name": "proxy", "include": [str(tmp_path / "*.log")]}],
                "sinks": [{"name": "local", "type": "file", "path": str(tmp_path / "out.jsonl")}],
                "pipeline": {"anomaly": {"rules": [RULE]}},
            }
        )
        daemon = Daemon(config)
        filler = fill(disk)
        daemon.save_stage_state()
        daemon.save_stage_state()
        ((_, name, faults),) = [f for f in daemon.write_faults() if f[0] == "stage_state"]
        assert ("anomaly", 2, True) == (name, faults.errors, faults.failing)
        free(filler)
        daemon.save_stage_state()
        assert False is faults.failing
        assert [] != list(disk.rglob("*.json"))
