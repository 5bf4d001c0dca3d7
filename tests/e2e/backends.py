"""Sink configs for the real test servers, and counting what each backend holds by event_id."""

from __future__ import annotations

import asyncio
import gzip
import json
import urllib.request
from collections import Counter
from dataclasses import dataclass
from typing import Any

import asyncpg
import boto3
import orjson

from tests.fixtures.postgres import PostgresServer
from tests.fixtures.seaweedfs import ADMIN, SeaweedServer
from tests.searchnode.node import SearchNode


@dataclass
class SearchBackend:
    node: SearchNode
    flavor: str
    index_prefix: str

    def sink(self) -> dict[str, Any]:
        return {
            "name": self.flavor,
            "type": "elasticsearch",
            "flavor": self.flavor,
            "hosts": [self.node.url],
            "index": f"{self.index_prefix}-%Y-%m-%d",
            "retry": {"initial_backoff": "200ms", "max_backoff": "2s"},
            "template": {"install": True, "name": self.index_prefix, "pattern": f"{self.index_prefix}-*"},
        }

    def _get(self, path: str, method: str = "GET") -> Any:
        request = urllib.request.Request(self.node.url + path, method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def count(self) -> int:
        """Documents in the indices (one per event: the event id is the document id)."""
        self._get(f"/{self.index_prefix}-*/_refresh", "POST")
        return int(self._get(f"/{self.index_prefix}-*/_count")["count"])

    def counts(self) -> Counter[str]:
        """event_id -> number of documents (ids are _ids, so a doubled event is impossible here;
        the count of documents must still equal the number of distinct event ids)."""
        try:
            self._get(f"/{self.index_prefix}-*/_refresh", "POST")
        except OSError:
            return Counter()
        ids: Counter[str] = Counter()
        body = json.dumps({"size": 10_000, "_source": False, "sort": ["_doc"]}).encode()
        request = urllib.request.Request(
            f"{self.node.url}/{self.index_prefix}-*/_search?scroll=1m",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            page = json.loads(response.read())
        while page["hits"]["hits"]:
            ids.update(hit["_id"] for hit in page["hits"]["hits"])
            scroll = json.dumps({"scroll": "1m", "scroll_id": page["_scroll_id"]}).encode()
            request = urllib.request.Request(
                f"{self.node.url}/_search/scroll", data=scroll, headers={"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(request, timeout=60) as response:
                page = json.loads(response.read())
        return ids


@dataclass
class S3Backend:
    server: SeaweedServer
    bucket: str

    def sink(self) -> dict[str, Any]:
        return {
            "name": "s3",
            "type": "s3",
            "bucket": self.bucket,
            "endpoint_url": self.server.endpoint,
            "access_key_id": ADMIN[0],
            "secret_access_key": ADMIN[1],
            "region": "us-east-1",
            "force_path_style": True,
            "create_bucket": True,
            "batch": {"max_events": 5_000, "timeout": "2s"},
            "buffer": {"max_events": 10_000},
            "retry": {"initial_backoff": "200ms", "max_backoff": "2s"},
        }

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.server.endpoint,
            aws_access_key_id=ADMIN[0],
            aws_secret_access_key=ADMIN[1],
            region_name="us-east-1",
        )

    def events(self) -> list[dict[str, Any]]:
        client = self.client()
        out: list[dict[str, Any]] = []
        try:
            pages = client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
            for page in pages:
                for item in page.get("Contents", []):
                    body = client.get_object(Bucket=self.bucket, Key=item["Key"])["Body"].read()
                    out.extend(orjson.loads(line) for line in gzip.decompress(body).splitlines() if line)
        except client.exceptions.NoSuchBucket:
            return []
        return out

    def counts(self) -> Counter[str]:
        return Counter(e["logflume"]["event_id"] for e in self.events() if "request_id" in e)


@dataclass
class PostgresBackend:
    server: PostgresServer
    table: str

    def sink(self) -> dict[str, Any]:
        return {
            "name": "postgres",
            "type": "postgres",
            "dsn": self.server.dsn,
            "table": self.table,
            "retry": {"initial_backoff": "200ms", "max_backoff": "2s"},
        }

    def counts(self) -> Counter[str]:
        async def query() -> list[Any]:
            conn = await asyncpg.connect(self.server.dsn)
            try:
                exists = await conn.fetchval("select to_regclass($1)", self.table)
                if exists is None:
                    return []
                return list(
                    await conn.fetch(f"select event_id, count(*) as n from {self.table} group by event_id")
                )
            finally:
                await conn.close()

        try:
            rows = asyncio.run(query())
        except (OSError, asyncpg.PostgresError):
            return Counter()
        return Counter({row["event_id"]: row["n"] for row in rows})
