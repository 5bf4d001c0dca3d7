"""Events/s into each backend, beside the file sink, in the same run.

    python bench/sinks.py [--lines 200000]

Starts a real PostgreSQL, SeaweedFS (S3), Elasticsearch and OpenSearch on 127.0.0.1 (the test
suite's server helpers; run ``bash scripts/test.sh`` once, or the installers in scripts/services/,
so their binaries exist), then runs the daemon once per backend on the same corpus with only that
sink, timed until the checkpoint covers the corpus (every event accepted by the backend), then
counts the distinct events the backend holds (a run whose backend lacks any fails). Prints
events/s, the daemon's CPU (with its workers, and its own process's alone, per event) and the
backend server's; the last line is JSON. ``--reference REV`` also runs that commit's daemon on
each backend just before this tree's (into a table, bucket or index of its own), so that the two
are compared in the same run.

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
from throughput import OUT, Reference, corpus, daemon  # noqa: E402


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
    parser.add_argument(
        "--reference",
        metavar="REV",
        help="also run this commit's daemon on each backend, before this tree's (see throughput.py)",
    )
    args = parser.parse_args()
    reference = Reference(args.reference, Path(tempfile.mkdtemp(dir=OUT))) if args.reference else None
    wanted = set(args.only or ["file", "postgres", "s3", "elasticsearch", "opensearch"])
    path = corpus(args.lines)
    results: dict[str, dict[str, Any]] = {}

    # A backend: (the sink configs, how many distinct events it holds) for a name of its own.
    Backend = Callable[[str], tuple[list[dict[str, Any]] | None, Callable[[], int] | None]]

    def run(name: str, backend: Backend, port: int | None) -> None:
        """One run per daemon (the reference's first), each into its own table, bucket or index,
        which must hold every event afterwards."""
        runs: list[tuple[str, Reference | None]] = [(name, None)]
        if reference is not None:
            runs.insert(0, (f"{name}@{reference.rev}", reference))
        for index, (label, tree) in enumerate(runs):
            sinks, held = backend(str(index))
            measure(label, tree, sinks, port, held)

    def measure(
        name: str,
        tree: Reference | None,
        sinks: list[dict[str, Any]] | None,
        port: int | None,
        held: Callable[[], int] | None,
    ) -> None:
        watch = listener_pids(port) if port else []
        with tempfile.TemporaryDirectory(dir=OUT) as tmp:
            if tree is not None:
                r = tree.run(path, Path(tmp), {}, sinks=sinks, watch=watch)
            else:
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
        r["main_us_per_event"] = round(r["main_cpu_seconds"] / args.lines * 1e6, 2)
        r["us_per_event"] = round(r["cpu_seconds"] / args.lines * 1e6, 2)
        r["backend_cores"] = round(r["backend_cpu_seconds"] / r["seconds"], 2) if watch else None
        results[name] = r
        print(
            f"{name:14s} {r['events_per_s']:>9,} ev/s  daemon {r['daemon_cores']:.2f} cores"
            + (f"  backend {r['backend_cores']:.2f} cores" if watch else "")
            + f"  peak RSS {r['peak_rss_mb']:.0f} MB"
            + f"  CPU/event {r['us_per_event']:.1f} µs (daemon process {r['main_us_per_event']:.1f})",
            flush=True,
        )

    if "file" in wanted:
        run("file", lambda _: (None, None), None)
    if "postgres" in wanted:
        with PostgresServer() as pg:

            def postgres(suffix: str) -> tuple[list[dict[str, Any]], Callable[[], int]]:
                backend = PostgresBackend(pg, f"bench_events_{suffix}")
                return [backend.sink()], lambda: len(backend.counts())

            run("postgres", postgres, int(pg.port))
    if "s3" in wanted:
        with SeaweedServer() as weed:

            def s3(suffix: str) -> tuple[list[dict[str, Any]], Callable[[], int]]:
                bucket = S3Backend(weed, f"bench-bucket-{suffix}")
                return [s3_sink(bucket, args.s3_set)], lambda: len(
                    {e["logflume"]["event_id"] for e in bucket.events()}
                )

            run("s3", s3, weed.s3_port)
    for flavor, factory in (("elasticsearch", elasticsearch), ("opensearch", opensearch)):
        if flavor not in wanted:
            continue
        node = SearchNode(factory())
        node.start()
        try:

            def search(
                suffix: str, node: SearchNode = node, flavor: str = flavor
            ) -> tuple[list[dict[str, Any]], Callable[[], int]]:
                backend = SearchBackend(node, flavor, f"bench-{flavor}-{suffix}")
                return [backend.sink()], backend.count

            run(flavor, search, node.http_port)
        finally:
            node.close()
    print(
        orjson.dumps(
            {name: {k: v for k, v in r.items() if k != "events"} for name, r in results.items()}
        ).decode()
    )


if __name__ == "__main__":
    main()
