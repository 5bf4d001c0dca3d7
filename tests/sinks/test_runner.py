"""SinkRunner: batching by count, bytes and time; concurrency with ordered acks; memory backpressure."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from logflume.sinks.config import SinkCommonConfig
from logflume.sinks.runner import SinkRunner
from tests.sinks.runner_fakes import AckLog, FakeSink, make_config, make_events, numbers
from tests.waiting import until


def _no_dead_letters(dead: object) -> None:
    raise AssertionError(f"unexpected dead letters: {dead}")


class TestBatching:
    async def test_sends_full_batches_by_count(self) -> None:
        """With a long timeout, a batch is sent as soon as max_events are waiting; the rest at stop."""
        sink = FakeSink()
        runner = SinkRunner(sink, make_config(batch={"max_events": 5, "timeout": "60s"}), _no_dead_letters)
        await runner.start()
        for n in range(12):
            await runner.put(make_events(n, 1), [])
        await until(lambda: len(sink.calls) == 2, "two full batches")
        await runner.stop()
        assert [list(range(5)), list(range(5, 10)), [10, 11]] == [numbers(call) for call in sink.calls]

    @pytest.mark.parametrize("one_put", [False, True])
    async def test_sends_batches_by_estimated_bytes(self, one_put: bool) -> None:
        """Events of 150 bytes each (149 JSON + separator) with max_bytes 500 go in batches of three,
        whether they arrive one per put or in one large put."""
        events = make_events(0, 10)
        pad = 149 - len(orjson.dumps(events[0]))
        events = make_events(0, 10, pad=pad)
        assert all(len(orjson.dumps(event)) == 149 for event in events)
        sink = FakeSink()
        config = make_config(batch={"max_events": 1000, "max_bytes": 500, "timeout": "60s"})
        runner = SinkRunner(sink, config, _no_dead_letters)
        await runner.start()
        if one_put:
            await runner.put(events, [])
        else:
            for event in events:
                await runner.put([event], [])
        await until(lambda: len(sink.calls) == 3, "three batches")
        await runner.stop()
        assert [len(call) for call in sink.calls] == [3, 3, 3, 1]
        assert list(range(10)) == numbers(sink.delivered)

    async def test_sends_a_partial_batch_after_the_timeout(self) -> None:
        """Events that never fill a batch are sent together once the oldest waited batch.timeout."""
        sink = FakeSink()
        runner = SinkRunner(sink, make_config(batch={"max_events": 100, "timeout": "50ms"}), _no_dead_letters)
        await runner.start()
        for n in range(3):
            await runner.put(make_events(n, 1), [])
        await until(lambda: len(sink.calls) == 1, "the timed-out batch")
        assert [numbers(call) for call in sink.calls] == [[0, 1, 2]]
        await runner.stop()

    async def test_zero_timeout_sends_at_once(self) -> None:
        """With timeout 0 a lone event is written without waiting for more."""
        sink = FakeSink()
        acks = AckLog()
        runner = SinkRunner(sink, make_config(batch={"max_events": 100}), _no_dead_letters)
        await runner.start()
        await runner.put(make_events(0, 1), [acks.ack("a")])
        await until(lambda: acks.completed == ["a"], "the ack")
        assert [numbers(call) for call in sink.calls] == [[0]]
        await runner.stop()

    async def test_empty_put_completes_its_acks_in_order(self) -> None:
        """A put with no events (all routed elsewhere) still completes its acks, after earlier ones."""
        sink = FakeSink()
        sink.gates = {}
        acks = AckLog()
        runner = SinkRunner(sink, make_config(), _no_dead_letters)
        await runner.start()
        await runner.put(make_events(0, 1), [acks.ack("first")])
        await runner.put([], [acks.ack("empty")])
        await until(lambda: sink.in_flight == 1, "the first write")
        assert acks.completed == []
        sink.gates[0].set()
        await until(lambda: len(acks.completed) == 2, "both acks")
        assert acks.completed == ["first", "empty"]
        await runner.stop()


class TestConcurrency:
    async def test_writes_run_concurrently_but_acks_complete_in_order(self) -> None:
        """concurrency=3 keeps three writes in flight; a later write finishing first does not complete
        its ack before the earlier ones."""
        sink = FakeSink()
        sink.gates = {}
        acks = AckLog()
        runner = SinkRunner(sink, make_config(concurrency=3, batch={"max_events": 1}), _no_dead_letters)
        await runner.start()
        for n in range(5):
            await runner.put(make_events(n, 1), [acks.ack(str(n))])
        await until(lambda: sink.in_flight == 3, "three writes in flight")
        assert sink.max_in_flight == 3
        sink.gates[2].set()
        await until(lambda: len(sink.calls) == 4, "the fourth write to start")
        assert acks.completed == []
        sink.gates[0].set()
        await until(lambda: acks.completed == ["0"], "ack 0")
        sink.gates[1].set()
        await until(lambda: len(acks.completed) == 3, "acks 1 and 2")
        for index in (3, 4):
            sink.gates.setdefault(index, asyncio.Event()).set()
        await until(lambda: len(acks.completed) == 5, "all acks")
        await runner.stop()
        assert acks.completed == ["0", "1", "2", "3", "4"]
        assert sink.max_in_flight == 3


class TestMemoryBuffer:
    async def test_dead_backend_blocks_put_when_memory_is_full(self, tmp_path: Path) -> None:
        """buffer.type memory: a dead backend holds every ack back and put waits once memory is full;
        when the backend returns everything arrives once, in order."""
        sink = FakeSink()
        sink.down = True
        acks = AckLog()
        config = make_config(
            buffer={"type": "memory", "max_events": 10},
            batch={"max_events": 5},
            retry={"initial_backoff": "5ms", "max_backoff": "20ms"},
        )
        runner = SinkRunner(sink, config, _no_dead_letters, state_dir=tmp_path)
        assert runner.buffer_type == "memory"
        await runner.start()

        async def produce() -> None:
            for n in range(0, 30, 5):
                await runner.put(make_events(n, 5), [acks.ack(str(n))])

        producer = asyncio.create_task(produce())
        await until(lambda: runner.stats.memory_events >= 10 and len(sink.calls) >= 3, "memory to fill")
        assert not producer.done()
        assert acks.completed == []
        assert runner.stats.memory_events == 10
        sink.down = False
        await asyncio.wait_for(producer, 20)
        await runner.stop()
        assert list(range(30)) == numbers(sink.delivered)
        assert [str(n) for n in range(0, 30, 5)] == acks.completed
        assert not (tmp_path / "buffers").exists()


class TestLifecycle:
    async def test_sync_calls_the_sink(self) -> None:
        """sync() reaches the sink's sync once it is open."""
        sink = FakeSink()
        runner = SinkRunner(sink, make_config(), _no_dead_letters)
        await runner.start()
        await runner.sync()
        await runner.stop()
        assert (sink.opened, sink.syncs, sink.closed) == (1, 1, 1)

    def test_disk_buffer_without_state_dir_is_an_error(self) -> None:
        """An explicit disk buffer needs the state dir; a defaulted one falls back to memory."""
        with pytest.raises(ValueError, match="state_dir"):
            SinkRunner(FakeSink(), make_config(buffer={"type": "disk"}), _no_dead_letters)
        assert SinkRunner(FakeSink(), make_config(), _no_dead_letters).buffer_type == "memory"

    def test_buffer_type_defaults_per_sink_type(self) -> None:
        """Network sinks default to a disk buffer; a subclass can choose memory; config wins."""

        class LocalConfig(SinkCommonConfig):
            default_buffer_type = "memory"

        assert make_config().buffer_type() == "disk"
        assert LocalConfig(name="local").buffer_type() == "memory"
        assert LocalConfig.model_validate({"name": "l", "buffer": {"type": "disk"}}).buffer_type() == "disk"
