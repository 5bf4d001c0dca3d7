"""Multipart uploads and concurrent writes against a real S3 server (SeaweedFS)."""

from __future__ import annotations

import asyncio
import gzip
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aioboto3
import orjson
import pytest
from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from logflume.events import META_KEY, Event
from logflume.sinks.registry import SinkContext
from logflume.sinks.s3.config import S3SinkConfig
from logflume.sinks.s3.sink import S3Sink
from logflume.sinks.s3.upload import upload
from tests.fixtures.seaweedfs import ADMIN, SeaweedServer

MIB = 1024**2


class PartCounter:
    """The real client, counting how many ``upload_part`` calls are in flight at once."""

    def __init__(self, client: Any, refuse_part: int | None = None) -> None:
        self.client = client
        self.refuse_part = refuse_part
        self.in_flight = 0
        self.most_in_flight = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    async def upload_part(self, **args: Any) -> Any:
        if args["PartNumber"] == self.refuse_part:
            args["PartNumber"] = 10_001  # beyond S3's limit: the server itself refuses the part
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            return await self.client.upload_part(**args)
        finally:
            self.in_flight -= 1


@pytest.fixture
async def client(seaweed_server: SeaweedServer) -> AsyncIterator[Any]:
    session = aioboto3.Session(
        aws_access_key_id=ADMIN[0], aws_secret_access_key=ADMIN[1], region_name="us-east-1"
    )
    async with session.client("s3", endpoint_url=seaweed_server.endpoint) as client:
        yield client


@pytest.fixture
async def bucket(client: Any) -> str:
    name = f"upload-{uuid.uuid4().hex[:12]}"
    await client.create_bucket(Bucket=name)
    return name


class TestMultipart:
    async def test_parts_go_up_together_up_to_the_limit(self, client: Any, bucket: str) -> None:
        """Five parts with a limit of two: two are in flight at once, and the object reads back whole."""
        body = os.urandom(21 * MIB)  # 5 MiB parts: four full ones and a short last one
        counter = PartCounter(client)
        await upload(counter, bucket, "big", body, 5 * MIB, 5 * MIB, {}, 2)
        stored = await (await client.get_object(Bucket=bucket, Key="big"))["Body"].read()
        expected = (2, len(body), True)
        assert expected == (counter.most_in_flight, len(stored), stored == body)

    async def test_a_refused_part_aborts_the_upload(self, client: Any, bucket: str) -> None:
        """When the server refuses a part, its own error is raised and the upload is aborted."""
        counter = PartCounter(client, refuse_part=2)
        with pytest.raises(ClientError) as caught:
            await upload(counter, bucket, "big", os.urandom(16 * MIB), 5 * MIB, 5 * MIB, {}, 4)
        uploads = await client.list_multipart_uploads(Bucket=bucket)
        listed = await client.list_objects_v2(Bucket=bucket)
        expected = ("InvalidPart", [], [])
        assert expected == (
            caught.value.response["Error"]["Code"],
            uploads.get("Uploads", []),
            listed.get("Contents", []),
        )


def make_event(batch: int, n: int) -> Event:
    return {
        "timestamp": "2026-01-15T10:30:15.123Z",
        "message": f"request {batch}/{n}",
        META_KEY: {"event_id": f"c-{batch}-{n}", "source": "proxy"},
    }


class TestConcurrentWrites:
    async def test_concurrent_batches_each_get_their_own_object(
        self, seaweed_server: SeaweedServer, client: Any, bucket: str
    ) -> None:
        """Eight batches written at once (as the runner does with ``concurrency``) become eight
        objects holding every event once; closing and writing again works the same."""
        cfg = S3SinkConfig.model_validate(
            {
                "name": "s3",
                "type": "s3",
                "bucket": bucket,
                "endpoint_url": seaweed_server.endpoint,
                "region": "us-east-1",
                "access_key_id": ADMIN[0],
                "secret_access_key": ADMIN[1],
                "force_path_style": True,
            }
        )
        sink = S3Sink(cfg, SinkContext(Path("/nonexistent"), "test-host"))
        batches = [[make_event(b, n) for n in range(500)] for b in range(8)]
        await sink.open()
        await asyncio.gather(*(sink.write(batch) for batch in batches[:4]))
        await sink.close()
        await sink.open()
        await asyncio.gather(*(sink.write(batch) for batch in batches[4:]))
        await sink.close()
        keys = [obj["Key"] for obj in (await client.list_objects_v2(Bucket=bucket))["Contents"]]
        stored: list[str] = []
        for key in keys:
            body = await (await client.get_object(Bucket=bucket, Key=key))["Body"].read()
            stored.extend(
                orjson.loads(line)[META_KEY]["event_id"] for line in gzip.decompress(body).splitlines()
            )
        expected = (8, sorted(f"c-{b}-{n}" for b in range(8) for n in range(500)))
        assert expected == (len(keys), sorted(stored))
