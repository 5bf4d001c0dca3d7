"""S3 sink against a real S3 server (SeaweedFS): objects, keys, replays, multipart, errors."""

from __future__ import annotations

import gzip
import os
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aioboto3
import orjson
import pytest

from logflume.config import parse_config
from logflume.errors import FatalSinkError, RetryableSinkError
from logflume.events import META_KEY, Event
from logflume.sinks.registry import SinkContext, build_sink
from logflume.sinks.s3.config import S3SinkConfig
from logflume.sinks.s3.sink import S3Sink
from tests.fixtures.common import free_port
from tests.fixtures.seaweedfs import ADMIN, READER, SeaweedServer
from tests.sinks.ready import ready

HOST = "test-host"


def make_event(n: int, source: str = "proxy", **fields: Any) -> Event:
    event: Event = {
        "timestamp": "2024-01-15T10:30:15.123Z",
        "level": "INFO",
        "message": "Chat completion request processed",
        "request_id": f"req_{n}",
        "tokens": 150,
        META_KEY: {"event_id": f"beef-{n:x}", "source": source, "file": "/logs/app.log", "offset": n * 300},
    }
    event.update(fields)
    return event


def config(server: SeaweedServer, bucket: str, **fields: Any) -> S3SinkConfig:
    return S3SinkConfig.model_validate(
        {
            "name": "s3",
            "type": "s3",
            "bucket": bucket,
            "endpoint_url": server.endpoint,
            "region": "us-east-1",
            "access_key_id": ADMIN[0],
            "secret_access_key": ADMIN[1],
            "force_path_style": True,
            **fields,
        }
    )


def make_sink(server: SeaweedServer, bucket: str, **fields: Any) -> S3Sink:
    return S3Sink(config(server, bucket, **fields), SinkContext(Path("/nonexistent"), HOST))


class Store:
    """Reads the bucket back with an independent client."""

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    async def keys(self) -> list[str]:
        keys: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.bucket):
            keys.extend(obj["Key"] for obj in page.get("Contents", []))
        return sorted(keys)

    async def raw(self, key: str) -> bytes:
        answer = await self.client.get_object(Bucket=self.bucket, Key=key)
        return bytes(await answer["Body"].read())

    async def events(self, key: str) -> list[Event]:
        return [orjson.loads(line) for line in gzip.decompress(await self.raw(key)).splitlines()]

    async def all_events(self) -> list[Event]:
        return [event for key in await self.keys() for event in await self.events(key)]


@pytest.fixture
def bucket() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def store(seaweed_server: SeaweedServer, bucket: str) -> AsyncIterator[Store]:
    session = aioboto3.Session(
        aws_access_key_id=ADMIN[0], aws_secret_access_key=ADMIN[1], region_name="us-east-1"
    )
    async with session.client("s3", endpoint_url=seaweed_server.endpoint) as client:
        await client.create_bucket(Bucket=bucket)
        yield Store(client, bucket)


@pytest.fixture
async def sink(seaweed_server: SeaweedServer, store: Store, bucket: str) -> AsyncIterator[S3Sink]:
    sink = make_sink(seaweed_server, bucket)
    await ready(sink)
    yield sink
    await sink.close()


def ids(events: list[Event]) -> list[str]:
    return sorted(event[META_KEY]["event_id"] for event in events)


class TestObjects:
    async def test_objects_decompress_to_exactly_the_events(self, sink: S3Sink, store: Store) -> None:
        """A few thousand events from two sources become gzip NDJSON objects holding each event once."""
        events = [make_event(n, "proxy" if n % 3 else "billing") for n in range(3000)]
        result = await sink.write(events)
        expected = ([], [])
        assert expected == (result.retry, result.rejected)
        assert sorted(events, key=lambda e: e[META_KEY]["event_id"]) == sorted(
            await store.all_events(), key=lambda e: e[META_KEY]["event_id"]
        )

    async def test_keys_follow_the_hive_style_template(self, sink: S3Sink, store: Store) -> None:
        """One object per source, under prefix/source/dt=/hour= from the first event's time."""
        await sink.write([make_event(1, "proxy"), make_event(2, "billing")])
        pattern = re.compile(
            r"^logflume/(proxy|billing)/dt=2024-01-15/hour=10/test-host-[0-9a-f]{16}\.json\.gz$"
        )
        keys = await store.keys()
        expected = [True, True]
        assert expected == [bool(pattern.match(key)) for key in keys]
        expected = ["billing", "proxy"]
        assert expected == sorted(key.split("/")[1] for key in keys)

    async def test_replaying_a_batch_overwrites_the_same_keys(self, sink: S3Sink, store: Store) -> None:
        """Writing the same batch again leaves the same keys with the same content, no duplicates."""
        events = [make_event(n) for n in range(2000)]
        await sink.write(events)
        first = {key: await store.raw(key) for key in await store.keys()}
        await sink.write(events)
        second = {key: await store.raw(key) for key in await store.keys()}
        assert first == second
        assert ids(events) == ids(await store.all_events())

    async def test_big_batches_are_split_into_objects_under_the_cap(
        self, seaweed_server: SeaweedServer, store: Store, bucket: str
    ) -> None:
        """With a 64 KiB cap, a batch becomes several objects of at most 64 KiB uncompressed."""
        sink = make_sink(seaweed_server, bucket, max_object_bytes="64KiB")
        await ready(sink)
        events = [make_event(n, padding="x" * 200) for n in range(2000)]
        await sink.write(events)
        await sink.close()
        keys = await store.keys()
        sizes = [len(gzip.decompress(await store.raw(key))) for key in keys]
        assert len(keys) > 1
        expected = []
        assert expected == [size for size in sizes if size > 64 * 1024]
        assert ids(events) == ids(await store.all_events())

    async def test_large_objects_go_up_in_parts(
        self, seaweed_server: SeaweedServer, store: Store, bucket: str
    ) -> None:
        """An object over the multipart threshold is uploaded in 5 MiB parts and reads back whole."""
        sink = make_sink(
            seaweed_server, bucket, multipart_threshold="5MiB", part_size="5MiB", max_object_bytes="64MiB"
        )
        await ready(sink)
        # Random hex barely compresses, so ~24 MB of it gives a gzip object of about 12 MB.
        events = [make_event(n, payload=os.urandom(1000).hex()) for n in range(12_000)]
        await sink.write(events)
        await sink.close()
        [key] = await store.keys()
        head = await store.client.head_object(Bucket=bucket, Key=key, PartNumber=1)
        expected = 3
        assert expected == head["PartsCount"]
        assert ids(events) == ids(await store.events(key))

    async def test_the_daemon_config_builds_the_sink(
        self, seaweed_server: SeaweedServer, store: Store, bucket: str
    ) -> None:
        """A config file's s3 sink, keys from the environment, builds through the registry and writes."""
        text = (
            "state_dir: /tmp/x\nsources: [{name: proxy, include: [/tmp/x/*.log]}]\n"
            f"sinks:\n  - name: archive\n    type: s3\n    bucket: {bucket}\n"
            f"    endpoint_url: {seaweed_server.endpoint}\n    region: us-east-1\n"
            "    force_path_style: true\n"
            "    access_key_id: ${S3_TEST_KEY}\n    secret_access_key: ${S3_TEST_SECRET}\n    prefix: ''\n"
        )
        cfg = parse_config(text, env={"S3_TEST_KEY": ADMIN[0], "S3_TEST_SECRET": ADMIN[1]})
        assert ADMIN[1] not in repr(cfg.sinks[0])
        sink = build_sink(cfg.sinks[0], SinkContext(Path("/tmp/x"), HOST))
        await ready(sink)
        try:
            await sink.write([make_event(1)])
        finally:
            await sink.close()
        [key] = await store.keys()
        assert key.startswith("proxy/dt=2024-01-15/hour=10/")


class TestBucket:
    async def test_missing_bucket_is_fatal(self, seaweed_server: SeaweedServer) -> None:
        """A bucket that does not exist cannot be written to: no retrying."""
        sink = make_sink(seaweed_server, f"missing-{uuid.uuid4().hex[:8]}")
        with pytest.raises(FatalSinkError, match="404"):
            await ready(sink)
        await sink.close()

    async def test_create_bucket_makes_a_missing_bucket(self, seaweed_server: SeaweedServer) -> None:
        """With create_bucket, prepare() creates the bucket and writes go through."""
        name = f"created-{uuid.uuid4().hex[:8]}"
        sink = make_sink(seaweed_server, name, create_bucket=True)
        await ready(sink)
        await sink.write([make_event(1)])
        await sink.close()
        session = aioboto3.Session(
            aws_access_key_id=ADMIN[0], aws_secret_access_key=ADMIN[1], region_name="us-east-1"
        )
        async with session.client("s3", endpoint_url=seaweed_server.endpoint) as client:
            expected = ["beef-1"]
            assert expected == ids(await Store(client, name).all_events())

    async def test_check_writes_and_removes_a_probe(self, sink: S3Sink, store: Store) -> None:
        """check() heads the bucket and writes and deletes a probe object, leaving nothing behind."""
        assert "wrote and deleted" in await sink.check()
        expected = []
        assert expected == await store.keys()


class TestErrors:
    async def test_read_only_credentials_are_fatal(
        self, seaweed_server: SeaweedServer, store: Store, bucket: str
    ) -> None:
        """Credentials that may only read fail check() and write() with AccessDenied, not a retry."""
        sink = make_sink(seaweed_server, bucket, access_key_id=READER[0], secret_access_key=READER[1])
        await ready(sink)
        with pytest.raises(FatalSinkError, match="AccessDenied"):
            await sink.check()
        with pytest.raises(FatalSinkError, match="AccessDenied"):
            await sink.write([make_event(1)])
        await sink.close()

    async def test_wrong_secret_is_fatal(
        self, seaweed_server: SeaweedServer, store: Store, bucket: str
    ) -> None:
        """A bad signature is refused for good."""
        sink = make_sink(seaweed_server, bucket, secret_access_key="wrong")
        with pytest.raises(FatalSinkError):
            await ready(sink)
        await sink.close()

    async def test_nothing_listening_is_retryable(self, bucket: str) -> None:
        """Connection refused is transient: open() makes a client, prepare() and write() ask for a
        retry."""
        cfg = S3SinkConfig.model_validate(
            {
                "name": "s3",
                "type": "s3",
                "bucket": bucket,
                "endpoint_url": f"http://127.0.0.1:{free_port()}",
                "region": "us-east-1",
                "access_key_id": "k",
                "secret_access_key": "s",
                "force_path_style": True,
            }
        )
        sink = S3Sink(cfg, SinkContext(Path("/nonexistent"), HOST))
        await sink.open()
        with pytest.raises(RetryableSinkError, match="EndpointConnectionError"):
            await sink.prepare()
        with pytest.raises(RetryableSinkError, match="EndpointConnectionError"):
            await sink.write([make_event(1)])
        await sink.close()
