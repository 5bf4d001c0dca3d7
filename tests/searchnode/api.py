"""A small HTTP helper for tests to look at what a search node holds, independent of the sink's clients.

Counting "each event exactly once" uses a composite aggregation over ``logflume.event_id`` (mapped
``keyword`` by the sink's template), paged, so it works for any number of events.
"""

from __future__ import annotations

import base64
import ssl
from collections import Counter
from types import TracebackType
from typing import TYPE_CHECKING, Any

import aiohttp

if TYPE_CHECKING:
    from tests.searchnode.node import SearchNode


class NodeApiError(AssertionError):
    """The node answered a test's own request with an error."""


class NodeApi:
    """``async with NodeApi(url) as api: await api.get("/_cat/indices")``."""

    def __init__(
        self, url: str, auth: tuple[str, str] | None = None, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self.url = url.rstrip("/")
        self._headers = {}
        if auth is not None:
            self._headers["Authorization"] = "Basic " + base64.b64encode(":".join(auth).encode()).decode()
        self._ssl = ssl_context
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def of(cls, node: SearchNode) -> NodeApi:
        """A helper for ``node``, logged in as its admin user and trusting its CA where it has them."""
        return cls(node.url, node.auth, node.ssl_context())

    async def __aenter__(self) -> NodeApi:
        connector = aiohttp.TCPConnector(ssl=self._ssl) if self._ssl is not None else None
        self._session = aiohttp.ClientSession(
            headers=self._headers, timeout=aiohttp.ClientTimeout(total=120), connector=connector
        )
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()

    async def request(self, method: str, path: str, body: Any = None, *, ok: tuple[int, ...] = ()) -> Any:
        """JSON in, JSON out; raises NodeApiError on a status >= 400 not listed in ``ok``."""
        assert self._session is not None, "use NodeApi as an async context manager"
        async with self._session.request(method, self.url + path, json=body) as response:
            data = await response.json(content_type=None)
            if response.status >= 400 and response.status not in ok:
                raise NodeApiError(f"{method} {path}: HTTP {response.status}: {data}")
            return data

    async def get(self, path: str, *, ok: tuple[int, ...] = ()) -> Any:
        return await self.request("GET", path, ok=ok)

    async def put(self, path: str, body: Any) -> Any:
        return await self.request("PUT", path, body)

    async def post(self, path: str, body: Any = None) -> Any:
        return await self.request("POST", path, body)

    async def delete(self, path: str) -> Any:
        return await self.request("DELETE", path, ok=(404,))

    async def refresh(self, pattern: str) -> None:
        """Make everything written so far searchable (tests only; the sink never refreshes)."""
        await self.post(f"/{pattern}/_refresh?expand_wildcards=all&ignore_unavailable=true")

    async def count(self, pattern: str) -> int:
        await self.refresh(pattern)
        return int((await self.get(f"/{pattern}/_count?expand_wildcards=all"))["count"])

    async def event_id_counts(self, pattern: str) -> Counter[str]:
        """How many documents each ``logflume.event_id`` has across the indices of ``pattern``."""
        await self.refresh(pattern)
        counts: Counter[str] = Counter()
        after: dict[str, Any] | None = None
        while True:
            composite: dict[str, Any] = {
                "size": 10_000,
                "sources": [{"id": {"terms": {"field": "logflume.event_id"}}}],
            }
            if after is not None:
                composite["after"] = after
            body = {"size": 0, "aggs": {"ids": {"composite": composite}}}
            answer = await self.post(f"/{pattern}/_search?expand_wildcards=all", body)
            buckets = answer["aggregations"]["ids"]["buckets"]
            for bucket in buckets:
                counts[bucket["key"]["id"]] += bucket["doc_count"]
            after = answer["aggregations"]["ids"].get("after_key")
            if not buckets or after is None:
                return counts

    async def documents(self, pattern: str, size: int = 1000) -> list[dict[str, Any]]:
        """Up to ``size`` hits (``_index``, ``_id``, ``_source``, ``_ignored``) of ``pattern``."""
        await self.refresh(pattern)
        answer = await self.post(f"/{pattern}/_search?expand_wildcards=all", {"size": size})
        return list(answer["hits"]["hits"])
