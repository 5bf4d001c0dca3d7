"""botocore/aiohttp errors → what the runner should do about them (:class:`logflume.retry.Outcome`).

S3 error codes: https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html
"""

from __future__ import annotations

import asyncio

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

from logflume.retry import Outcome, http_outcome

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


def missing_bucket(exc: ClientError) -> bool:
    return error_code(exc) in ("NoSuchBucket", "404") or http_status(exc) == 404


def classify(exc: BaseException) -> Outcome:
    """RETRY, FATAL, or SETUP_LOST for a bucket that went missing (prepare creates it again, or
    finds it cannot)."""
    if isinstance(exc, ClientError):
        if error_code(exc) in _RETRY_CODES:
            return Outcome.RETRY
        if error_code(exc) == "NoSuchBucket":
            return Outcome.SETUP_LOST
        status = http_status(exc)
        # AccessDenied, InvalidAccessKeyId, SignatureDoesNotMatch, … are fatal.
        return http_outcome(status) if status else Outcome.FATAL
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
