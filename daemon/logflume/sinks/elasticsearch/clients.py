"""The narrow client interface the sink uses, over the official client of each flavour.

``elasticsearch``: the official ``elasticsearch`` async client (8.x; it checks the
``X-Elastic-Product`` header, so it cannot talk to OpenSearch). ``opensearch``: ``opensearch-py``'s
async client. Both send the ready-made ``_bulk`` body as it is. Library errors are converted here,
at the boundary, into the sink error tree:

* no answer (connection refused or reset, timeout, TLS failure), 429 or 5xx: RetryableSinkError;
* any other 4xx (401/403 auth, 400 bad request, 404 …): FatalSinkError.

The clients' own retries are off: the runner owns backoff and attempt limits.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar, cast

from logflume.errors import FatalSinkError, RetryableSinkError
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


def classify_status(status: int, what: str, detail: str) -> RetryableSinkError | FatalSinkError:
    """The sink error for a whole request answered with an HTTP error ``status``."""
    message = f"{what}: HTTP {status}: {detail}"
    if status == 429 or status >= 500:
        return RetryableSinkError(message)
    return FatalSinkError(message)


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


class ElasticsearchClient:
    """The official ``elasticsearch`` async client (Elasticsearch 8 and 9)."""

    def __init__(self, config: ElasticsearchSinkConfig) -> None:
        import elasticsearch

        self._lib = elasticsearch
        options: dict[str, Any] = {
            "request_timeout": config.request_timeout,
            "max_retries": 0,
            "retry_on_timeout": False,
            "http_compress": config.compression,
        }
        if config.username is not None and config.password is not None:
            options["basic_auth"] = (config.username, config.password.get_secret_value())
        elif config.api_key is not None:
            options["api_key"] = _api_key(config.api_key.get_secret_value())
        elif config.bearer_token is not None:
            options["bearer_auth"] = config.bearer_token.get_secret_value()
        if any(host.startswith("https:") for host in config.hosts):
            options["verify_certs"] = config.tls.verify
            options["ssl_show_warn"] = config.tls.verify
            if config.tls.ca_file is not None:
                options["ca_certs"] = config.tls.ca_file
        self._shard_timeout = shard_timeout(config)
        self._client = elasticsearch.AsyncElasticsearch(list(config.hosts), **options)

    async def _call(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        lib = self._lib
        try:
            return await call()
        except lib.UnsupportedProductError as exc:
            raise FatalSinkError(
                f"{what}: the server is not Elasticsearch (for OpenSearch set flavor: opensearch)"
            ) from exc
        except lib.ApiError as exc:
            raise classify_status(exc.meta.status, what, _es_detail(exc)) from exc
        except lib.TransportError as exc:
            raise RetryableSinkError(f"{what}: {type(exc).__name__}: {exc.message}") from exc

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

    async def put_index_template(self, name: str, body: dict[str, Any]) -> None:
        await self._call(
            f"index template {name}", lambda: self._client.indices.put_index_template(name=name, body=body)
        )

    async def close(self) -> None:
        await self._client.close()


def _es_detail(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        return f"{error.get('type', 'error')}: {error.get('reason', '')}"
    return str(getattr(exc, "message", exc))


class OpenSearchClient:
    """``opensearch-py``'s async client (OpenSearch 2)."""

    def __init__(self, config: ElasticsearchSinkConfig) -> None:
        import opensearchpy

        self._lib = opensearchpy
        headers: dict[str, str] = {}
        options: dict[str, Any] = {
            "timeout": config.request_timeout,
            "max_retries": 0,
            "retry_on_timeout": False,
            "http_compress": config.compression,
        }
        if config.username is not None and config.password is not None:
            options["http_auth"] = (config.username, config.password.get_secret_value())
        elif config.api_key is not None:
            headers["authorization"] = "ApiKey " + _api_key(config.api_key.get_secret_value())
        elif config.bearer_token is not None:
            headers["authorization"] = "Bearer " + config.bearer_token.get_secret_value()
        if headers:
            options["headers"] = headers
        if any(host.startswith("https:") for host in config.hosts):
            options["verify_certs"] = config.tls.verify
            options["ssl_show_warn"] = config.tls.verify
            if config.tls.ca_file is not None:
                options["ca_certs"] = config.tls.ca_file
        self._shard_timeout = shard_timeout(config)
        self._request_timeout = config.request_timeout
        self._client = opensearchpy.AsyncOpenSearch(list(config.hosts), **options)

    async def _call(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        lib = self._lib
        try:
            return await call()
        except lib.ConnectionError as exc:  # also timeouts and TLS errors; status "N/A"
            raise RetryableSinkError(f"{what}: {type(exc).__name__}: {exc.error}") from exc
        except lib.TransportError as exc:
            status = exc.status_code if isinstance(exc.status_code, int) else 0
            if status == 0:
                raise RetryableSinkError(f"{what}: {exc}") from exc
            raise classify_status(status, what, _os_detail(exc)) from exc

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

    async def put_index_template(self, name: str, body: dict[str, Any]) -> None:
        await self._call(
            f"index template {name}", lambda: self._client.indices.put_index_template(name=name, body=body)
        )

    async def close(self) -> None:
        await self._client.close()


def _os_detail(exc: Any) -> str:
    info = getattr(exc, "info", None)
    if isinstance(info, dict) and isinstance(info.get("error"), dict):
        error = info["error"]
        return f"{error.get('type', 'error')}: {error.get('reason', '')}"
    return str(getattr(exc, "error", exc))


def make_client(config: ElasticsearchSinkConfig) -> SearchClient:
    """The client for the configured flavour (its library is imported only then)."""
    if config.flavor == "opensearch":
        return OpenSearchClient(config)
    return ElasticsearchClient(config)
