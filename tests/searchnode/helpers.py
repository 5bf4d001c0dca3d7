"""Helpers for tests against the search nodes: node choice, a sink config, LLM-proxy events, cleanup."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from logflume.events import META_KEY, Event
from logflume.sinks.elasticsearch.config import ElasticsearchSinkConfig
from tests.searchnode.api import NodeApi
from tests.searchnode.node import SearchNode

FLAVORS = ["elasticsearch", "opensearch"]


def node_for(request: pytest.FixtureRequest, flavor: str) -> SearchNode:
    """The session's node of ``flavor``, started (again) if a test left it down."""
    node: SearchNode = request.getfixturevalue("es_node" if flavor == "elasticsearch" else "opensearch_node")
    node.start()
    return node


def new_prefix() -> str:
    """A fresh index prefix, so tests sharing a node never see each other's documents."""
    return f"t-{uuid.uuid4().hex[:12]}"


async def drop(node: SearchNode, prefix: str) -> None:
    """Delete a test's indices and template (the session's node is shared with other tests).

    Data streams stay: the Elasticsearch integ-test distribution lacks the module that deletes them.
    """
    if not node.running:
        return
    async with NodeApi.of(node) as api:
        await api.request("DELETE", f"/_data_stream/{prefix}*", ok=(400, 404, 405))
        indices = await api.get(f"/_cat/indices/{prefix}*?format=json&h=index", ok=(404,))
        for row in indices if isinstance(indices, list) else []:
            if not row["index"].startswith(".ds-"):  # a data stream's write index cannot be deleted
                await api.delete(f"/{row['index']}")
        # 400 while a data stream that could not be deleted still uses it.
        await api.request("DELETE", f"/_index_template/{prefix}", ok=(400, 404))


def sink_config(node: SearchNode, prefix: str, **fields: Any) -> ElasticsearchSinkConfig:
    """A sink writing ``<prefix>-YYYY-MM-DD`` indices with a template named ``prefix``."""
    template = {"name": prefix, "replicas": 0, **fields.pop("template", {})}
    data: dict[str, Any] = {
        "name": "search",
        "type": "elasticsearch",
        "flavor": node.flavor.name,
        "hosts": [node.url],
        "index": f"{prefix}-%Y-%m-%d",
        "template": template,
        "request_timeout": "20s",
        "retry": {"initial_backoff": "50ms", "max_backoff": "1s"},
        **fields,
    }
    return ElasticsearchSinkConfig.model_validate(data)


def make_events(tag: str, count: int, *, days: int = 1, **fields: Any) -> list[Event]:
    """LLM-proxy-like events with ids ``<tag>-<n>``, spread over ``days`` days of January 2026."""
    return [
        {
            "timestamp": f"2026-01-{15 + n % days:02d}T10:30:15.123Z",
            "level": "INFO",
            "logger": "llm_proxy.api",
            "message": f"Chat completion request {n} processed",
            "request_id": f"req_{n}",
            "provider": "openai",
            "model": "gpt-4",
            "tokens": 150 + n,
            "response_time_ms": 245.67,
            "status_code": 200,
            "ip_address": "192.168.1.100",
            META_KEY: {
                "event_id": f"{tag}-{n}",
                "source": "proxy",
                "file": "/var/log/proxy/app.log",
                "offset": n * 200,
                "ingested_at": "2026-01-20T00:00:00.000Z",
            },
            **fields,
        }
        for n in range(count)
    ]

