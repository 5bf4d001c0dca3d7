"""Sample LLM-proxy logs in the seed's JSON shape, for the demo, the tests and the benchmarks.

Deterministic for a given seed; every line has a unique ``request_id`` (``req_<seq>``) so tests can
check that each input line arrived.
"""

from __future__ import annotations

import gzip
import os
import random
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

PROVIDERS = {
    "openai": ["gpt-4o", "gpt-4o-mini", "gpt-4"],
    "anthropic": ["claude-3-5-sonnet", "claude-3-haiku"],
    "google": ["gemini-1.5-pro", "gemini-1.5-flash"],
    "mistral": ["mistral-large"],
}
ENDPOINTS = ["/api/chat/completions", "/api/completions", "/api/embeddings", "/api/models"]
ERRORS = [
    "Provider timeout",
    "Upstream returned 502",
    "Rate limit exceeded",
    "Invalid API key",
    "Context length exceeded",
]


DEFAULT_STEP_MS = 20.0


def lines(
    count: int, seed: int = 1, start: datetime | None = None, step_ms: float = DEFAULT_STEP_MS
) -> Iterator[bytes]:
    """``count`` JSON lines (each ending in b"\\n"), ``step_ms`` apart from ``start`` (a fixed
    2026-11-27 by default, so tests and benchmarks see the same lines every run)."""
    rnd = random.Random(seed)
    when = start or datetime(2026, 11, 27, 10, 0, 0, tzinfo=UTC)
    providers = list(PROVIDERS)
    dumps = orjson.dumps
    for seq in range(count):
        provider = rnd.choice(providers)
        model = rnd.choice(PROVIDERS[provider])
        latency = round(rnd.lognormvariate(5.5, 0.8), 2)
        failed = rnd.random() < 0.03
        status = rnd.choice([500, 502, 503, 429]) if failed else 200
        event = {
            "timestamp": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": "ERROR" if failed else ("DEBUG" if rnd.random() < 0.1 else "INFO"),
            "logger": "llm_proxy.api",
            "module": "src.api.endpoints",
            "function": "chat_completion",
            "line": 45,
            "message": rnd.choice(ERRORS) if failed else "Chat completion request processed",
            "request_id": f"req_{seed}_{seq:010d}",
            "user_id": f"user_{rnd.randrange(1000):06d}",
            "provider": provider,
            "model": model,
            "endpoint": rnd.choice(ENDPOINTS),
            "method": "POST",
            "tokens": rnd.randrange(20, 4000),
            "response_time_ms": latency,
            "status_code": status,
            "cache_hit": rnd.random() < 0.25,
            "ip_address": f"10.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}",
            "user_agent": "LLM-Client/1.0",
            "trace_id": f"trace_{rnd.getrandbits(48):012x}",
            "span_id": f"span_{rnd.getrandbits(32):08x}",
            "extra_data": {"temperature": 0.7, "max_tokens": 100, "stream": False},
        }
        yield dumps(event, option=orjson.OPT_APPEND_NEWLINE)
        when += timedelta(milliseconds=step_ms)


def timeline(count: int, rate: float, end: datetime) -> tuple[datetime, float]:
    """The first timestamp and the spacing (ms) of ``count`` lines whose last timestamp is ``end``.

    Written as fast as possible (``rate`` 0) the lines are 20 ms apart; written live at ``rate``
    lines/s they are ``1/rate`` apart, so with ``end`` the time the writing finishes each line
    carries about the time it is written.
    """
    step_ms = 1000.0 / rate if rate > 0 else DEFAULT_STEP_MS
    return end - timedelta(milliseconds=step_ms * max(count - 1, 0)), step_ms


def write_file(path: Path, count: int, seed: int = 1) -> int:
    """Write ``count`` lines to ``path``; returns the byte size."""
    buf: list[bytes] = []
    size = 0
    with open(path, "wb") as out:
        for line in lines(count, seed):
            buf.append(line)
            if len(buf) >= 10_000:
                data = b"".join(buf)
                out.write(data)
                size += len(data)
                buf.clear()
        data = b"".join(buf)
        out.write(data)
        size += len(data)
    return size


def rotate(path: Path, keep: int = 3, compress: bool = True) -> None:
    """logrotate-style rename rotation: app.log → app.log.1; app.log.1 → app.log.2(.gz); …"""
    oldest = path.with_name(f"{path.name}.{keep}.gz")
    oldest.unlink(missing_ok=True)
    for n in range(keep - 1, 1, -1):
        src = path.with_name(f"{path.name}.{n}.gz")
        if src.exists():
            src.rename(path.with_name(f"{path.name}.{n + 1}.gz"))
    first = path.with_name(f"{path.name}.1")
    if first.exists():
        second = path.with_name(f"{path.name}.2")
        first.rename(second)
        if compress:
            with open(second, "rb") as src_f, gzip.open(str(second) + ".gz.tmp", "wb") as dst:
                shutil.copyfileobj(src_f, dst)
            os.replace(str(second) + ".gz.tmp", str(second) + ".gz")
            second.unlink()
    if path.exists():
        path.rename(first)


def generate_rotating(
    directory: Path,
    count: int,
    rotate_every: int,
    rate: float = 0.0,
    seed: int = 1,
    name: str = "llm_proxy.log",
    *,
    start: datetime | None = None,
    step_ms: float = DEFAULT_STEP_MS,
) -> int:
    """Append ``count`` lines to ``directory/name``, rotating every ``rotate_every`` lines.

    ``rate`` (lines/s, 0 = as fast as possible) spreads writing out in time, like a live service;
    ``start`` and ``step_ms`` place the timestamps (see :func:`timeline`).
    """
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    out = open(path, "ab")  # noqa: SIM115 - reopened on every rotation below
    written = 0
    started = time.monotonic()
    try:
        for line in lines(count, seed, start, step_ms):
            out.write(line)
            written += 1
            if written % 1000 == 0:
                out.flush()
                if rate > 0:
                    ahead = written / rate - (time.monotonic() - started)
                    if ahead > 0:
                        time.sleep(ahead)
            if rotate_every and written % rotate_every == 0 and written < count:
                out.close()
                rotate(path)
                out = open(path, "ab")  # noqa: SIM115 - closed in the finally below
    finally:
        out.close()
    return written
