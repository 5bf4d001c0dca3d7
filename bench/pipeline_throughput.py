"""Throughput of the processing stages against pass-through (parse → encode), single core.

    .venv/bin/python bench/pipeline_throughput.py [events]

Prints events per CPU-second (process time, so other load on a shared machine matters less) for
pass-through and for the default chain, and their ratio; the default chain
is meant to stay at or above 50% of pass-through.
"""

from __future__ import annotations

import random
import sys
import time

import orjson

from logflume.events import Ack, Batch, RawChunk
from logflume.pipeline.build import build_chain
from logflume.pipeline.config import PipelineConfig
from logflume.pipeline.parse import Parser

LEVELS = ["INFO"] * 80 + ["DEBUG"] * 10 + ["WARNING"] * 6 + ["ERROR"] * 4
MESSAGES = [
    "Chat completion request processed",
    "Provider call failed: upstream timeout",
    "Cache hit for prompt",
    "Rate limit close for user",
    "Request authorised with Bearer abcdefghijklmnopqrstuvwxyz012345",
]


def make_lines(count: int, seed: int = 7) -> bytes:
    rng = random.Random(seed)
    lines = []
    for i in range(count):
        event = {
            "timestamp": f"2024-01-15T10:{i // 60000 % 60:02d}:{i // 1000 % 60:02d}.{i % 1000:03d}Z",
            "level": rng.choice(LEVELS),
            "logger": "llm_proxy.api",
            "module": "src.api.endpoints",
            "function": "chat_completion",
            "line": 45,
            "message": rng.choice(MESSAGES) if rng.random() < 0.05 else MESSAGES[0],
            "request_id": f"req_{rng.randrange(10**10):010d}",
            "user_id": f"user_{rng.randrange(1000):09d}",
            "provider": rng.choice(["openai", "anthropic", "google"]),
            "model": rng.choice(["gpt-4", "gpt-4o-mini", "claude-3-5-sonnet"]),
            "tokens": rng.randrange(10, 4000),
            "response_time_ms": round(rng.expovariate(1 / 600), 2),
            "status_code": rng.choice([200] * 20 + [429, 500]),
            "ip_address": f"203.0.113.{rng.randrange(256)}",
            "user_agent": "LLM-Client/1.0",
            "trace_id": f"trace_{rng.randrange(16**12):012x}",
            "span_id": f"span_{rng.randrange(10**9):09d}",
            "extra_data": {"temperature": 0.7, "max_tokens": 100, "stream": False},
        }
        lines.append(orjson.dumps(event))
    return b"\n".join(lines) + b"\n"


def run(data: bytes, chain: object | None, chunk_lines: int = 1000) -> float:
    parser = Parser()
    pieces = data.split(b"\n")[:-1]
    chunks = [b"\n".join(pieces[i : i + chunk_lines]) + b"\n" for i in range(0, len(pieces), chunk_lines)]
    dumps = orjson.dumps
    start = time.process_time()
    offset = 0
    for chunk_data in chunks:
        chunk = RawChunk("bench", "fp", "/bench.log", offset, chunk_data, Ack("k", 0, lambda ack: None))
        offset += len(chunk_data)
        events, dead = parser(chunk, time.time())
        batch = Batch(events, dead=dead)
        if chain is not None:
            batch = chain(batch, time.time())  # type: ignore[operator]
        out = b"\n".join([dumps(event) for event in batch.events])
        del out
    return len(pieces) / (time.process_time() - start)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    data = make_lines(count)
    chain = build_chain(PipelineConfig(), state_dir=__import__("pathlib").Path("/tmp"))
    base = max(run(data, None) for _ in range(3))
    staged = max(run(data, chain) for _ in range(3))
    print(f"pass-through   {base:>10,.0f} events/s")
    print(f"default chain  {staged:>10,.0f} events/s  ({staged / base:.0%} of pass-through)")


if __name__ == "__main__":
    main()
