"""The runner owns a sink's lifecycle: open and prepare once, defer while the backend is down,
prepare again when a write reports the set-up lost."""

from __future__ import annotations

import logging

import pytest

from logflume.errors import SinkSetupLostError
from logflume.events import DeadLetter
from logflume.sinks.runner import SinkRunner
from tests.sinks.runner_fakes import FakeSink, make_config, make_events, numbers
from tests.waiting import until

FAST_RETRY = {"initial_backoff": "1ms", "max_backoff": "10ms"}


class TestLifecycle:
    async def test_a_backend_down_at_start_is_unhealthy_from_the_start(self) -> None:
        """prepare() failing at start does not fail the start: the sink is reported unhealthy at
        once, and the first write that works prepares it first, once."""
        sink = FakeSink()
        sink.refuse_prepare = 3
        dead: list[DeadLetter] = []
        runner = SinkRunner(sink, make_config(retry=FAST_RETRY, buffer={"type": "memory"}), dead.extend)
        await runner.start()
        healthy_after_start = runner.healthy
        await runner.put(make_events(0, 5), [])
        await until(lambda: len(sink.delivered) == 5, "the events delivered")
        await runner.stop()
        expected = {"healthy after start": False, "opened": 1, "prepared": 1, "delivered": list(range(5))}
        assert expected == {
            "healthy after start": healthy_after_start,
            "opened": sink.opened,
            "prepared": sink.prepared,
            "delivered": numbers(sink.delivered),
        }
        assert runner.healthy
        assert dead == []

    async def test_concurrent_writes_open_and_prepare_once(self) -> None:
        """Four writes in flight at once still open and prepare the sink exactly once."""
        sink = FakeSink()
        config = make_config(concurrency=4, batch={"max_events": 2}, buffer={"type": "memory"})
        runner = SinkRunner(sink, config, lambda dead: None)
        await runner.start()
        for n in range(0, 40, 2):
            await runner.put(make_events(n, 2), [])
        await until(lambda: len(sink.delivered) == 40, "every event delivered")
        await runner.stop()
        assert (1, 1) == (sink.opened, sink.prepared)

    async def test_a_lost_setup_is_prepared_again_and_the_batch_delivered(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A write raising SinkSetupLostError (a dropped table) makes the runner prepare the sink
        again before retrying: the batch is delivered, nothing dead-lettered, and the log says so."""
        caplog.set_level(logging.INFO, logger="logflume.sinks")
        sink = FakeSink()
        sink.script = [SinkSetupLostError("table dropped")]
        dead: list[DeadLetter] = []
        runner = SinkRunner(sink, make_config(retry=FAST_RETRY, buffer={"type": "memory"}), dead.extend)
        await runner.start()
        await runner.put(make_events(0, 3), [])
        await until(lambda: len(sink.delivered) == 3, "the batch delivered")
        await runner.stop()
        messages = [record.getMessage() for record in caplog.records]
        assert (1, 2, [0, 1, 2], []) == (sink.opened, sink.prepared, numbers(sink.delivered), dead)
        assert ["Sink set-up lost; preparing it again", "Sink set up again"] == [
            m for m in messages if m.startswith("Sink set")
        ]
