"""SinkRunner with a disk buffer: a dead backend is isolated, events replay in order exactly once."""

from __future__ import annotations

import asyncio
import logging
import random
import signal
import sys
from pathlib import Path

import pytest

from logflume.events import Ack, DeadLetter
from logflume.sinks.config import SinkCommonConfig
from logflume.sinks.runner import SinkRunner
from tests.sinks.runner_fakes import AckLog, FakeSink, make_config, make_events, numbers
from tests.waiting import until

FAST_RETRY = {"initial_backoff": "5ms", "max_backoff": "20ms"}


def _no_dead_letters(dead: list[DeadLetter]) -> None:
    raise AssertionError(f"unexpected dead letters: {dead}")


def _segments(state_dir: Path, name: str = "fake") -> list[Path]:
    return sorted((state_dir / "buffers" / name).glob("*.seg"))


def _disk_config(**fields: object) -> SinkCommonConfig:
    return make_config(**{"buffer": {"type": "disk"}, "retry": FAST_RETRY, **fields})


class TestSpilling:
    async def test_healthy_backend_never_touches_the_disk(self, tmp_path: Path) -> None:
        """While writes succeed, no segment file is created."""
        sink = FakeSink()
        acks = AckLog()
        runner = SinkRunner(sink, make_config(buffer={"type": "disk"}), _no_dead_letters, state_dir=tmp_path)
        await runner.start()
        for n in range(0, 100, 10):
            await runner.put(make_events(n, 10), [acks.ack(str(n))])
        await until(lambda: len(acks.completed) == 10, "all acks")
        assert _segments(tmp_path) == []
        await runner.stop()
        assert list(range(100)) == numbers(sink.delivered)

    async def test_dead_backend_spills_acks_and_replays_in_order_once(self, tmp_path: Path) -> None:
        """With the backend down, events are acked once fsync'd to disk and memory stays bounded;
        when it returns, every event arrives once, in order, and the segments are deleted."""
        sink = FakeSink()
        sink.down = True
        acks = AckLog()
        config = make_config(
            buffer={"type": "disk", "max_events": 20}, batch={"max_events": 10}, retry=FAST_RETRY
        )
        runner = SinkRunner(sink, config, _no_dead_letters, state_dir=tmp_path)
        await runner.start()
        peak_memory = 0
        for n in range(0, 200, 10):
            await runner.put(make_events(n, 10), [acks.ack(str(n))])
            peak_memory = max(peak_memory, runner.stats.memory_events)
        await until(lambda: len(acks.completed) == 20, "all acks while the backend is down")
        assert [str(n) for n in range(0, 200, 10)] == acks.completed
        assert sink.delivered == []
        assert peak_memory <= 20 + 10
        assert runner.stats.disk_events == 200
        assert _segments(tmp_path)
        assert not runner.healthy

        sink.down = False
        await until(lambda: len(sink.delivered) == 200, "the replay")
        await until(lambda: runner.stats.disk_events == 0, "the disk buffer to empty")
        await until(lambda: not _segments(tmp_path), "segments to be deleted")
        await runner.put(make_events(200, 5), [acks.ack("after")])
        await until(lambda: acks.completed[-1] == "after", "the ack after recovery")
        await runner.stop()
        assert list(range(205)) == numbers(sink.delivered)
        assert runner.healthy
        assert _segments(tmp_path) == []

    async def test_stalled_backend_spills_after_spill_after(self, tmp_path: Path) -> None:
        """A write that hangs keeps memory full: after buffer.spill_after the input goes to disk
        and put no longer waits; acks wait for the hanging write, then all complete in order."""
        sink = FakeSink()
        sink.gates = {}
        acks = AckLog()
        config = _disk_config(
            buffer={"type": "disk", "max_events": 10, "spill_after": "50ms"}, batch={"max_events": 5}
        )
        runner = SinkRunner(sink, config, _no_dead_letters, state_dir=tmp_path)
        await runner.start()
        for n in range(50):
            await runner.put(make_events(n, 1), [acks.ack(str(n))])
        assert len(sink.calls) == 1
        assert runner.stats.disk_events > 0
        assert acks.completed == []
        gates, sink.gates = sink.gates, None
        gates[0].set()
        await until(lambda: len(acks.completed) == 50, "all acks")
        await until(lambda: len(sink.delivered) == 50, "everything")
        await runner.stop()
        assert numbers(sink.delivered) == list(range(50))
        assert acks.completed == [str(n) for n in range(50)]

    async def test_backend_down_at_start_is_buffered(self, tmp_path: Path) -> None:
        """A backend that cannot even be opened does not fail the start: input goes to disk."""
        sink = FakeSink()
        sink.down = True
        opens: list[int] = []

        async def refuse_open() -> None:
            opens.append(1)
            if sink.down:
                from logflume.errors import RetryableSinkError

                raise RetryableSinkError("connection refused")

        sink.open = refuse_open  # type: ignore[method-assign]
        acks = AckLog()
        runner = SinkRunner(sink, _disk_config(), _no_dead_letters, state_dir=tmp_path)
        await runner.start()
        await runner.put(make_events(0, 3), [acks.ack("a")])
        await until(lambda: acks.completed == ["a"], "the ack")
        sink.down = False
        await until(lambda: len(sink.delivered) == 3, "delivery after the backend came up")
        await runner.stop()
        assert numbers(sink.delivered) == [0, 1, 2]

    async def test_clean_restart_replays_before_new_input(self, tmp_path: Path) -> None:
        """What a stopped runner left on disk is delivered first by the next runner."""
        down = FakeSink()
        down.down = True
        acks = AckLog()
        first = SinkRunner(down, _disk_config(), _no_dead_letters, state_dir=tmp_path)
        await first.start()
        for n in range(0, 50, 10):
            await first.put(make_events(n, 10), [acks.ack(str(n))])
        await until(lambda: len(acks.completed) == 5, "acks")
        await first.stop()
        assert _segments(tmp_path)

        sink = FakeSink()
        second = SinkRunner(sink, _disk_config(), _no_dead_letters, state_dir=tmp_path)
        await second.start()
        await second.put(make_events(50, 10), [acks.ack("new")])
        await until(lambda: len(sink.delivered) == 60, "replay and new input")
        await second.stop()
        assert list(range(60)) == numbers(sink.delivered)


# A process that buffers to disk for a dead backend and prints each completed ack; the test
# SIGKILLs it (no clean stop) and replays its state dir in a new runner.
CHILD = r"""
import asyncio, sys
from pathlib import Path
from logflume.errors import RetryableSinkError
from logflume.events import Ack
from logflume.sinks.config import SinkCommonConfig
from logflume.sinks.config import SinkCommonConfig
from logflume.sinks.runner import SinkRunner

class Down:
    name = "fake"
    async def open(self): pass
    async def prepare(self): pass
    async def write(self, events): raise RetryableSinkError("connection refused")
    async def sync(self): pass
    async def close(self): pass
    async def check(self): return "down"

async def main(state_dir, batches, size):
    config = SinkCommonConfig.model_validate({
        "name": "fake", "buffer": {"type": "disk", "max_events": 50}, "batch": {"max_events": 20},
        "retry": {"initial_backoff": "5ms", "max_backoff": "20ms"}})
    runner = SinkRunner(Down(), config, lambda dead: None, state_dir=Path(state_dir))
    await runner.start()
    def acked(ack): print(ack.key, flush=True)
    for b in range(batches):
        events = [{"n": b * size + i, "logflume": {"event_id": str(b * size + i)}} for i in range(size)]
        await runner.put(events, [Ack(str(b), 0, acked)])
    print("all", flush=True)
    await asyncio.Event().wait()

asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
"""


async def _run_child_until(
    state_dir: Path, batches: int, size: int, acked: int, linger: float = 0.0
) -> list[int]:
    """Start the child, SIGKILL it ``linger`` seconds after ``acked`` acks were printed; return the
    batch numbers it acknowledged."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, str(state_dir), str(batches), str(size), stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    seen: list[int] = []
    try:
        async with asyncio.timeout(60):
            while len(seen) < acked:
                line = (await proc.stdout.readline()).decode().strip()
                assert line, "the child exited early"
                if line != "all":
                    seen.append(int(line))
            await asyncio.sleep(linger)
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return seen


class TestCrash:
    async def test_kill9_after_acks_replays_everything_acknowledged(self, tmp_path: Path) -> None:
        """Every event acknowledged by a SIGKILLed runner is delivered by the next one, once, in order."""
        seen = await _run_child_until(tmp_path, batches=30, size=7, acked=30)
        assert list(range(30)) == seen
        sink = FakeSink()
        runner = SinkRunner(sink, _disk_config(), _no_dead_letters, state_dir=tmp_path)
        await runner.start()
        await until(lambda: len(sink.delivered) == 210, "the replay")
        await runner.stop()
        assert list(range(210)) == numbers(sink.delivered)

    async def test_kill9_mid_stream_loses_no_acknowledged_event(self, tmp_path: Path) -> None:
        """Killed while still spilling, the buffer replays at least every acknowledged event, each
        once and in order; a torn last record, if any, is skipped."""
        # A random moment after the 400th ack, so the kill can land in the middle of an append.
        linger = random.uniform(0, 0.05)
        seen = await _run_child_until(tmp_path, batches=100_000, size=5, acked=400, linger=linger)
        sink = FakeSink()
        runner = SinkRunner(sink, _disk_config(), _no_dead_letters, state_dir=tmp_path)
        await runner.start()
        await until(lambda: runner.stats.disk_events == 0, "the replay")
        await runner.stop()
        delivered = numbers(sink.delivered)
        assert sorted(set(delivered)) == delivered
        assert set(range(max(seen) * 5 + 5)) <= set(delivered)
        assert delivered == list(range(len(delivered)))


class TestWhenFull:
    async def test_block_pauses_put_until_the_backend_returns(self, tmp_path: Path) -> None:
        """when_full block: with the disk bound reached, put waits (backpressure) and nothing is
        dropped; once the backend returns, input resumes and everything arrives in order."""
        sink = FakeSink()
        sink.down = True
        acks = AckLog()
        config = _disk_config(buffer={"type": "disk", "max_events": 10, "max_disk_bytes": 3000})
        runner = SinkRunner(sink, config, _no_dead_letters, state_dir=tmp_path)
        await runner.start()
        done: list[int] = []

        async def produce() -> None:
            for n in range(200):
                await runner.put(make_events(n, 1), [acks.ack(str(n))])
                done.append(n)

        producer = asyncio.create_task(produce())
        await until(lambda: runner.stats.blocked and runner.stats.memory_events >= 10, "the disk to fill")
        assert not producer.done()
        assert len(done) < 200
        assert runner.stats.disk_bytes <= 3000
        sink.down = False
        await asyncio.wait_for(producer, 30)
        await until(lambda: len(sink.delivered) == 200, "everything")
        await runner.stop()
        assert list(range(200)) == numbers(sink.delivered)
        assert [str(n) for n in range(200)] == acks.completed
        assert runner.stats.events_dropped == 0

    async def test_drop_oldest_keeps_accepting_and_counts_drops(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """when_full drop_oldest: input never waits for the dead backend; the oldest buffered events
        are dropped, counted and logged; the survivors arrive in order, the newest included."""
        sink = FakeSink()
        sink.down = True
        acks = AckLog()
        config = _disk_config(
            buffer={"type": "disk", "max_events": 10, "max_disk_bytes": 3000, "when_full": "drop_oldest"}
        )
        runner = SinkRunner(sink, config, _no_dead_letters, state_dir=tmp_path)
        await runner.start()
        peak_disk = 0
        with caplog.at_level(logging.WARNING, logger="logflume.sinks"):
            for n in range(200):
                await runner.put(make_events(n, 1), [acks.ack(str(n))])
                peak_disk = max(peak_disk, runner.stats.disk_bytes)
            await until(lambda: len(acks.completed) == 200, "all acks")
        dropped = runner.stats.events_dropped
        assert dropped > 0
        messages = {record.getMessage() for record in caplog.records}
        assert "Disk buffer full; dropped the oldest events" in messages
        assert peak_disk <= 3000 + 1500
        sink.down = False
        await until(lambda: runner.stats.disk_events == 0 and not runner.stats.memory_events, "the replay")
        await runner.stop()
        delivered = numbers(sink.delivered)
        assert sorted(set(delivered)) == delivered
        assert len(delivered) + dropped == 200
        assert delivered[-1] == 199


class TestIsolation:
    async def test_a_dead_sink_does_not_hold_back_the_healthy_one(self, tmp_path: Path) -> None:
        """Two runners fed the same batches, one backend down: the healthy one receives everything
        and every ack completes; the dead one catches up when its backend returns."""
        healthy, dead = FakeSink("healthy"), FakeSink("dead")
        dead.down = True
        completed: list[str] = []
        runners = [
            SinkRunner(sink, _disk_config(name=sink.name), _no_dead_letters, state_dir=tmp_path)
            for sink in (healthy, dead)
        ]
        for runner in runners:
            await runner.start()
        for n in range(0, 300, 10):
            ack = Ack(str(n), n + 10, lambda ack: completed.append(ack.key))
            ack.retain(len(runners))
            events = make_events(n, 10)
            for runner in runners:
                await runner.put(events, [ack])
            ack.done()
        await until(lambda: len(completed) == 30, "every ack")
        assert [str(n) for n in range(0, 300, 10)] == completed
        assert list(range(300)) == numbers(healthy.delivered)
        assert dead.delivered == []
        assert _segments(tmp_path, "dead")
        assert _segments(tmp_path, "healthy") == []
        dead.down = False
        await until(lambda: len(dead.delivered) == 300, "the dead sink to catch up")
        for runner in runners:
            await runner.stop()
        assert list(range(300)) == numbers(dead.delivered)
