"""The corpus every analysis test reads, written once per session in each input shape."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from logflume.sinks.postgres.config import PostgresSinkConfig
from logflume.sinks.postgres.sink import PostgresSink
from logflume.sinks.registry import SinkContext
from logflume.sinks.s3.config import S3SinkConfig
from logflume.sinks.s3.sink import S3Sink
from tests.analysis import corpus
from tests.fixtures.postgres import PostgresServer
from tests.fixtures.seaweedfs import ADMIN, SeaweedServer


@dataclass(frozen=True)
class Corpus:
    records: list[dict[str, Any]]  # everything written, the daemon's own events included
    raw_dir: Path  # the proxy's own log files (no metadata), plain text
    sink_dir: Path  # file-sink output: metadata on every line, rotated files gzip-compressed


@pytest.fixture(scope="session")
def analysis_corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    events = corpus.make_events(12_000)
    root = tmp_path_factory.mktemp("analysis-corpus")
    corpus.write_split(root / "raw", events, 3, "llm_proxy", gzip_all_but_last=False)
    records = corpus.with_metadata(events + corpus.own_events(40))
    corpus.write_split(root / "sink", records, 5, "proxy", gzip_all_but_last=True)
    return Corpus(records, root / "raw", root / "sink")


BUCKET = "analysis-logs"
TABLE = "analysis_events"
BATCH = 2_000


async def _write_all(sink: Any, records: list[dict[str, Any]]) -> None:
    await sink.open()
    await sink.prepare()
    try:
        for start in range(0, len(records), BATCH):
            result = await sink.write(records[start : start + BATCH])
            assert (result.retry, result.rejected) == ([], [])
    finally:
        await sink.close()


@pytest.fixture(scope="session")
def s3_corpus(
    analysis_corpus: Corpus, seaweed_server: SeaweedServer, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """The corpus written to SeaweedFS by the S3 sink; returns the s3:// URL of its prefix."""
    config = S3SinkConfig(
        name="s3",
        type="s3",
        bucket=BUCKET,
        endpoint_url=seaweed_server.endpoint,
        region="us-east-1",
        access_key_id=ADMIN[0],
        secret_access_key=ADMIN[1],
        force_path_style=True,
        create_bucket=True,
    )  # type: ignore[call-arg]
    sink = S3Sink(config, SinkContext(tmp_path_factory.mktemp("s3-state"), "testhost"))
    asyncio.run(_write_all(sink, analysis_corpus.records))
    return f"s3://{BUCKET}/logflume/"


@pytest.fixture(scope="session")
def pg_corpus(
    analysis_corpus: Corpus, postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """The corpus written to PostgreSQL by the PostgreSQL sink; returns the server's URL."""
    config = PostgresSinkConfig(name="pg", type="postgres", dsn=postgres_server.dsn, table=TABLE)  # type: ignore[call-arg]
    sink = PostgresSink(config, SinkContext(tmp_path_factory.mktemp("pg-state"), "testhost"))
    asyncio.run(_write_all(sink, analysis_corpus.records))
    return postgres_server.dsn
