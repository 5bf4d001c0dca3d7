"""The narrow client interface the sink uses, over the official client of each flavour.

``elasticsearch``: the official ``elasticsearch`` async client (8.x; it checks the
``X-Elastic-Product`` header, so it cannot talk to OpenSearch). ``opensearch``: ``opensearch-py``'s
async client. Both send the ready-made ``_bulk`` body as it is.

What the flavours share is written once here: the ``Authorization`` header (basic, API key or
bearer; the same header either library would build), the TLS options (both libraries name them
alike), installing the index template, and turning a library error into the sink error tree:

* no answer (connection refused or reset, timeout, TLS failure), 408, 429 or 5xx: RetryableSinkError;
* any other 4xx (401/403 auth, 400 bad request, 404 …): FatalSinkError.

Only what differs (the library's class, its name for the timeout, which exception means what)
is per flavour. The clients' own retries are off: the runner owns backoff and attempt limits.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar, cast

from logflume.errors import FatalSinkError, RetryableSinkError, SinkError
from logflume.retry import http_outcome, sink_error
from logflume.sinks.elasticsearch.bulk import FILTER_PATH
from logflume.sinks.elasticsearch.config import ElasticsearchSinkConfig

T = TypeVar("T")


class SearchClient(Protocol):
    """What the sink needs from a cluster; tests may pass their own."""

    async def info(self) -> dict[str, Any]:
        """``GET /``: name, cluster and version of the node."""

    async def bulk(self, body: bytes) -> dict[str, Any]:
        """``POST /_bulk`` with an NDJSON body; the answer filtered to status and errors per item."""

    async def put_index_template(self, name: str, body: dict[str, Any]) -> None:
        """``PUT /_index_template/<name>``."""

    async def close(self) -> None:
        """Close the connection pool."""


def classify_status(status: int, what: str, detail: str) -> SinkError:
    """The sink error for a whole request answered with an HTTP error ``status``."""
    return sink_error(http_outcome(status), f"{what}: HTTP {status}: {detail}")


def error_detail(body: Any, fallback: object) -> str:
    """``type: reason`` from an error answer's body (the same shape on both flavours)."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        return f"{error.get('type', 'error')}: {error.get('reason', '')}"
    return str(fallback)


def shard_timeout(config: ElasticsearchSinkConfig) -> str | None:
    """The bulk ``timeout`` parameter (``"1500ms"``), or None for the node's default."""
    if config.shard_timeout is None:
        return None
    return f"{max(1, round(config.shard_timeout * 1000))}ms"


def _api_key(raw: str) -> str:
    """The ``ApiKey`` header value: accepts the encoded form or ``id:key``."""
    if ":" in raw:
        return base64.b64encode(raw.encode()).decode()
    return raw


def authorization(config: ElasticsearchSinkConfig) -> str | None:
    """The ``Authorization`` header for the configured scheme (at most one is allowed)."""
    if config.username is not None and config.password is not None:
        pair = f"{config.username}:{config.password.get_secret_value()}"
        return "Basic " + base64.b64encode(pair.encode()).decode()
    if config.api_key is not None:
        return "ApiKey " + _api_key(config.api_key.get_secret_value())
    if config.bearer_token is not None:
        return "Bearer " + config.bearer_token.get_secret_value()
    return None


def common_options(config: ElasticsearchSinkConfig) -> dict[str, Any]:
    """Client options both libraries take under the same names: retries off, compression, the
    auth header and, for https hosts, certificate checks."""
    options: dict[str, Any] = {
        "max_retries": 0,
        "retry_on_timeout": False,
        "http_compress": config.compression,
    }
    header = authorization(config)
    if header is not None:
        options["headers"] = {"authorization": header}
    if any(host.startswith("https:") for host in config.hosts):
        options["verify_certs"] = config.tls.verify
        options["ssl_show_warn"] = config.tls.verify
        if config.tls.ca_file is not None:
            options["ca_certs"] = config.tls.ca_file
    return options


class _Wrapper:
    """The calls both flavours make the same way; a flavour converts its library's errors."""

    _client: Any

    def _convert(self, what: str, exc: Exception) -> SinkError | None:
        """The sink error for a library error, None for anything else (raised as it is)."""
        raise NotImplementedError

    async def _call(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        try:
            return await call()
        except Exception as exc:
            error = self._convert(what, exc)
            if error is None:
                raise
            raise error from exc

    async def put_index_template(self, name: str, body: dict[str, Any]) -> None:
        await self._call(
            f"index template {name}", lambda: self._client.indices.put_index_template(name=name, body=body)
        )

    async def close(self) -> None:
        await self._client.close()


class ElasticsearchClient(_Wrapper):
    """The official ``elasticsearch`` async client (Elasticsearch 8 and 9)."""

    def __init__(self, config: ElasticsearchSinkConfig) -> None:
        import elasticsearch

        self._lib = elasticsearch
        self._shard_timeout = shard_timeout(config)
        self._client = elasticsearch.AsyncElasticsearch(
            list(config.hosts), request_timeout=config.request_timeout, **common_options(config)
        )

    def _convert(self, what: str, exc: Exception) -> SinkError | None:
        lib = self._lib
        if isinstance(exc, lib.UnsupportedProductError):
            return FatalSinkError(
                f"{what}: the server is not Elasticsearch (for OpenSearch set flavor: opensearch)"
            )
        if isinstance(exc, lib.ApiError):
            return classify_status(exc.meta.status, what, error_detail(exc.body, exc.message))
        if isinstance(exc, lib.TransportError):
            return RetryableSinkError(f"{what}: {type(exc).__name__}: {exc.message}")
        return None

    async def info(self) -> dict[str, Any]:
        response = await self._call("GET /", lambda: self._client.info())
        return dict(response.body)

    async def bulk(self, body: bytes) -> dict[str, Any]:
        # The client passes bytes through unchanged (its NDJSON serializer only encodes lists).
        operations = cast(Any, body)
        timeout = self._shard_timeout
        response = await self._call(
            "bulk", lambda: self._client.bulk(operations=operations, filter_path=FILTER_PATH, timeout=timeout)
        )
        return dict(response.body)


class OpenSearchClient(_Wrapper):
    """``opensearch-py``'s async client (OpenSearch 2)."""

    def __init__(self, config: ElasticsearchSinkConfig) -> None:
        import opensearchpy

        self._lib = opensearchpy
        self._shard_timeout = shard_timeout(config)
        self._request_timeout = config.request_timeout
        self._client = opensearchpy.AsyncOpenSearch(
            list(config.hosts), timeout=config.request_timeout, **common_options(config)
        )

    def _convert(self, what: str, exc: Exception) -> SinkError | None:
        lib = self._lib
        if isinstance(exc, lib.ConnectionError):  # also timeouts and TLS errors; status "N/A"
            return RetryableSinkError(f"{what}: {type(exc).__name__}: {exc.error}")
        if isinstance(exc, lib.TransportError):
            status = exc.status_code if isinstance(exc.status_code, int) else 0
            if status == 0:
                return RetryableSinkError(f"{what}: {exc}")
            return classify_status(status, what, error_detail(exc.info, exc.error))
        return None

    async def info(self) -> dict[str, Any]:
        return dict(await self._call("GET /", lambda: self._client.info()))

    async def bulk(self, body: bytes) -> dict[str, Any]:
        params: dict[str, Any] = {"filter_path": FILTER_PATH}
        if self._shard_timeout is not None:
            # opensearch-py takes a ``timeout`` param as its own client timeout unless
            # ``request_timeout`` is given too: then ``timeout`` goes to the node as bulk's parameter.
            params["request_timeout"] = self._request_timeout
            params["timeout"] = self._shard_timeout
        response = await self._call("bulk", lambda: self._client.bulk(body=body, params=params))
        return dict(response)


def make_client(config: ElasticsearchSinkConfig) -> SearchClient:
    """The client for the configured flavour (its library is imported only then)."""
    if config.flavor == "opensearch":
        return OpenSearchClient(config)
    return ElasticsearchClient(config)
