"""botocore/aiohttp errors → retry or give up.

S3 error codes: https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html
"""

from __future__ import annotations

import asyncio
import enum

import aiohttp
from botocore.exceptions import (  # type: ignore[import-untyped]
    BotoCoreError,
    ClientError,
    ConnectionError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    PartialCredentialsError,
)


class Outcome(enum.Enum):
    RETRY = "retry"
    FATAL = "fatal"


# Throttling and server-side trouble: the same request may work later.
_RETRY_CODES = frozenset(
    {
        "SlowDown",
        "RequestTimeout",
        "Throttling",
        "ThrottlingException",
        "RequestThrottled",
        "TooManyRequests",
        "InternalError",
        "ServiceUnavailable",
        "OperationAborted",  # a conflicting operation on the bucket is in progress
        "NoSuchUpload",  # the multipart upload vanished: start the object again
    }
)


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def http_status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def classify(exc: BaseException) -> Outcome:
    if isinstance(exc, ClientError):
        status = http_status(exc)
        if error_code(exc) in _RETRY_CODES or status >= 500 or status == 429:
            return Outcome.RETRY
        return Outcome.FATAL  # AccessDenied, NoSuchBucket, InvalidAccessKeyId, SignatureDoesNotMatch, …
    if isinstance(exc, NoCredentialsError | PartialCredentialsError | ParamValidationError | NoRegionError):
        return Outcome.FATAL
    if isinstance(exc, CredentialRetrievalError):
        return Outcome.RETRY  # the metadata service or STS may answer next time
    if isinstance(exc, ConnectionError | HTTPClientError | BotoCoreError):
        return Outcome.RETRY  # refused, reset, timed out, streaming and checksum trouble
    if isinstance(exc, aiohttp.ClientError | OSError | TimeoutError | asyncio.TimeoutError):
        return Outcome.RETRY
    return Outcome.FATAL


def describe(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        message = exc.response.get("Error", {}).get("Message", "")
        code = error_code(exc) or str(http_status(exc))
        return f"{code}: {message}" if message else code
    return f"{type(exc).__name__}: {exc}"
