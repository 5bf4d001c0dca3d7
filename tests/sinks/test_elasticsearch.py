"""The Elasticsearch / OpenSearch sink against real nodes of both flavours (session fixtures)."""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest

from logflume import lines
from logflume.errors import FatalSinkError, RetryableSinkError
from logflume.events import META_KEY, DeadLetter, Event
from logflume.lines import Encoded, Lines
from logflume.sinks.elasticsearch.sink import ElasticsearchSink
from logflume.sinks.runner import SinkRunner
from tests.fixtures.common import free_port
from tests.searchnode.api import NodeApi
from tests.searchnode.helpers import FLAVORS, drop, make_events, new_prefix, node_for, sink_config
from tests.searchnode.node import SearchNode
from tests.sinks import encoded
from tests.sinks.ready import ready

# An index whose mapping refuses text in ``strict_code`` (created before the sink writes to it).
STRICT_INDEX = {
    "mappings": {"properties": {"strict_code": {"type": "integer"}}},
    "settings": {"number_of_replicas": 0},
}


@pytest.fixture(params=FLAVORS)
def node(request: pytest.FixtureRequest) -> SearchNode:
    return node_for(request, request.param)


@pytest.fixture
async def prefix(node: SearchNode) -> AsyncIterator[str]:
    name = new_prefix()
    yield name
    await drop(node, name)


def worker_blocks(sink: ElasticsearchSink, events: list[Event], size: int = 300) -> list[Lines]:
    """``events`` as a worker process hands them over: blocks of lines, each with the sink's bulk
    items made beside them (and another sink's encoding, which this sink must ignore)."""
    blocks = encoded.worker_blocks(sink.encoding, events, size)
    for block in blocks:
        assert block.encoded is not None
        block.encoded["other-sink"] = Encoded(b"x" * len(block), array("q", range(1, len(block) + 1)))
    return blocks


async def run_through_runner(
    sink: ElasticsearchSink, events: list[Event], encoded: bool = False
) -> list[DeadLetter]:
    """Write ``events`` through a SinkRunner (memory buffer) and return what it dead-lettered;
    ``encoded``: as blocks with the bulk items made in a worker, else as events (which the
    runner encodes as lines, and the sink decodes and encodes itself)."""
    dead: list[DeadLetter] = []
    runner = SinkRunner(sink, sink.config, dead.extend, state_dir=None)
    await runner.start()
    if encoded:
        for block in worker_blocks(sink, events):
            await runner.put([block], [])
    else:
        for start in range(0, len(events), 300):
            await runner.put(events[start : start + 300], [])
    await runner.stop()
    return dead


# Both ways events reach the sink: bulk items made in a worker, or encoded by the sink itself.
ENCODED = pytest.mark.parametrize("encoded", [False, True], ids=["sink-encoded", "worker-encoded"])


class TestDelivery:
    @ENCODED
    async def test_each_event_is_stored_once_even_when_replayed(
        self, node: SearchNode, prefix: str, encoded: bool
    ) -> None:
        """2,000 events over two days land in two daily indices, one document per event_id; sending
        the very same events again (a replay after a crash, encoded the other way) leaves every
        event_id exactly once."""
        events = make_events("once", 2000, days=2)
        config = sink_config(node, prefix, batch={"max_events": 500})

        first_dead = await run_through_runner(ElasticsearchSink(config), events, encoded)
        replay_dead = await run_through_runner(ElasticsearchSink(config), events, not encoded)

        async with NodeApi.of(node) as api:
            counts = await api.event_id_counts(f"{prefix}-*")
            indices = await api.get(f"/_cat/indices/{prefix}-*?format=json&h=index,docs.count")
        assert (first_dead, replay_dead) == ([], [])
        assert Counter({f"once-{n}": 1 for n in range(2000)}) == counts
        assert {f"{prefix}-2026-01-15": "1000", f"{prefix}-2026-01-16": "1000"} == {
            row["index"]: row["docs.count"] for row in indices
        }

    async def test_documents_get_timestamp_and_event_id_without_touching_the_event(
        self, node: SearchNode, prefix: str
    ) -> None:
        """The document's _id is the event_id and @timestamp is copied from timestamp; the event
        handed to the sink (shared with other sinks) is left as it was."""
        events = make_events("doc", 1)
        before = {**events[0], META_KEY: dict(events[0][META_KEY])}
        sink = ElasticsearchSink(sink_config(node, prefix))
        await ready(sink)
        try:
            result = await sink.write(events)
        finally:
            await sink.close()

        async with NodeApi.of(node) as api:
            hits = await api.documents(f"{prefix}-*")
        assert (result.retry, result.rejected) == ([], [])
        assert before == events[0]
        assert [("doc-0", f"{prefix}-2026-01-15")] == [(hit["_id"], hit["_index"]) for hit in hits]
        assert hits[0]["_source"]["@timestamp"] == "2026-01-15T10:30:15.123Z"
        assert hits[0]["_source"][META_KEY]["event_id"] == "doc-0"

    async def test_check_names_the_cluster(self, node: SearchNode, prefix: str) -> None:
        """check() probes the cluster and describes flavour, version and address in one line."""
        sink = ElasticsearchSink(sink_config(node, prefix))
        try:
            description = await sink.check()
        finally:
            await sink.close()
        assert description.startswith(f"search: {node.flavor.name} ")
        assert node.url in description
        assert "\n" not in description


class TestItemOutcomes:
    @ENCODED
    async def test_refused_items_are_dead_lettered_with_the_nodes_reason(
        self, node: SearchNode, prefix: str, encoded: bool
    ) -> None:
        """An index mapping ``strict_code`` as integer refuses events carrying text there: through a
        SinkRunner exactly those are dead-lettered, as they were (no @timestamp the document got),
        with the node's parse error as the reason, and all the others are indexed."""
        sink = ElasticsearchSink(sink_config(node, prefix))
        await ready(sink)  # the template first, as in production; the runner opens again
        async with NodeApi.of(node) as api:
            await api.put(f"/{prefix}-2026-01-15", STRICT_INDEX)
        events = make_events("strict", 300)
        for n, event in enumerate(events):
            event["strict_code"] = "not-a-number" if n % 10 == 0 else n

        dead = await run_through_runner(sink, events, encoded)

        async with NodeApi.of(node) as api:
            counts = await api.event_id_counts(f"{prefix}-*")
        refused = {f"strict-{n}" for n in range(0, 300, 10)}
        assert refused == {orjson.loads(letter.raw)[META_KEY]["event_id"] for letter in dead}
        by_id = {event[META_KEY]["event_id"]: event for event in events}
        assert all(orjson.loads(d.raw) == by_id[orjson.loads(d.raw)[META_KEY]["event_id"]] for d in dead)
        assert Counter({f"strict-{n}": 1 for n in range(300) if f"strict-{n}" not in refused}) == counts
        for letter in dead:
            assert letter.reason.startswith("sink search: 400 ")
            assert "[strict_code]" in letter.reason
            assert (letter.file, letter.source) == ("/var/log/proxy/app.log", "proxy")

    async def test_write_reports_refused_items_directly(self, node: SearchNode, prefix: str) -> None:
        """Called directly, write() returns refused items in ``rejected`` (nothing to retry) and the
        rest are stored."""
        events = make_events("direct", 4)
        events[1]["strict_code"] = "abc"
        sink = ElasticsearchSink(sink_config(node, prefix))
        await ready(sink)
        try:
            async with NodeApi.of(node) as api:
                await api.put(f"/{prefix}-2026-01-15", STRICT_INDEX)
            result = await sink.write(events)
        finally:
            await sink.close()
        async with NodeApi.of(node) as api:
            counts = await api.event_id_counts(f"{prefix}-*")

        assert result.retry == []
        assert [events[1]] == [event for event, _ in result.rejected]
        assert Counter({"direct-0": 1, "direct-2": 1, "direct-3": 1}) == counts


    async def test_items_for_an_unavailable_shard_are_retried(self, node: SearchNode, prefix: str) -> None:
        """Events for an index whose primary shard cannot be allocated come back 503 after
        shard_timeout: write() hands exactly those back for retry and stores the rest; once the
        shard is allocated, writing the retry list stores them, every event once."""
        events = make_events("shard", 20, days=2)
        first, second, counts = await stuck_shard_round(node, prefix, events, ElasticsearchSink.write)

        assert [event for event in events if event["timestamp"].startswith("2026-01-16")] == first.retry
        assert (first.rejected, second.retry, second.rejected) == ([], [], [])
        assert Counter({f"shard-{n}": 1 for n in range(20)}) == counts

    async def test_worker_encoded_items_for_an_unavailable_shard_are_retried_with_their_items(
        self, node: SearchNode, prefix: str
    ) -> None:
        """As above, for blocks whose bulk items were made in a worker: write_lines hands back the
        parts of the blocks for the stuck index, their items still with them; writing those once
        the shard is allocated stores every event once."""
        events = make_events("wshard", 20, days=2)
        encoding = ElasticsearchSink(sink_config(node, prefix)).encoding
        blocks = encoded.worker_blocks(encoding, events, size=8)
        first, second, counts = await stuck_shard_round(node, prefix, blocks, ElasticsearchSink.write_lines)

        assert [e for e in events if e["timestamp"].startswith("2026-01-16")] == lines.decode(first.retry)
        assert all(block.encoded is not None and encoding in block.encoded for block in first.retry)
        assert (first.rejected, second.retry, second.rejected) == ([], [], [])
        assert Counter({f"wshard-{n}": 1 for n in range(20)}) == counts


async def stuck_shard_round(
    node: SearchNode,
    prefix: str,
    batch: Any,
    write: Callable[[ElasticsearchSink, Any], Awaitable[Any]],
) -> tuple[Any, Any, Counter[str]]:
    """``write`` ``batch`` (events or blocks over two days) while the second day's index cannot
    allocate its shard, then allocate it and write what the first write handed back for retry;
    the two results and the documents stored per event_id."""
    stuck = f"{prefix}-2026-01-16"
    unallocatable = {"number_of_replicas": 0, "routing.allocation.require._name": "nowhere"}
    sink = ElasticsearchSink(sink_config(node, prefix, shard_timeout="1s"))
    await ready(sink)
    try:
        async with NodeApi.of(node) as api:
            await api.put(f"/{stuck}?wait_for_active_shards=0", {"settings": {"index": unallocatable}})
        first = await write(sink, batch)
        async with NodeApi.of(node) as api:
            await api.put(f"/{stuck}/_settings", {"index.routing.allocation.require._name": None})
            await api.get(f"/_cluster/health/{stuck}?wait_for_status=green&timeout=60s")
        second = await write(sink, first.retry)
    finally:
        await sink.close()
    async with NodeApi.of(node) as api:
        counts = await api.event_id_counts(f"{prefix}-*")
    return first, second, counts


class TestTemplate:
    async def test_template_declares_the_mapping_types(self, node: SearchNode, prefix: str) -> None:
        """prepare() installs the index template; the installed template and an index created from it
        map ids and enumerations as keyword, measurements as numbers, times as date, the client
        address as ip."""
        expected = {
            "request_id": "keyword", "user_id": "keyword", "trace_id": "keyword", "level": "keyword",
            "provider": "keyword", "model": "keyword", "logger": "keyword",
            "response_time_ms": "double", "tokens": "long", "cost_usd": "double", "status_code": "integer",
            "@timestamp": "date", "ip_address": "ip", "message": "text",
        }
        sink = ElasticsearchSink(sink_config(node, prefix))
        await ready(sink)
        try:
            await sink.write(make_events("tpl", 1))
        finally:
            await sink.close()

        async with NodeApi.of(node) as api:
            templates = await api.get(f"/_index_template/{prefix}")
            mapping = await api.get(f"/{prefix}-2026-01-15/_mapping")
        template = templates["index_templates"][0]["index_template"]
        declared = template["template"]["mappings"]["properties"]
        stored = mapping[f"{prefix}-2026-01-15"]["mappings"]["properties"]
        assert [f"{prefix}-*"] == template["index_patterns"]
        assert expected == {name: declared[name]["type"] for name in expected}
        assert expected == {name: stored[name]["type"] for name in expected}
        assert stored[META_KEY]["properties"]["event_id"]["type"] == "keyword"

    async def test_a_deleted_template_is_back_before_the_next_index(
        self, node: SearchNode, prefix: str
    ) -> None:
        """The template is deleted in the cluster while the sink runs: before its first write to a
        new daily index the sink installs it again, so that index still gets the typed mapping
        (status_code integer, not the dynamic long) and the template exists again."""
        events = make_events("tpl", 2, days=2)
        sink = ElasticsearchSink(sink_config(node, prefix))
        await ready(sink)
        try:
            await sink.write(events[:1])  # 2026-01-15
            async with NodeApi.of(node) as api:
                await api.delete(f"/_index_template/{prefix}")
            await sink.write(events[1:])  # 2026-01-16: a new index
        finally:
            await sink.close()

        async with NodeApi.of(node) as api:
            templates = await api.get(f"/_index_template/{prefix}")
            mapping = await api.get(f"/{prefix}-2026-01-16/_mapping")
        stored = mapping[f"{prefix}-2026-01-16"]["mappings"]["properties"]
        assert ([prefix], "integer") == (
            [entry["name"] for entry in templates["index_templates"]],
            stored["status_code"]["type"],
        )

    async def test_a_malformed_address_or_number_keeps_the_event(self, node: SearchNode, prefix: str) -> None:
        """ip_address is indexed as ip only when valid and a number field tolerates text: the event
        is still stored (the bad value stays in _source, listed in _ignored), not refused."""
        events = make_events("ip", 2)
        events[1]["ip_address"] = "not-an-ip"
        events[1]["status_code"] = "N/A"
        sink = ElasticsearchSink(sink_config(node, prefix))
        await ready(sink)
        try:
            result = await sink.write(events)
        finally:
            await sink.close()

        async with NodeApi.of(node) as api:
            await api.refresh(f"{prefix}-*")
            query = {"query": {"term": {"ip_address": "192.168.0.0/16"}}}
            found = await api.post(f"/{prefix}-*/_search", query)
            hits = {hit["_id"]: hit for hit in await api.documents(f"{prefix}-*")}
        assert result.rejected == []
        assert [hit["_id"] for hit in found["hits"]["hits"]] == ["ip-0"]
        assert {"ip_address", "status_code"} == set(hits["ip-1"]["_ignored"])
        assert hits["ip-1"]["_source"]["ip_address"] == "not-an-ip"

    async def test_a_conflicting_template_is_a_fatal_error(self, node: SearchNode, prefix: str) -> None:
        """A template of the same priority already covering the pattern makes the node answer 400:
        prepare() raises FatalSinkError (retrying cannot help) naming the template."""
        async with NodeApi.of(node) as api:
            await api.put(f"/_index_template/{prefix}-other",
                          {"index_patterns": [f"{prefix}-2026*"], "priority": 200})
        sink = ElasticsearchSink(sink_config(node, prefix))
        try:
            with pytest.raises(FatalSinkError, match=f"index template {prefix}: HTTP 400"):
                await ready(sink)
        finally:
            await sink.close()
            async with NodeApi.of(node) as api:
                await api.delete(f"/_index_template/{prefix}-other")


class TestDataStream:
    async def test_data_stream_keeps_each_event_once(self, node: SearchNode, prefix: str) -> None:
        """With data_stream: true the template declares a data stream, documents go to its backing
        index, and a replay of the same events leaves each once (create + event_id)."""
        sink = ElasticsearchSink(sink_config(node, prefix, index=f"{prefix}-stream", data_stream=True))
        events = make_events("ds", 50)
        await ready(sink)
        try:
            first = await sink.write(events)
            second = await sink.write(events)
        finally:
            await sink.close()

        async with NodeApi.of(node) as api:
            counts = await api.event_id_counts(f"{prefix}-stream")
            hits = await api.documents(f"{prefix}-stream", size=1)
        assert (first.retry, first.rejected, second.retry, second.rejected) == ([], [], [], [])
        assert Counter({f"ds-{n}": 1 for n in range(50)}) == counts
        assert hits[0]["_index"].startswith(f".ds-{prefix}-stream-")


class TestFailures:
    async def test_an_unreachable_node_is_a_retryable_error(self, node: SearchNode, prefix: str) -> None:
        """Nothing listens at the configured address: open() and write() raise RetryableSinkError,
        so the runner backs off and tries again rather than dropping events."""
        config = sink_config(node, prefix, hosts=[f"http://127.0.0.1:{free_port()}"], request_timeout="5s")
        sink = ElasticsearchSink(config)
        try:
            with pytest.raises(RetryableSinkError, match="GET /"):
                await ready(sink)
            with pytest.raises(RetryableSinkError, match="bulk"):
                await sink.write(make_events("down", 3))
        finally:
            await sink.close()

    async def test_the_other_flavour_is_refused(self, node: SearchNode, prefix: str) -> None:
        """A sink configured for the other flavour refuses the cluster with a FatalSinkError that
        says which flavour it found."""
        other = "opensearch" if node.flavor.name == "elasticsearch" else "elasticsearch"
        sink = ElasticsearchSink(sink_config(node, prefix, flavor=other))
        try:
            with pytest.raises(FatalSinkError, match=node.flavor.name):
                await ready(sink)
        finally:
            await sink.close()
