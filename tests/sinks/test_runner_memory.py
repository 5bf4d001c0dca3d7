"""SinkRunner memory under failing writes: at most its buffer plus one batch per write in flight.

The events held are counted for real: every live event dict of the test (found through the
garbage collector, after a collection) and its JSON size, at moments when writes are failing or
stuck. The sink below keeps no reference to the events it is given, so whatever is found is held
by the runner.
"""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

import orjson

from logflume.errors import RetryableSinkError
from logflume.events import META_KEY, DeadLetter, Event
from logflume.sinks.base import ACCEPTED, WriteResult
from logflume.sinks.config import SinkCommonConfig
from logflume.sinks.runner import SinkRunner
from tests.sinks.runner_fakes import make_config
from tests.waiting import until

MARK = "memory_test_event"
CONCURRENCY = 4
HANDOVER = 25  # events per put
BATCH_EVENTS = 50
BATCH_BYTES = 16 * 1024
BUFFER_EVENTS = 200
BUFFER_BYTES = 48 * 1024
FAST_RETRY = {"initial_backoff": "2ms", "max_backoff": "10ms"}


def _events(start: int, count: int) -> list[Event]:
    # The nested metadata dict also keeps each event tracked by the garbage collector (a dict of
    # plain values alone may be untracked, and then get_objects() would not see it).
    return [
        {MARK: n, "msg": "x" * 200, META_KEY: {"event_id": f"mem-{n}", "source": "proxy", "offset": n}}
        for n in range(start, start + count)
    ]


# A hand-over may be appended while the buffer is just under its limits, and the next one waits
# inside put: two hand-overs beyond the buffer's limits.
EVENTS_OVER = 2 * HANDOVER
BYTES_OVER = 2 * len(orjson.dumps(_events(0, HANDOVER)))


def held() -> tuple[int, int]:
    """Live test events and their JSON bytes, after a collection (garbage is not held)."""
    gc.collect()
    events = [o for o in gc.get_objects() if type(o) is dict and MARK in o]
    return len(events), sum(len(orjson.dumps(event)) for event in events)


def _config(buffer: str) -> SinkCommonConfig:
    return make_config(
        concurrency=CONCURRENCY,
        batch={"max_events": BATCH_EVENTS, "max_bytes": BATCH_BYTES},
        buffer={"type": buffer, "max_events": BUFFER_EVENTS, "max_bytes": BUFFER_BYTES},
        retry=FAST_RETRY,
    )


def _no_dead_letters(dead: list[DeadLetter]) -> None:
    raise AssertionError(f"unexpected dead letters: {dead}")


class CountingSink:
    """Fails (after a short wait) while ``down``; remembers the numbers it accepted, never the events.

    Every ``sample_every``-th failing call counts the held events; a call may be told to wait
    on ``stuck`` (a write that does not return, e.g. in a long backoff or a hung request).
    """

    name = "counting"

    def __init__(self, sample_every: int = 10, refuse_open: bool = False) -> None:
        self.down = True
        self.refuse_open = refuse_open
        self.sample_every = sample_every
        self.failures = 0
        self.calls = 0
        self.in_flight = 0
        self.max_in_flight_down = 0
        self.accepted: list[int] = []
        self.samples: list[tuple[int, int]] = []
        self.stuck: asyncio.Event | None = None
        self.stick_call: int | None = None
        self.stuck_size = 0

    async def open(self) -> None:
        if self.refuse_open:
            self.refuse_open = False
            raise RetryableSinkError("connection refused")

    async def prepare(self) -> None:
        pass

    async def write(self, events: list[Event]) -> WriteResult:
        self.calls += 1
        self.in_flight += 1
        try:
            if self.down:
                self.max_in_flight_down = max(self.max_in_flight_down, self.in_flight)
                self.failures += 1
                if self.failures % self.sample_every == 0:
                    self.samples.append(held())
                await asyncio.sleep(0.002)  # like a connection attempt: failing writes can overlap
                raise RetryableSinkError("connection refused")
            if self.calls == self.stick_call and self.stuck is not None:
                self.stuck_size = len(events)
                await self.stuck.wait()
            self.accepted.extend(event[MARK] for event in events)
            return ACCEPTED
        finally:
            self.in_flight -= 1

    async def sync(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def check(self) -> str:
        return "counting sink"


async def _put_all(runner: SinkRunner, total: int) -> None:
    for n in range(0, total, HANDOVER):
        await runner.put(_events(n, HANDOVER), [])


class TestMemoryBound:
    async def test_disk_buffer_at_concurrency_4_holds_the_buffer_plus_one_batch_per_write(
        self, tmp_path: Path
    ) -> None:
        """Many failed writes, then a recovery where one write hangs while the other three replay
        the disk buffer: the events held never exceed the memory buffer's limits, two hand-overs
        and four batches, in count and in bytes; then every event arrives exactly once."""
        total = 2_000
        sink = CountingSink()
        runner = SinkRunner(sink, _config("disk"), _no_dead_letters, state_dir=tmp_path)
        await runner.start()
        await _put_all(runner, total)
        await until(lambda: runner.stats.disk_events == total, "everything on disk")
        await until(lambda: sink.failures >= 100, "many failed writes")
        during_outage = sink.samples

        sink.stuck = asyncio.Event()
        sink.stick_call = sink.calls + 2  # the first write back is a probe; hang the one after it
        sink.down = False
        await until(lambda: sink.stuck_size > 0, "the hanging write")
        await until(lambda: len(sink.accepted) == total - sink.stuck_size, "the rest of the replay")
        while_one_hangs = held()
        sink.stuck.set()
        await until(lambda: len(sink.accepted) == total, "the hanging write")
        await runner.stop()

        events_bound = BUFFER_EVENTS + EVENTS_OVER + CONCURRENCY * BATCH_EVENTS
        bytes_bound = BUFFER_BYTES + BYTES_OVER + CONCURRENCY * BATCH_BYTES
        assert len(during_outage) >= 10
        assert [] == [s for s in during_outage if s[0] > events_bound or s[1] > bytes_bound]
        assert while_one_hangs[0] <= events_bound, while_one_hangs
        assert while_one_hangs[1] <= bytes_bound, while_one_hangs
        assert sorted(sink.accepted) == list(range(total))

    async def test_memory_buffer_at_concurrency_4_holds_only_the_buffer(self) -> None:
        """Without a disk buffer, writes failing over and over hold no more than the memory
        buffer's limits and two hand-overs (batches in flight are counted in the buffer); put
        waits meanwhile, and after recovery every event arrives exactly once."""
        total = 1_000
        sink = CountingSink(sample_every=5)
        runner = SinkRunner(sink, _config("memory"), _no_dead_letters)
        await runner.start()
        producer = asyncio.create_task(_put_all(runner, total))
        await until(lambda: runner.stats.memory_bytes >= BUFFER_BYTES, "a full memory buffer")
        await until(lambda: sink.failures >= 100, "many failed writes")
        gauges = (runner.stats.memory_events, runner.stats.memory_bytes)
        samples = [*sink.samples, held()]
        assert not producer.done()
        sink.down = False
        await producer
        await until(lambda: len(sink.accepted) == total, "delivery after recovery")
        await runner.stop()

        assert len(samples) >= 10
        over = [s for s in samples if s[0] > BUFFER_EVENTS + EVENTS_OVER or s[1] > BUFFER_BYTES + BYTES_OVER]
        assert [] == over
        assert gauges[0] <= BUFFER_EVENTS + HANDOVER
        assert gauges[1] <= BUFFER_BYTES + BYTES_OVER // 2
        assert sorted(sink.accepted) == list(range(total))


class TestProbing:
    async def test_a_failing_backend_gets_one_write_at_a_time(self, tmp_path: Path) -> None:
        """Unreachable from the start, the backend sees one write at a time however many are
        allowed; once it answers, every buffered event arrives exactly once."""
        total = 1_000
        sink = CountingSink(sample_every=10**9, refuse_open=True)
        runner = SinkRunner(sink, _config("disk"), _no_dead_letters, state_dir=tmp_path)
        await runner.start()
        await _put_all(runner, total)
        await until(lambda: sink.failures >= 50, "many failed writes")
        sink.down = False
        await until(lambda: len(sink.accepted) == total, "delivery after recovery")
        await runner.stop()
        assert (1, list(range(total))) == (sink.max_in_flight_down, sorted(sink.accepted))
