"""Fan-out to every backend at once, with real servers: exactly once, through crashes and outages."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from logflume.generate import generate_rotating
from tests.daemonproc import Daemons, read_output, write_config
from tests.e2e.backends import PostgresBackend, S3Backend, SearchBackend
from tests.fixtures.postgres import PostgresServer
from tests.fixtures.seaweedfs import SeaweedServer
from tests.searchnode.node import SearchNode
from tests.waiting import wait_for

_names = itertools.count()


@pytest.fixture
def backends(
    es_node: SearchNode,
    opensearch_node: SearchNode,
    seaweed_server: SeaweedServer,
    postgres_server: PostgresServer,
) -> dict[str, Any]:
    n = next(_names)
    return {
        "elasticsearch": SearchBackend(es_node, "elasticsearch", f"e2e{n}-es"),
        "opensearch": SearchBackend(opensearch_node, "opensearch", f"e2e{n}-os"),
        "s3": S3Backend(seaweed_server, f"e2e-{n}-{int(time.time())}"),
        "postgres": PostgresBackend(postgres_server, f"e2e{n}_events"),
    }




def file_counts(tmp: Path) -> Counter[str]:
    return Counter(e["logflume"]["event_id"] for e in read_output(tmp / "out") if "request_id" in e)


def config_for(tmp: Path, backends: dict[str, Any], workers: int) -> Path:
    sinks = [{"name": "local", "type": "file", "path": str(tmp / "out" / "{source}.jsonl")}]
    sinks += [backend.sink() for backend in backends.values()]
    # Rotated and compressed files stay in the globs, as a real deployment would have them.
    source = {"read_bytes": "256KiB", "include": [str(tmp / "logs" / "app.log*")]}
    return write_config(tmp, sinks=sinks, source=source, workers=workers)


# The fan-out guarantees with the work in the daemon's process and in two worker processes.
WORKERS = pytest.mark.parametrize("workers", [1, 2])


def all_counts(tmp: Path, backends: dict[str, Any]) -> dict[str, Counter[str]]:
    counts = {name: backend.counts() for name, backend in backends.items()}
    counts["file"] = file_counts(tmp)
    return counts


def wait_all(tmp: Path, backends: dict[str, Any], total: int, timeout: float) -> dict[str, Counter[str]]:
    result: dict[str, Counter[str]] = {}

    def complete() -> bool:
        result.update(all_counts(tmp, backends))
        return all(len(c) >= total for c in result.values())

    wait_for(complete, timeout, 3.0, f"{total} events in every backend")
    return result


@WORKERS
def test_100k_events_reach_every_backend_exactly_once(
    tmp_path: Path, backends: dict[str, Any], daemons: Daemons, workers: int
) -> None:
    """100,000 events through file, Elasticsearch, OpenSearch, S3 and PostgreSQL at once: each
    backend holds every event exactly once, and the S3 objects decompress to exactly those events."""
    total = 100_000
    generate_rotating(tmp_path / "logs", total, 0, 0.0, 21, "app.log")
    proc = daemons.start(config_for(tmp_path, backends, workers))
    counts = wait_all(tmp_path, backends, total, 600)
    assert proc.stop(120) == 0, proc.logs()
    counts = all_counts(tmp_path, backends)
    expected = set(file_counts(tmp_path))
    assert len(expected) == total
    for name, got in counts.items():
        assert set(got) == expected, name
        assert max(got.values()) == 1, name
    s3_events = backends["s3"].events()
    assert sorted(e["request_id"] for e in s3_events) == sorted(f"req_21_{i:010d}" for i in range(total))


@WORKERS
def test_kill9_during_fanout(
    tmp_path: Path, backends: dict[str, Any], daemons: Daemons, workers: int
) -> None:
    """kill -9 while fanning out, twice, then restart: no event missing in any backend, none
    duplicated in Elasticsearch, OpenSearch or PostgreSQL."""
    total = 40_000
    writer = threading.Thread(
        target=generate_rotating, args=(tmp_path / "logs", total, 15_000, 8_000.0, 22, "app.log")
    )
    config = config_for(tmp_path, backends, workers)
    proc = daemons.start(config)
    writer.start()
    for pause in (0.3, 0.8):
        # Kill once this daemon is up and fanning out, at a moment that varies.
        before = len(file_counts(tmp_path))

        def progressed(before: int = before) -> bool:
            return len(file_counts(tmp_path)) > before

        wait_for(progressed, 120, 0.1, "progress")
        time.sleep(pause)
        proc.kill9()
        proc = daemons.start(config)
    writer.join()
    wait_all(tmp_path, backends, total, 600)
    assert proc.stop(120) == 0, proc.logs()
    counts = all_counts(tmp_path, backends)
    for name, got in counts.items():
        assert len(got) == total, name
    for name in ("elasticsearch", "opensearch", "postgres"):
        assert max(counts[name].values()) == 1, name


def _outage_cases() -> list[str]:
    return ["elasticsearch", "opensearch", "s3", "postgres"]


@WORKERS
@pytest.mark.parametrize("down", _outage_cases())
def test_backend_outage(
    tmp_path: Path, backends: dict[str, Any], daemons: Daemons, down: str, workers: int
) -> None:
    """One backend's server is killed for 30 s mid-run: the other sinks keep receiving, memory
    stays bounded, and after recovery the stopped backend holds every event exactly once."""
    # Written over ~40 s: the 30 s outage starts after the first 3,000 events and ends before the
    # writer does, so the healthy sinks are seen receiving throughout it.
    total = 36_000
    backend = backends[down]
    server = backend.node if hasattr(backend, "node") else backend.server
    writer = threading.Thread(
        target=generate_rotating, args=(tmp_path / "logs", total, 0, 900.0, 23, "app.log")
    )
    proc = daemons.start(config_for(tmp_path, backends, workers))
    writer.start()
    wait_for(lambda: len(file_counts(tmp_path)) >= 3_000, 120, 0.5, "first events")
    stop: Callable[[], None] = server.kill if hasattr(server, "kill") else server.stop
    stop()
    try:
        during = len(file_counts(tmp_path))
        peak = 0
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            peak = max(peak, psutil.Process(proc.pid).memory_info().rss)
            time.sleep(1)
        after = len(file_counts(tmp_path))
        assert after > during + 5_000, "the healthy sinks stopped receiving during the outage"
    finally:
        server.start()
    writer.join()
    counts = wait_all(tmp_path, backends, total, 600)
    assert proc.stop(120) == 0, proc.logs()
    # Bounded by what the sinks may hold: ~3 KB per buffered event (a decoded dict) for each
    # sink's memory buffer (5 sinks x 10,000 events), above ~150 MB of runtime and queues.
    assert peak < (150 + 5 * 10_000 * 3 / 1024) * 1024**2, f"peak RSS {peak / 2**20:.0f} MiB"
    counts = all_counts(tmp_path, backends)
    assert len(counts[down]) == total
    assert max(counts[down].values()) == 1
