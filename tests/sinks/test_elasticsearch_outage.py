"""A search node crashes while a SinkRunner is writing; after its restart every event is there once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from logflume.events import DeadLetter
from logflume.sinks.elasticsearch.sink import ElasticsearchSink
from logflume.sinks.runner import SinkRunner
from tests.searchnode.api import NodeApi
from tests.searchnode.helpers import FLAVORS, drop, make_events, new_prefix, node_for, sink_config
from tests.searchnode.node import SearchNode
from tests.waiting import until

BATCHES = 16
PER_BATCH = 250


@pytest.fixture(params=FLAVORS)
async def node(request: pytest.FixtureRequest) -> AsyncIterator[SearchNode]:
    node = node_for(request, request.param)
    yield node
    # The node is shared by the session: never leave it down, whatever the test did.
    if not node.running:
        await asyncio.to_thread(node.start)


@pytest.mark.parametrize("buffer", ["memory", "disk"])
async def test_runner_rides_out_a_node_crash(node: SearchNode, tmp_path: Path, buffer: str) -> None:
    """The node is killed (SIGKILL to every process) mid-stream and started again on the same port
    and data: writes fail, the runner backs off and retries (from memory, or replays its disk
    buffer), and in the end each event_id is stored exactly once, with nothing dead-lettered."""
    prefix = new_prefix()
    config = sink_config(
        node, prefix, batch={"max_events": 500}, buffer={"type": buffer}, request_timeout="5s",
    )
    events = make_events("crash", BATCHES * PER_BATCH, days=2)
    dead: list[DeadLetter] = []
    runner = SinkRunner(ElasticsearchSink(config), config, dead.extend, state_dir=tmp_path)
    await runner.start()
    try:
        for index in range(BATCHES // 2):
            await runner.put(events[index * PER_BATCH : (index + 1) * PER_BATCH], [])
        await until(lambda: runner.stats.events_sent > 0, "a first delivery", limit=240)
        await asyncio.to_thread(node.kill)
        for index in range(BATCHES // 2, BATCHES):
            await runner.put(events[index * PER_BATCH : (index + 1) * PER_BATCH], [])
        await until(lambda: runner.stats.write_errors > 0, "a failed write while the node is down", limit=240)
        # Restarting in a thread keeps the event loop, and so the runner's retries, going meanwhile.
        await asyncio.to_thread(node.start)
        await until(lambda: runner.stats.events_sent >= len(events), "every event delivered", limit=240)
    finally:
        await runner.stop()
        if not node.running:
            await asyncio.to_thread(node.start)

    async with NodeApi.of(node) as api:
        counts = await api.event_id_counts(f"{prefix}-*")
    await drop(node, prefix)
    assert dead == []
    assert Counter({f"crash-{n}": 1 for n in range(len(events))}) == counts
