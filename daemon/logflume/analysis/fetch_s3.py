"""Fetching ``s3://bucket/prefix`` (the S3 sink's gzip NDJSON objects) into a local directory.

Credentials and region come from the standard AWS environment (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``, ``AWS_REGION`` …); ``--s3-endpoint`` points at
MinIO, SeaweedFS or another S3-compatible server.
"""

from __future__ import annotations

import asyncio
from pathlib import Path, PurePosixPath
from typing import Any

import aioboto3
from aiobotocore.config import AioConfig  # type: ignore[import-untyped]
from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

from logflume.errors import AnalysisError

# Objects are small (one sink batch each), so many downloads in flight hide the latency.
CONCURRENCY = 16
CHUNK = 1 << 20


def split_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` → ("bucket", "some/prefix")."""
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    if not bucket:
        raise AnalysisError(f"{url}: expected s3://bucket/prefix")
    return bucket, prefix


def client_config(endpoint: str | None) -> AioConfig:
    options: dict[str, Any] = {"retries": {"mode": "standard", "max_attempts": 3}}
    if endpoint is not None:
        # S3-compatible stores are usually addressed by path (no per-bucket DNS names), and many
        # reject the checksum trailers botocore adds by default since 1.36.
        options["s3"] = {"addressing_style": "path"}
        options["request_checksum_calculation"] = "when_required"
        options["response_checksum_validation"] = "when_required"
    return AioConfig(**options)


async def fetch_prefix(url: str, dest: Path, endpoint: str | None) -> list[Path]:
    """Download every object under the prefix into ``dest``; returns the files in key order."""
    bucket, prefix = split_url(url)
    session = aioboto3.Session()
    try:
        async with session.client("s3", endpoint_url=endpoint, config=client_config(endpoint)) as client:
            keys: list[str] = []
            paginator = client.get_paginator("list_objects_v2")
            async for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                keys.extend(item["Key"] for item in page.get("Contents", []) if not item["Key"].endswith("/"))
            if not keys:
                raise AnalysisError(f"{url}: no objects under this prefix")
            keys.sort()
            limit = asyncio.Semaphore(CONCURRENCY)
            # Numbered names: keys may contain "..", or collide once flattened.
            paths = [dest / f"{index:07d}-{PurePosixPath(key).name}" for index, key in enumerate(keys)]

            async def download(key: str, path: Path) -> None:
                async with limit:
                    response = await client.get_object(Bucket=bucket, Key=key)
                    with path.open("wb") as out:
                        async for chunk in response["Body"].iter_chunks(CHUNK):
                            out.write(chunk)

            await asyncio.gather(*(download(key, path) for key, path in zip(keys, paths, strict=True)))
            return paths
    except (BotoCoreError, ClientError) as exc:
        raise AnalysisError(f"{url}: cannot read from S3: {exc}") from exc
