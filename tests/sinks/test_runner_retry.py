"""SinkRunner retries: backoff on transient failures, partial retries, dead letters for refusals."""

from __future__ import annotations

import random
from pathlib import Path

import orjson
import pytest

from logflume.errors import FatalSinkError, RetryableSinkError
from logflume.events import DeadLetter, Event
from logflume.retry import Backoff
from logflume.sinks.base import WriteResult
from logflume.sinks.runner import SinkRunner
from tests.sinks.runner_fakes import AckLog, FakeSink, make_config, make_events, numbers
from tests.waiting import until

FAST_RETRY = {"initial_backoff": "1ms", "max_backoff": "1s"}


class DeadLetters:
    def __init__(self) -> None:
        self.letters: list[DeadLetter] = []

    def __call__(self, letters: list[DeadLetter]) -> None:
        self.letters.extend(letters)


class TestBackoff:
    def test_delays_double_with_jitter_up_to_the_maximum(self) -> None:
        """Each delay lies in [ceiling/2, ceiling], the ceiling doubling from initial up to maximum."""
        random.seed(7)
        backoff = Backoff(initial=0.1, maximum=1.0)
        delays = [backoff.next_delay() for _ in range(8)]
        ceilings = [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0, 1.0]
        assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))

    def test_reset_starts_over(self) -> None:
        """After reset the next delay is back at the initial ceiling."""
        backoff = Backoff(initial=0.1, maximum=10.0)
        for _ in range(5):
            backoff.next_delay()
        backoff.reset()
        assert 0.05 <= backoff.next_delay() <= 0.1


class TestRetry:
    async def test_transient_failures_are_retried_with_growing_backoff(self) -> None:
        """A sink failing three times with RetryableSinkError gets every event exactly once in the
        end, and each backoff wait is at least as long as the one before."""
        sink = FakeSink()
        sink.script = [RetryableSinkError("HTTP 503") for _ in range(3)]
        acks = AckLog()
        config = make_config(buffer={"type": "memory"}, retry=FAST_RETRY)
        runner = SinkRunner(sink, config, DeadLetters())
        await runner.start()
        await runner.put(make_events(0, 4), [acks.ack("a")])
        await until(lambda: acks.completed == ["a"], "the ack")
        await runner.stop()
        assert len(sink.calls) == 4
        assert numbers(sink.delivered) == [0, 1, 2, 3]
        stats = runner.stats
        assert (stats.events_sent, stats.events_retried, stats.write_errors) == (4, 12, 3)
        delays = runner.stats.backoff_seconds
        assert len(delays) == 3
        assert sorted(delays) == delays
        assert delays[2] >= 2 * delays[0]
        assert runner.healthy
        assert runner.stats.last_error == "HTTP 503"

    async def test_partial_retry_resends_only_the_failed_events(self) -> None:
        """WriteResult.retry sends just those events again; the others are not duplicated."""
        sink = FakeSink()

        def reject_odd(events: list[Event]) -> WriteResult:
            return WriteResult(retry=[event for event in events if event["n"] % 2])

        sink.script = [reject_odd]
        acks = AckLog()
        runner = SinkRunner(sink, make_config(buffer={"type": "memory"}, retry=FAST_RETRY), DeadLetters())
        await runner.start()
        await runner.put(make_events(0, 5), [acks.ack("a")])
        await until(lambda: acks.completed == ["a"], "the ack")
        await runner.stop()
        assert [numbers(call) for call in sink.calls] == [[0, 1, 2, 3, 4], [1, 3]]
        assert numbers(sink.delivered) == [0, 2, 4, 1, 3]
        assert (runner.stats.events_sent, runner.stats.events_retried) == (5, 2)

    async def test_rejected_events_go_to_the_dead_letter_callback_with_the_reason(self) -> None:
        """An event the backend refuses for good is dead-lettered with its reason and its source
        position; the others are sent and the ack completes."""
        sink = FakeSink()

        def refuse_second(events: list[Event]) -> WriteResult:
            return WriteResult(rejected=[(events[1], "mapper_parsing_exception: field [n]")])

        sink.script = [refuse_second]
        dead = DeadLetters()
        acks = AckLog()
        runner = SinkRunner(sink, make_config(), dead)
        await runner.start()
        events = make_events(0, 3)
        await runner.put(events, [acks.ack("a")])
        await until(lambda: acks.completed == ["a"], "the ack")
        await runner.stop()
        assert len(dead.letters) == 1
        letter = dead.letters[0]
        assert letter.reason == "sink fake: mapper_parsing_exception: field [n]"
        assert (letter.source, letter.file, letter.offset) == ("proxy", "/logs/app.log", 1100)
        assert events[1] == orjson.loads(letter.raw)
        stats = runner.stats
        assert (stats.events_sent, stats.events_dead_lettered, stats.events_failed) == (2, 1, 0)

    @pytest.mark.parametrize("buffer_type", ["memory", "disk"])
    async def test_fatal_error_dead_letters_the_batch(self, buffer_type: str, tmp_path: Path) -> None:
        """FatalSinkError is not retried: the whole batch is dead-lettered with the error."""
        sink = FakeSink()
        sink.script = [FatalSinkError("HTTP 403: index write forbidden")]
        dead = DeadLetters()
        acks = AckLog()
        config = make_config(buffer={"type": buffer_type}, retry=FAST_RETRY)
        runner = SinkRunner(sink, config, dead, state_dir=tmp_path)
        await runner.start()
        await runner.put(make_events(0, 3), [acks.ack("a")])
        await until(lambda: acks.completed == ["a"], "the ack")
        await runner.stop()
        assert len(sink.calls) == 1
        reasons = [letter.reason for letter in dead.letters]
        assert reasons == 3 * ["sink fake: HTTP 403: index write forbidden"]
        stats = runner.stats
        assert (stats.events_failed, stats.events_dead_lettered, stats.events_sent) == (3, 3, 0)

    async def test_gives_up_after_max_attempts(self) -> None:
        """retry.max_attempts bounds the attempts; then the events are dead-lettered."""
        sink = FakeSink()
        sink.down = True
        dead = DeadLetters()
        acks = AckLog()
        config = make_config(buffer={"type": "memory"}, retry={**FAST_RETRY, "max_attempts": 3})
        runner = SinkRunner(sink, config, dead)
        await runner.start()
        await runner.put(make_events(0, 2), [acks.ack("a")])
        await until(lambda: acks.completed == ["a"], "the ack")
        await runner.stop()
        assert len(sink.calls) == 3
        assert [
            letter.reason for letter in dead.letters
        ] == 2 * ["sink fake: gave up after 3 attempts: connection refused"]
        assert not runner.healthy

    async def test_an_unexpected_exception_is_retried(self) -> None:
        """A sink bug (any other exception) is logged and retried rather than losing the batch."""
        sink = FakeSink()
        sink.script = [KeyError("oops")]
        acks = AckLog()
        runner = SinkRunner(sink, make_config(buffer={"type": "memory"}, retry=FAST_RETRY), DeadLetters())
        await runner.start()
        await runner.put(make_events(0, 2), [acks.ack("a")])
        await until(lambda: acks.completed == ["a"], "the ack")
        await runner.stop()
        assert numbers(sink.delivered) == [0, 1]
        assert runner.stats.write_errors == 1
