"""The S3 server is killed while a SinkRunner is writing; after the restart every event is stored once."""

from __future__ import annotations

import asyncio
import gzip
import uuid
from pathlib import Path

import aioboto3
import orjson
import pytest

from logflume.events import META_KEY, DeadLetter
from logflume.sinks.registry import SinkContext
from logflume.sinks.runner import SinkRunner
from logflume.sinks.s3.config import S3SinkConfig
from logflume.sinks.s3.sink import S3Sink
from tests.fixtures.seaweedfs import ADMIN, SeaweedServer
from tests.sinks.outage import BATCHES, PER_BATCH, batch
from tests.waiting import until


@pytest.mark.parametrize("buffer", ["memory", "disk"])
async def test_runner_rides_out_a_server_crash(
    seaweed_server: SeaweedServer, tmp_path: Path, buffer: str
) -> None:
    """SeaweedFS is SIGKILLed mid-stream and restarted seconds later: uploads fail, the runner
    retries, and in the end the bucket holds each event exactly once, nothing dead-lettered."""
    bucket = f"outage-{uuid.uuid4().hex[:10]}"
    cfg = S3SinkConfig.model_validate(
        {
            "name": "s3",
            "type": "s3",
            "bucket": bucket,
            "create_bucket": True,
            "endpoint_url": seaweed_server.endpoint,
            "region": "us-east-1",
            "access_key_id": ADMIN[0],
            "secret_access_key": ADMIN[1],
            "force_path_style": True,
            "batch": {"max_events": 500, "timeout": 0},
            "retry": {"initial_backoff": "50ms", "max_backoff": "500ms"},
            "buffer": {"type": buffer},
            "connect_timeout": "2s",
            "read_timeout": "5s",
        }
    )
    dead: list[DeadLetter] = []
    runner = SinkRunner(S3Sink(cfg, SinkContext(tmp_path, "test-host")), cfg, dead.extend, state_dir=tmp_path)
    await runner.start()
    try:
        for index in range(BATCHES // 2):
            await runner.put(batch(index), [])
        await until(lambda: runner.stats.events_sent > 0, "a first delivery")
        seaweed_server.kill()
        for index in range(BATCHES // 2, BATCHES):
            await runner.put(batch(index), [])
        await until(lambda: runner.stats.write_errors > 0, "a failed upload while the server is down")
        await asyncio.sleep(3)  # the outage lasts a few seconds, as the scenario says
    finally:
        seaweed_server.start()
    await until(lambda: runner.stats.events_sent >= BATCHES * PER_BATCH, "every event delivered")
    await runner.stop()

    session = aioboto3.Session(
        aws_access_key_id=ADMIN[0], aws_secret_access_key=ADMIN[1], region_name="us-east-1"
    )
    stored: list[str] = []
    async with session.client("s3", endpoint_url=seaweed_server.endpoint) as client:
        async for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                body = await (await client.get_object(Bucket=bucket, Key=obj["Key"]))["Body"].read()
                stored.extend(
                    orjson.loads(line)[META_KEY]["event_id"] for line in gzip.decompress(body).splitlines()
                )
    expected = {
        "dead letters": [],
        "stored": sorted(f"outage-{i}-{n}" for i in range(BATCHES) for n in range(PER_BATCH)),
    }
    assert expected == {"dead letters": dead, "stored": sorted(stored)}
