"""Events/s into each backend, beside the file sink, in the same run.

    python bench/sinks.py [--lines 200000]

Starts a real PostgreSQL, SeaweedFS (S3), Elasticsearch and OpenSearch on 127.0.0.1 (the test
suite's server helpers; run ``bash scripts/test.sh`` once, or the installers in scripts/services/,
so their binaries exist), then runs the daemon once per backend on the same corpus with only that
sink, timed until the checkpoint covers the corpus (every event accepted by the backend), then
counts the distinct events the backend holds (a run whose backend lacks any fails). Prints
events/s, the daemon's CPU seconds and the backend server's CPU seconds; the last line is JSON.

The S3 sink runs with its own defaults (what a user gets), except a 0.2 s batch timeout so the
corpus's last partial batch does not wait the default 60 s; ``--s3-set concurrency=1`` (repeatable)
changes any other option.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import psutil
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from tests.e2e.backends import PostgresBackend, S3Backend, SearchBackend  # noqa: E402
from tests.fixtures.postgres import PostgresServer  # noqa: E402
from tests.fixtures.seaweedfs import SeaweedServer  # noqa: E402
from tests.searchnode.node import SearchNode, elasticsearch, opensearch  # noqa: E402

from logflume.sinks.s3.config import S3SinkConfig  # noqa: E402
from throughput import OUT, corpus, daemon  # noqa: E402


def listener_pids(port: int) -> list[int]:
    return sorted(
        {
            c.pid
            for c in psutil.net_connections("tcp")
            if c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN and c.pid
        }
    )


def s3_sink(backend: S3Backend, overrides: list[str]) -> dict[str, Any]:
    """The S3 sink with its default batching and buffer, a short batch timeout, then ``overrides``."""
    sink = backend.sink()
    del sink["buffer"]
    defaults = S3SinkConfig.model_validate({"name": "s3", "type": "s3", "bucket": "defaults"})
    sink["batch"] = {**defaults.batch.model_dump(), "timeout": 0.2}
    for item in overrides:
        key, _, value = item.partition("=")
        sink[key] = yaml.safe_load(value)
    return sink


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument(
        "--only", nargs="*", help="backends to run (file, postgres, s3, elasticsearch, opensearch)"
    )
    parser.add_argument(
        "--s3-set", action="append", default=[], metavar="KEY=VALUE", help="an S3 sink option (YAML value)"
    )
    args = parser.parse_args()
    wanted = set(args.only or ["file", "postgres", "s3", "elasticsearch", "opensearch"])
    path = corpus(args.lines)
    results: dict[str, dict[str, Any]] = {}

    def run(
        name: str, sinks: list[dict[str, Any]] | None, port: int | None, held: Callable[[], int] | None
    ) -> None:
        watch = listener_pids(port) if port else []
        with tempfile.TemporaryDirectory(dir=OUT) as tmp:
            r = daemon(path, Path(tmp), {}, sinks, watch)
            if held is not None:
                r["events"] = held()
            # The checkpoint also moves past dead letters: the backend must hold every event.
            if r["events"] != args.lines:
                dead = Path(tmp) / "state" / "dead-letter.jsonl"
                reasons = dead.read_text().splitlines()[:3] if dead.exists() else []
                raise SystemExit(f"{name}: {r['events']} of {args.lines} events delivered; {reasons}")
        r["events_per_s"] = round(args.lines / r["seconds"])
        r["daemon_cores"] = round(r["cpu_seconds"] / r["seconds"], 2)
        r["backend_cores"] = round(r["backend_cpu_seconds"] / r["seconds"], 2) if watch else None
        results[name] = r
        print(
            f"{name:14s} {r['events_per_s']:>9,} ev/s  daemon {r['daemon_cores']:.2f} cores"
            + (f"  backend {r['backend_cores']:.2f} cores" if watch else "")
            + f"  peak RSS {r['peak_rss_mb']:.0f} MB",
            flush=True,
        )

    if "file" in wanted:
        run("file", None, None, None)
    if "postgres" in wanted:
        with PostgresServer() as pg:
            backend = PostgresBackend(pg, "bench_events")
            run("postgres", [backend.sink()], int(pg.port), lambda: len(backend.counts()))
    if "s3" in wanted:
        with SeaweedServer() as weed:
            s3 = S3Backend(weed, "bench-bucket")
            run(
                "s3",
                [s3_sink(s3, args.s3_set)],
                weed.s3_port,
                lambda: len({e["logflume"]["event_id"] for e in s3.events()}),
            )
    for flavor, factory in (("elasticsearch", elasticsearch), ("opensearch", opensearch)):
        if flavor not in wanted:
            continue
        node = SearchNode(factory())
        node.start()
        try:
            search = SearchBackend(node, flavor, f"bench-{flavor}")
            run(flavor, [search.sink()], node.http_port, search.count)
        finally:
            node.close()
    print(
        orjson.dumps(
            {name: {k: v for k, v in r.items() if k != "events"} for name, r in results.items()}
        ).decode()
    )


if __name__ == "__main__":
    main()
