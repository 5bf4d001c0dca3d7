"""PostgreSQL crashes while a SinkRunner is writing; after the restart every event is there once."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg
import pytest

from logflume.events import DeadLetter
from logflume.sinks.postgres.config import PostgresSinkConfig
from logflume.sinks.postgres.sink import PostgresSink
from logflume.sinks.registry import SinkContext
from logflume.sinks.runner import SinkRunner
from tests.fixtures.postgres import PASSWORD, PostgresServer
from tests.sinks.outage import BATCHES, PER_BATCH, batch
from tests.waiting import until


@pytest.mark.parametrize("buffer", ["memory", "disk"])
async def test_runner_rides_out_a_server_crash(
    postgres_server: PostgresServer, tmp_path: Path, buffer: str
) -> None:
    """The server is killed (immediate shutdown) mid-stream and restarted seconds later: writes fail,
    the runner retries (from memory, or replays its disk buffer), and in the end each event_id is
    stored exactly once, with nothing dead-lettered."""
    table = f"outage_{uuid.uuid4().hex[:10]}"
    cfg = PostgresSinkConfig.model_validate(
        {
            "name": "pg",
            "type": "postgres",
            "dsn": postgres_server.dsn_without_password(),
            "password": PASSWORD,
            "table": table,
            "batch": {"max_events": 2500},  # two parallel parts per write
            "retry": {"initial_backoff": "50ms", "max_backoff": "500ms"},
            "buffer": {"type": buffer},
            "connect_timeout": "2s",
        }
    )
    dead: list[DeadLetter] = []
    runner = SinkRunner(
        PostgresSink(cfg, SinkContext(tmp_path, "test-host")), cfg, dead.extend, state_dir=tmp_path
    )
    await runner.start()
    try:
        for index in range(BATCHES // 2):
            await runner.put(batch(index), [])
        await until(lambda: runner.stats.events_sent > 0, "a first delivery")
        postgres_server.kill()
        for index in range(BATCHES // 2, BATCHES):
            await runner.put(batch(index), [])
        await until(lambda: runner.stats.write_errors > 0, "a failed write while the server is down")
        await asyncio.sleep(3)  # the outage lasts a few seconds, as the scenario says
    finally:
        if not postgres_server.running:
            postgres_server.start()
    await until(lambda: runner.stats.events_sent >= BATCHES * PER_BATCH, "every event delivered")
    await runner.stop()

    conn = await asyncpg.connect(postgres_server.dsn)
    try:
        rows = await conn.fetch(f'SELECT event_id, count(*) FROM "{table}" GROUP BY 1')
    finally:
        await conn.close()
    expected = {
        "dead letters": [],
        "stored": {f"outage-{i}-{n}" for i in range(BATCHES) for n in range(PER_BATCH)},
        "stored more than once": [],
    }
    assert expected == {
        "dead letters": dead,
        "stored": {r[0] for r in rows},
        "stored more than once": [r[0] for r in rows if r[1] != 1],
    }
