"""The S3 sink: each batch becomes gzip NDJSON objects, one per source (split above a size cap).

An object is acknowledged once S3 answered its PUT (or completed its multipart upload), which
makes it durable, so :meth:`sync` has nothing left to do. Keys are deterministic per object
(:mod:`.keys`), so retries overwrite rather than duplicate. botocore's own retries are off: the
runner owns backoff for every sink.

``open`` makes the client, ``prepare`` checks the bucket (creating it if configured to); both
raise while S3 is unreachable, and the runner (:mod:`logflume.sinks.lifecycle`) defers and retries.
A bucket deleted under a running sink is a lost set-up: prepared again before the next upload.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any

import aioboto3
from aiobotocore.config import AioConfig  # type: ignore[import-untyped]
from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from logflume import lines
from logflume.errors import FatalSinkError, RetryableSinkError, SinkError, SinkSetupLostError
from logflume.events import Event
from logflume.lines import Lines
from logflume.retry import sink_error
from logflume.sinks.base import ACCEPTED, LinesResult, WriteResult
from logflume.sinks.registry import SinkContext
from logflume.sinks.s3.classify import classify, describe, error_code, missing_bucket
from logflume.sinks.s3.config import S3SinkConfig
from logflume.sinks.s3.encode import compress, objects_of
from logflume.sinks.s3.keys import KeyRenderer, object_id
from logflume.sinks.s3.upload import CONTENT_TYPE, upload

log = logging.getLogger("logflume.sinks.s3")


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


class S3Sink:
    def __init__(self, config: S3SinkConfig, context: SinkContext) -> None:
        self.name = config.name
        self.config = config
        self.host = context.host
        self.keys = KeyRenderer(config.key, config.prefix, context.host, config.key_time == "event")
        self._extra: dict[str, Any] = {"ContentType": CONTENT_TYPE, "ContentEncoding": "gzip"}
        if config.storage_class:
            self._extra["StorageClass"] = config.storage_class
        self._stack: contextlib.AsyncExitStack | None = None
        self._client: Any = None

    # -- lifecycle ----------------------------------------------------------------------------

    def _client_context(self) -> Any:
        c = self.config
        session = aioboto3.Session(
            aws_access_key_id=_secret(c.access_key_id),
            aws_secret_access_key=_secret(c.secret_access_key),
            aws_session_token=_secret(c.session_token),
            region_name=c.region,
        )
        options: dict[str, Any] = {
            "connect_timeout": c.connect_timeout,
            "read_timeout": c.read_timeout,
            "retries": {"mode": "standard", "total_max_attempts": 1},
        }
        if c.force_path_style:
            options["s3"] = {"addressing_style": "path"}
        if c.endpoint_url is not None:
            # Many S3-compatible stores reject the CRC trailers botocore adds by default since 1.36.
            options["request_checksum_calculation"] = "when_required"
            options["response_checksum_validation"] = "when_required"
        return session.client("s3", endpoint_url=c.endpoint_url, config=AioConfig(**options))

    async def _ensure_client(self) -> Any:
        if self._client is None:
            stack = contextlib.AsyncExitStack()
            self._client = await stack.enter_async_context(self._client_context())
            self._stack = stack
        return self._client

    async def open(self) -> None:
        try:
            await self._ensure_client()
        except Exception as exc:
            raise self._error(exc, "connect") from exc

    async def prepare(self) -> None:
        """Make sure the bucket exists (creating it if configured to)."""
        bucket = self.config.bucket
        try:
            client = await self._ensure_client()
            try:
                await client.head_bucket(Bucket=bucket)
            except ClientError as exc:
                if not missing_bucket(exc):
                    raise
                if not self.config.create_bucket:
                    raise FatalSinkError(
                        f"S3 set-up failed for bucket {bucket}: {describe(exc)}: it does not exist "
                        "(create it, or set create_bucket: true)"
                    ) from exc
                await self._create_bucket(client)
        except SinkError:
            raise
        except Exception as exc:
            raise self._error(exc, "set-up") from exc

    async def _create_bucket(self, client: Any) -> None:
        args: dict[str, Any] = {"Bucket": self.config.bucket}
        if self.config.region and self.config.region != "us-east-1":
            args["CreateBucketConfiguration"] = {"LocationConstraint": self.config.region}
        try:
            await client.create_bucket(**args)
        except ClientError as exc:
            if error_code(exc) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise
        log.info("Bucket created", extra={"sink": self.name, "bucket": self.config.bucket})

    async def sync(self) -> None:
        """Nothing to do: a write returns only after S3 stored its objects."""

    async def close(self) -> None:
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    # -- writing ------------------------------------------------------------------------------

    async def write(self, events: list[Event]) -> WriteResult:
        """Events (encoded first): for callers that hold decoded events; the runner writes lines."""
        result = await self.write_lines(lines.encode(events))
        if not result.retry and not result.rejected:
            return ACCEPTED
        return WriteResult(retry=lines.decode(result.retry), rejected=result.rejected)

    async def write_lines(self, blocks: list[Lines]) -> LinesResult:
        if not blocks:
            return LinesResult()
        now = time.time()
        plain = objects_of(blocks, self.config.max_object_bytes)
        for index, item in enumerate(plain):
            # Off the event loop: gzip (nearly all the CPU) releases the GIL, so it runs on another
            # core; the runner's ``concurrency`` overlaps one batch's gzip and upload with the next.
            obj = await asyncio.to_thread(compress, item, self.config.compression_level)
            name = object_id(obj.first, obj.last, obj.count, obj.body)
            key = self.keys.render(obj.source, [obj.first], name, now)
            try:
                await upload(
                    self._client,
                    self.config.bucket,
                    key,
                    obj.body,
                    self.config.multipart_threshold,
                    self.config.part_size,
                    self._extra,
                    self.config.part_concurrency,
                )
            except Exception as exc:
                error = self._error(exc, "upload")
                # A lost bucket is raised even after earlier objects: the runner must prepare
                # again, and uploading those again overwrites them (their keys are the same).
                if index == 0 or isinstance(error, SinkSetupLostError):
                    raise error from exc
                # Earlier objects are stored: hand back only what is left.
                return self._partial(item, plain[index + 1 :], error)
            log.debug(
                "Object written",
                extra={"sink": self.name, "key": key, "events": obj.count, "bytes": len(obj.body)},
            )
        return LinesResult()

    def _partial(self, failed: Lines, left: list[Lines], error: SinkError) -> LinesResult:
        blocks = [failed, *left]
        if isinstance(error, RetryableSinkError):
            log.warning("S3 upload failed part-way", extra={"sink": self.name, "error": str(error)})
            return LinesResult(retry=blocks)
        return LinesResult(rejected=[(event, str(error)) for event in lines.decode(blocks)])

    def _error(self, exc: BaseException, during: str) -> SinkError:
        text = f"S3 {during} failed for bucket {self.config.bucket}: {describe(exc)}"
        return sink_error(classify(exc), text)

    # -- check --------------------------------------------------------------------------------

    async def check(self) -> str:
        client = await self._ensure_client()
        bucket = self.config.bucket
        try:
            await client.head_bucket(Bucket=bucket)
        except ClientError as exc:
            if self.config.create_bucket and missing_bucket(exc):
                return f"bucket {bucket} does not exist yet; it will be created at start"
            raise self._error(exc, "check") from exc
        except Exception as exc:
            raise self._error(exc, "check") from exc
        probe = "/".join(p for p in (self.config.prefix, f".logflume-probe-{uuid.uuid4().hex}") if p)
        try:
            await client.put_object(Bucket=bucket, Key=probe, Body=b"")
            await client.delete_object(Bucket=bucket, Key=probe)
        except Exception as exc:
            raise self._error(exc, "check") from exc
        where = self.config.endpoint_url or "AWS"
        return f"bucket {bucket} at {where} reachable; wrote and deleted {probe}"
