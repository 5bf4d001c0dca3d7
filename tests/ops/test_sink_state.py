"""The state a sink is reported in (/readyz, logflume_sink_state), through a real runner."""

from __future__ import annotations

import asyncio
from pathlib import Path

from logflume.ops.health import sink_state
from logflume.sinks.runner import SinkRunner
from tests.sinks.runner_fakes import FakeSink, make_config, make_events
from tests.waiting import until

FAST_RETRY = {"initial_backoff": "1ms", "max_backoff": "10ms"}


class TestSinkState:
    async def test_memory_buffer_backend_down_is_unreachable_then_ok(self) -> None:
        """A memory-buffered sink whose backend fails is unreachable; ok again after a write works."""
        sink = FakeSink()
        sink.down = True
        runner = SinkRunner(sink, make_config(retry=FAST_RETRY, buffer={"type": "memory"}), lambda dead: None)
        await runner.start()
        await runner.put(make_events(0, 3), [])
        await until(lambda: not runner.healthy, "a failed write")
        down = sink_state(runner)
        sink.down = False
        await until(lambda: len(sink.delivered) == 3, "the delivery")
        after = sink_state(runner)
        await runner.stop()
        assert ("unreachable", "ok") == (down, after)

    async def test_disk_buffer_backend_down_is_buffering_then_blocked_when_full(self, tmp_path: Path) -> None:
        """A disk-buffered sink whose backend fails is buffering while its disk buffer has room,
        and blocked once the buffer is full (when_full: block)."""
        sink = FakeSink()
        sink.down = True
        buffer = {"type": "disk", "max_events": 10, "max_disk_bytes": 3000}
        config = make_config(retry=FAST_RETRY, buffer=buffer)
        runner = SinkRunner(sink, config, lambda dead: None, state_dir=tmp_path)
        await runner.start()
        await runner.put(make_events(0, 1), [])
        await until(lambda: runner.stats.disk_events > 0, "the first events on disk")
        buffering = sink_state(runner)

        async def produce() -> None:
            for n in range(1, 200):
                await runner.put(make_events(n, 1), [])

        producer = asyncio.create_task(produce())
        await until(lambda: runner.stats.blocked, "the disk buffer to fill")
        blocked = sink_state(runner)
        sink.down = False
        await producer
        await until(lambda: len(sink.delivered) == 200, "every event delivered")
        await runner.stop()
        assert ("buffering", "blocked", "ok") == (buffering, blocked, sink_state(runner))
