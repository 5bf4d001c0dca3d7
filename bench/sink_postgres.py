"""Events per second the PostgreSQL sink writes (COPY into staging, INSERT … ON CONFLICT).

    .venv/bin/python bench/sink_postgres.py [--events 200000] [--batch 5000] [--concurrency N]
                                            [--parts N] [--runs 3] [--dsn URI]

Without ``--dsn`` it starts its own throw-away PostgreSQL 127.0.0.1 server with the test
fixture's helper (tests/fixtures/postgres.py; as root it runs as the ``postgres`` user), with the
server's default durability settings (fsync and synchronous_commit on). Each run writes
``--events`` distinct events in the seed's LLM-proxy log shape, dated today, to a fresh table in
batches of ``--batch`` through ``PostgresSink.write`` — the way the SinkRunner calls it, with up
to ``--concurrency`` writes in flight like the runner's ``concurrency`` option, each split into
``--parts`` transactions (``parallel_parts``); both default to the sink's defaults — and reports
events/s, and the CPU time per event spent by this (client) process and, when it started the
server itself, by the server's processes. On a busy machine the CPU times say more than events/s:
client + server CPU per event is what two cores share. Then it replays the last batch and checks
each event_id is stored once. The target: at least 50,000 events/s. The last line printed is one
JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "daemon"), str(ROOT)]

import asyncpg  # noqa: E402
import psutil  # noqa: E402

from logflume.events import META_KEY, Event  # noqa: E402
from logflume.sinks.postgres.config import PostgresSinkConfig  # noqa: E402
from logflume.sinks.postgres.sink import PostgresSink  # noqa: E402
from logflume.sinks.registry import SinkContext  # noqa: E402

PROVIDERS = {
    "openai": ["gpt-4", "gpt-4o", "gpt-4o-mini"],
    "anthropic": ["claude-3-5-sonnet", "claude-3-haiku"],
    "google": ["gemini-1.5-pro", "gemini-1.5-flash"],
}
MESSAGES = ["Chat completion request processed", "Cache hit", "Provider timeout", "Rate limit exceeded"]


def make_events(count: int, run: int) -> list[Event]:
    """Events as the parse stage hands them over: the seed's fields plus logflume metadata."""
    rng = random.Random(run)
    today = datetime.now(UTC).date().isoformat()
    ingested = f"{today}T12:00:00.000Z"
    fingerprint = uuid.uuid4().hex[:16]
    events: list[Event] = []
    for n in range(count):
        provider = rng.choice(list(PROVIDERS))
        seconds = n % 86400
        events.append(
            {
                "timestamp": f"{today}T{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}."
                f"{n % 1000:03d}Z",
                "level": "INFO" if n % 20 else "ERROR",
                "logger": "llm_proxy.api",
                "module": "src.api.endpoints",
                "function": "chat_completion",
                "line": 45,
                "message": rng.choice(MESSAGES),
                "request_id": f"req_{run}_{n:010d}",
                "user_id": f"user_{rng.randrange(10_000):06d}",
                "provider": provider,
                "model": rng.choice(PROVIDERS[provider]),
                "tokens": rng.randrange(10, 4000),
                "response_time_ms": round(rng.uniform(20, 3000), 2),
                "status_code": 200 if n % 20 else 502,
                "ip_address": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
                "user_agent": "LLM-Client/1.0",
                "trace_id": f"trace_{rng.getrandbits(48):012x}",
                "extra_data": {"temperature": 0.7, "max_tokens": 100, "stream": False},
                META_KEY: {
                    "event_id": f"{fingerprint}-{n * 512:x}",
                    "source": "proxy",
                    "file": "/var/log/llm-proxy/app.log",
                    "offset": n * 512,
                    "ingested_at": ingested,
                },
            }
        )
    return events


def server_cpu(postmaster: int | None) -> float:
    """CPU seconds used so far by the server's processes (0 when the server is not ours)."""
    if postmaster is None:
        return 0.0
    total = 0.0
    parent = psutil.Process(postmaster)
    for process in (parent, *parent.children(recursive=True)):
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


async def one_run(
    dsn: str, password: str | None, events: list[Event], args: argparse.Namespace, postmaster: int | None
) -> dict[str, Any]:
    table = f"bench_{uuid.uuid4().hex[:10]}"
    cfg = PostgresSinkConfig.model_validate(
        {
            "name": "bench",
            "type": "postgres",
            "dsn": dsn,
            "password": password,
            "table": table,
            "parallel_parts": args.parts,
        }
    )
    sink = PostgresSink(cfg, SinkContext(Path("/nonexistent"), "bench"))
    await sink.open()
    await sink.prepare()
    batches = [events[i : i + args.batch] for i in range(0, len(events), args.batch)]
    slots = asyncio.Semaphore(args.concurrency)

    async def write(part: list[Event]) -> None:
        async with slots:
            result = await sink.write(part)
        if result.rejected or result.retry:
            raise RuntimeError(f"{len(result.rejected)} rejected, {len(result.retry)} to retry")

    started, cpu, server = time.perf_counter(), time.process_time(), server_cpu(postmaster)
    await asyncio.gather(*(write(part) for part in batches))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    server = server_cpu(postmaster) - server
    await sink.write(batches[-1])  # a replay must add nothing
    await sink.close()
    conn = await asyncpg.connect(dsn, password=password)
    try:
        stored, distinct = await conn.fetchrow(f'SELECT count(*), count(DISTINCT event_id) FROM "{table}"')
        await conn.execute(f'DROP TABLE "{table}", "{table}_metrics", "{table}_alerts", "{table}_migrations"')
    finally:
        await conn.close()
    if stored != len(events) or distinct != len(events):
        raise RuntimeError(f"stored {stored} rows, {distinct} distinct, for {len(events)} events")
    return {
        "events_per_s": len(events) / seconds,
        "seconds": seconds,
        "client_us": cpu / len(events) * 1e6,
        "server_us": server / len(events) * 1e6,
    }


async def main_async(
    args: argparse.Namespace, dsn: str, password: str | None, postmaster: int | None = None
) -> dict[str, Any]:
    runs = []
    for run in range(args.runs):
        events = make_events(args.events, run)
        outcome = await one_run(dsn, password, events, args, postmaster)
        server = f", server {outcome['server_us']:.1f}" if postmaster else ""
        print(
            f"run {run + 1}: {outcome['events_per_s']:,.0f} events/s ({outcome['seconds']:.2f} s; "
            f"CPU µs/event: client {outcome['client_us']:.1f}{server}; load {os.getloadavg()[0]:.1f})",
            flush=True,
        )
        runs.append(outcome)
    rates = [r["events_per_s"] for r in runs]
    return {
        "bench": "sink_postgres",
        "events": args.events,
        "batch": args.batch,
        "concurrency": args.concurrency,
        "parts": args.parts,
        "runs": args.runs,
        "events_per_s_median": round(statistics.median(rates)),
        "events_per_s": [round(r) for r in rates],
        "client_cpu_us_per_event_median": round(statistics.median(r["client_us"] for r in runs), 2),
        "server_cpu_us_per_event_median": round(statistics.median(r["server_us"] for r in runs), 2)
        if postmaster
        else None,
        "load_average_1m": round(os.getloadavg()[0], 1),
        "cpus": os.cpu_count(),
        "target_events_per_s": 50_000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000, help="events per run")
    parser.add_argument("--batch", type=int, default=5_000, help="events per write (the sink's default)")
    defaults = PostgresSinkConfig.model_fields
    concurrency, parts = defaults["concurrency"].default, defaults["parallel_parts"].default
    parser.add_argument("--concurrency", type=int, default=concurrency, help="writes in flight")
    parser.add_argument("--parts", type=int, default=parts, help="transactions per write (parallel_parts)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dsn", help="an existing server to use instead of starting one")
    parser.add_argument("--password", help="password for --dsn")
    args = parser.parse_args()
    if args.dsn:
        summary = asyncio.run(main_async(args, args.dsn, args.password))
    else:
        from tests.fixtures.postgres import PostgresServer

        with PostgresServer() as server:
            postmaster = int((server.datadir / "postmaster.pid").read_text().split()[0])
            summary = asyncio.run(main_async(args, server.dsn, None, postmaster))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
