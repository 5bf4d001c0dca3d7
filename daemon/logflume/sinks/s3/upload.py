"""Uploading one object: a single PUT, or a multipart upload for big ones.

A multipart upload that fails is aborted (best effort), so no invisible parts keep costing
storage; the whole object is then sent again by the runner's retry.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("logflume.sinks.s3")

CONTENT_TYPE = "application/x-ndjson"


async def upload(
    client: Any, bucket: str, key: str, body: bytes, threshold: int, part_size: int, extra: dict[str, Any]
) -> None:
    if len(body) <= threshold:
        await client.put_object(Bucket=bucket, Key=key, Body=body, **extra)
        return
    created = await client.create_multipart_upload(Bucket=bucket, Key=key, **extra)
    upload_id = created["UploadId"]
    try:
        parts = []
        for number, offset in enumerate(range(0, len(body), part_size), start=1):
            part = body[offset : offset + part_size]
            answer = await client.upload_part(
                Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=part
            )
            parts.append({"ETag": answer["ETag"], "PartNumber": number})
        await client.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
    except BaseException:
        try:
            await client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        except Exception as exc:  # the store is likely down; its lifecycle rules must clean up
            log.warning("Multipart upload not aborted", extra={"key": key, "error": str(exc)})
        raise
