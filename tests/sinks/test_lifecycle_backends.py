"""A real backend loses what the sink prepared while it runs (a dropped table, a deleted bucket):
the runner prepares the sink again and the events still land, none dead-lettered."""

from __future__ import annotations

import gzip
import uuid
from pathlib import Path

import aioboto3
import asyncpg
import orjson

from logflume.events import META_KEY, DeadLetter
from logflume.sinks.postgres.config import PostgresSinkConfig
from logflume.sinks.postgres.sink import PostgresSink
from logflume.sinks.registry import SinkContext
from logflume.sinks.runner import SinkRunner
from logflume.sinks.s3.config import S3SinkConfig
from logflume.sinks.s3.sink import S3Sink
from tests.fixtures.postgres import PASSWORD, PostgresServer
from tests.fixtures.seaweedfs import ADMIN, SeaweedServer
from tests.sinks.outage import PER_BATCH, batch
from tests.waiting import until

RETRY = {"initial_backoff": "50ms", "max_backoff": "500ms"}


async def test_a_dropped_table_is_made_again(postgres_server: PostgresServer, tmp_path: Path) -> None:
    """The events table is dropped (with its partitions) between two batches: the next write
    finds it missing, the runner prepares the sink again, which makes the table again, and the
    second batch is stored, with nothing dead-lettered."""
    table = f"lost_{uuid.uuid4().hex[:10]}"
    cfg = PostgresSinkConfig.model_validate(
        {
            "name": "pg", "type": "postgres", "dsn": postgres_server.dsn_without_password(),
            "password": PASSWORD, "table": table, "retry": RETRY, "buffer": {"type": "memory"},
        }
    )  # fmt: skip
    dead: list[DeadLetter] = []
    runner = SinkRunner(PostgresSink(cfg, SinkContext(tmp_path, "test-host")), cfg, dead.extend)
    conn = await asyncpg.connect(postgres_server.dsn)
    try:
        await runner.start()
        await runner.put(batch(0), [])
        await until(lambda: runner.stats.events_sent == PER_BATCH, "the first batch stored")
        await conn.execute(f'DROP TABLE "{table}" CASCADE')
        await runner.put(batch(1), [])
        await until(lambda: runner.stats.events_sent == 2 * PER_BATCH, "the second batch stored")
        await runner.stop()
        stored = sorted(row[0] for row in await conn.fetch(f'SELECT event_id FROM "{table}"'))
    finally:
        await conn.close()
    expected = {"dead letters": [], "stored": sorted(f"outage-1-{n}" for n in range(PER_BATCH))}
    assert expected == {"dead letters": dead, "stored": stored}
    assert runner.stats.write_errors >= 1


async def test_a_deleted_bucket_is_created_again(seaweed_server: SeaweedServer, tmp_path: Path) -> None:
    """With create_bucket, a bucket deleted between two batches is created again by the runner's
    second prepare, and the second batch is stored there, with nothing dead-lettered."""
    bucket = f"lost-{uuid.uuid4().hex[:10]}"
    cfg = S3SinkConfig.model_validate(
        {
            "name": "s3", "type": "s3", "bucket": bucket, "create_bucket": True,
            "endpoint_url": seaweed_server.endpoint, "region": "us-east-1", "access_key_id": ADMIN[0],
            "secret_access_key": ADMIN[1], "force_path_style": True, "retry": RETRY,
            "buffer": {"type": "memory"}, "batch": {"timeout": 0},
        }
    )  # fmt: skip
    dead: list[DeadLetter] = []
    runner = SinkRunner(S3Sink(cfg, SinkContext(tmp_path, "test-host")), cfg, dead.extend)
    session = aioboto3.Session(
        aws_access_key_id=ADMIN[0], aws_secret_access_key=ADMIN[1], region_name="us-east-1"
    )
    async with session.client("s3", endpoint_url=seaweed_server.endpoint) as client:
        await runner.start()
        await runner.put(batch(0), [])
        await until(lambda: runner.stats.events_sent == PER_BATCH, "the first batch stored")
        for obj in (await client.list_objects_v2(Bucket=bucket)).get("Contents", []):
            await client.delete_object(Bucket=bucket, Key=obj["Key"])
        await client.delete_bucket(Bucket=bucket)
        await runner.put(batch(1), [])
        await until(lambda: runner.stats.events_sent == 2 * PER_BATCH, "the second batch stored")
        await runner.stop()
        stored: list[str] = []
        for obj in (await client.list_objects_v2(Bucket=bucket)).get("Contents", []):
            body = await (await client.get_object(Bucket=bucket, Key=obj["Key"]))["Body"].read()
            lines = gzip.decompress(body).splitlines()
            stored += [orjson.loads(line)[META_KEY]["event_id"] for line in lines]
    expected = {"dead letters": [], "stored": sorted(f"outage-1-{n}" for n in range(PER_BATCH))}
    assert expected == {"dead letters": dead, "stored": sorted(stored)}
