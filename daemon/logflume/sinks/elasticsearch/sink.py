"""The Elasticsearch / OpenSearch sink: ``_bulk`` writes, classified per item.

Built once from its config; ``open`` checks the cluster answers (and is the configured flavour),
``prepare`` installs the index template; ``write`` sends one ``_bulk`` request per batch and reports
which items to retry and which the cluster refused (see :mod:`.bulk`). Retries, backoff, deferring
while the cluster is down and dead letters are the runner's.

A template only applies when an index is created, and nothing in a ``_bulk`` answer tells that
it was missing: so before the first write to an index name not written since the template was
installed (tomorrow's daily index), the template is installed again. One deleted in the cluster
is back before the next index needs it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from logflume import lines
from logflume.errors import FatalSinkError
from logflume.events import Event
from logflume.lines import Lines
from logflume.sinks.base import LinesResult, WriteResult
from logflume.sinks.elasticsearch.bulk import BulkEncoder, classify, classify_lines
from logflume.sinks.elasticsearch.clients import SearchClient, make_client
from logflume.sinks.elasticsearch.config import ElasticsearchSinkConfig
from logflume.sinks.elasticsearch.naming import IndexNamer
from logflume.sinks.elasticsearch.template import index_template
from logflume.sinks.registry import SinkContext

log = logging.getLogger("logflume.sinks.elasticsearch")


class ElasticsearchSink:
    """Writes events to an Elasticsearch 8/9 or OpenSearch 2 cluster."""

    def __init__(
        self,
        config: ElasticsearchSinkConfig,
        context: SinkContext | None = None,
        *,
        client: SearchClient | None = None,
    ) -> None:
        self.name = config.name
        self.config = config
        self._client = client
        self._encoder = BulkEncoder(IndexNamer(config.index))
        # The blocks' encoding this sink takes as it is (made in the workers, see write_lines).
        self.encoding = self._encoder.key
        # Index names written since the template was last installed; None: just installed, so
        # the names of the next write are covered too.
        self._templated: set[str] | None = None

    def _connect(self) -> SearchClient:
        if self._client is None:
            self._client = make_client(self.config)
        return self._client

    async def _probe(self) -> str:
        """Ask the cluster who it is; refuse a cluster of the other flavour."""
        info = await self._connect().info()
        version = info.get("version") or {}
        distribution = version.get("distribution", "elasticsearch")
        if distribution != self.config.flavor:
            raise FatalSinkError(
                f"the server is {distribution}, but the sink has flavor: {self.config.flavor}"
            )
        return f"{distribution} {version.get('number', '?')} cluster {info.get('cluster_name', '?')!r}"

    async def open(self) -> None:
        """Connect and check the cluster answers and is the configured flavour."""
        description = await self._probe()
        log.info(
            "Search sink connected",
            extra={"sink": self.name, "cluster": description, "index": self.config.index},
        )

    async def prepare(self) -> None:
        """Install the index template (unless ``template.install`` is false)."""
        if not self.config.template.install:
            return
        template = self.config.template
        body = index_template(
            self.config.template_pattern(),
            priority=template.priority,
            data_stream=self.config.data_stream,
            shards=template.shards,
            replicas=template.replicas,
        )
        await self._connect().put_index_template(self.config.template_name(), body)
        self._templated = None

    async def write(self, events: list[Event]) -> WriteResult:
        request = self._encoder.encode(events, datetime.now(UTC))
        if not request.events:
            return WriteResult(rejected=request.unencodable)
        if self.config.template.install:
            await self._cover(request.indices)
        response = await self._connect().bulk(request.body)
        return classify(response, request)

    async def write_lines(self, blocks: list[Lines]) -> LinesResult:
        """Write blocks whose ``_bulk`` items were made where they were encoded (a worker): the
        body is those items joined. Blocks without them (read back from the disk buffer, encoded
        before a reload changed the index) are decoded and encoded here."""
        key = self.encoding
        parts = [block.encoded.get(key) if block.encoded else None for block in blocks]
        if not all(parts):
            result = await self.write(lines.decode(blocks))
            return LinesResult(lines.encode(result.retry), result.rejected)
        encoded = [part for part in parts if part is not None]
        if self.config.template.install:
            await self._cover(set().union(*(part.names for part in encoded)))
        response = await self._connect().bulk(b"".join(part.data for part in encoded))
        return classify_lines(response, blocks)

    async def _cover(self, indices: set[str]) -> None:
        """Install the template again before writing to an index name new since it was installed."""
        if self._templated is None:
            self._templated = set(indices)
            return
        fresh = indices - self._templated
        if not fresh:
            return
        if len(self._templated) > 4096:
            self._templated.clear()  # hourly indices for years: keep it small
        await self.prepare()
        self._templated = set(indices)
        log.debug("Index template installed again", extra={"sink": self.name, "indices": sorted(fresh)})

    async def sync(self) -> None:
        """Nothing to do: a bulk item answered 2xx is in the node's translog (fsync'd per request)."""

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()

    async def check(self) -> str:
        description = await self._probe()
        hosts = ", ".join(self.config.hosts)
        return f"{self.name}: {description} at {hosts} answers; index {self.config.index}"
