"""Uploading one object: a single PUT, or a multipart upload for big ones.

A multipart upload sends up to ``part_concurrency`` parts at once: one part at a time would leave
the connection idle while S3 answers each one. A part's bytes are cut from the body only when
its turn comes, so at most that many copies exist at once. A multipart upload that fails is
aborted (best effort), so no invisible parts keep costing storage; the whole object is then sent
again by the runner's retry.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger("logflume.sinks.s3")

CONTENT_TYPE = "application/x-ndjson"


async def upload(
    client: Any,
    bucket: str,
    key: str,
    body: bytes,
    threshold: int,
    part_size: int,
    extra: dict[str, Any],
    part_concurrency: int,
) -> None:
    if len(body) <= threshold:
        await client.put_object(Bucket=bucket, Key=key, Body=body, **extra)
        return
    created = await client.create_multipart_upload(Bucket=bucket, Key=key, **extra)
    upload_id = created["UploadId"]
    slots = asyncio.Semaphore(part_concurrency)

    async def send(number: int, offset: int) -> dict[str, Any]:
        async with slots:
            part = body[offset : offset + part_size]
            answer = await client.upload_part(
                Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=part
            )
        return {"ETag": answer["ETag"], "PartNumber": number}

    try:
        # A TaskGroup cancels the other parts as soon as one fails.
        async with asyncio.TaskGroup() as group:
            tasks = [
                group.create_task(send(number, offset))
                for number, offset in enumerate(range(0, len(body), part_size), start=1)
            ]
        parts = [task.result() for task in tasks]
        await client.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
    except BaseException as exc:
        try:
            await client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        except Exception as abort_exc:  # the store is likely down; its lifecycle rules must clean up
            log.warning("Multipart upload not aborted", extra={"key": key, "error": str(abort_exc)})
        # The sink classifies the failed part's own error, not the TaskGroup's wrapper.
        if isinstance(exc, BaseExceptionGroup):
            raise exc.exceptions[0] from None
        raise
