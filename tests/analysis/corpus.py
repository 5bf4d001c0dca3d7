"""A generated LLM-proxy corpus with every shape ``analyze`` must handle, and the exact expected
statistics computed here in plain Python and numpy from the documented definitions."""

from __future__ import annotations

import gzip
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson

PROVIDERS = {
    "openai": ["gpt-4", "gpt-4o"],
    "anthropic": ["claude-3-opus", "claude-3-haiku"],
    "google": ["gemini-pro"],
    "mistral": ["mistral-large"],
}
ENDPOINTS = ["/api/chat/completions", "/api/completions", "/api/embeddings"]
ERROR_MESSAGES = ["Provider timeout", "Upstream returned 502", "Rate limit exceeded", "Invalid API key"]
JUNK_LINES = [b"not json at all", b"[1, 2, 3]", b"{}", b'{"truncated": ', b"   ", b"", b'"a string"', b"42"]
EVENT_FIELDS = (
    "timestamp",
    "@timestamp",
    "level",
    "message",
    "provider",
    "model",
    "endpoint",
    "response_time_ms",
    "status_code",
    "cache_hit",
)
ERROR_LEVELS = {"ERROR", "CRITICAL", "FATAL"}


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def make_events(
    count: int, seed: int = 7, start: datetime | None = None, span: float = 6 * 3600
) -> list[dict[str, Any]]:
    """``count`` proxy log events of every kind the analysis distinguishes, spread over ``span`` s."""
    rnd = random.Random(seed)
    start = start or datetime(2024, 1, 15, 6, 0, tzinfo=UTC)
    events: list[dict[str, Any]] = []
    for seq in range(count):
        provider = rnd.choice(list(PROVIDERS))
        event: dict[str, Any] = {
            "timestamp": _iso(start + timedelta(seconds=rnd.uniform(0, span))),
            "level": "INFO",
            "logger": "llm_proxy.api",
            "request_id": f"req_{seq:08d}",
            "user_id": f"user_{rnd.randrange(50)}",
        }
        kind = rnd.random()
        if kind < 0.55:  # outcome line with both time and status
            status = rnd.choices([200, 400, 429, 500, 502, 503], [85, 4, 3, 3, 3, 2])[0]
            event.update(message="Request completed", status_code=status)
            event["response_time_ms"] = (
                round(rnd.lognormvariate(6, 1.1), 2) if rnd.random() < 0.8 else rnd.randrange(1, 20000)
            )
            event["level"] = (
                "ERROR" if status >= 500 and rnd.random() < 0.7 else ("WARNING" if status >= 400 else "INFO")
            )
            if status >= 500:
                event["message"] = rnd.choice(ERROR_MESSAGES)
        elif kind < 0.65:  # outcome with a status only: refused before reaching a provider
            event.update(message="Request rejected", status_code=rnd.choice([429, 503]), level="WARNING")
        elif kind < 0.72:  # outcome with a time only
            event.update(message="Stream finished", response_time_ms=round(rnd.uniform(10, 9000), 3))
        elif kind < 0.9:  # request start: no outcome
            event.update(message="Processing request")
        else:  # error line that is not an outcome line
            event.update(
                message=rnd.choice(ERROR_MESSAGES), level=rnd.choice(["ERROR", "error", "CRITICAL", "Fatal"])
            )
        if "status_code" in event or "response_time_ms" in event or rnd.random() < 0.5:
            event["provider"] = provider
            event["model"] = rnd.choice(PROVIDERS[provider])
        if rnd.random() < 0.03:
            event.pop("provider", None)
        event["endpoint"] = rnd.choice(ENDPOINTS)
        if "status_code" in event and rnd.random() < 0.7:
            event["cache_hit"] = rnd.random() < 0.3
        if rnd.random() < 0.01:
            del event["timestamp"]
        if rnd.random() < 0.1:
            event["extra_data"] = {"temperature": 0.7, "stream": rnd.random() < 0.5}
        events.append(event)
    return events


def own_events(count: int, start: datetime | None = None) -> list[dict[str, Any]]:
    """Events the daemon makes itself (window metrics, alerts): not proxy logs."""
    start = start or datetime(2024, 1, 15, 6, 0, tzinfo=UTC)
    out = []
    for i in range(count):
        kind = "alert" if i % 2 else "metric"
        out.append(
            {
                "type": kind,  # as the aggregate and anomaly stages make them
                "timestamp": _iso(start + timedelta(minutes=i)),
                "level": "CRITICAL" if kind == "alert" else "INFO",
                "message": "Error rate above threshold" if kind == "alert" else "window",
                "response_time_ms": 123.0,
                "status_code": 500,
                "logflume": {"type": kind, "event_id": f"own-{i}"},
            }
        )
    return out


def with_metadata(events: list[dict[str, Any]], source: str = "proxy") -> list[dict[str, Any]]:
    """Events as the file sink writes them: the original fields plus the ``logflume`` object."""
    out = []
    for offset, event in enumerate(events):
        if "logflume" in event:
            out.append(event)
            continue
        out.append(
            {
                **event,
                "logflume": {
                    "event_id": f"f00d-{offset:x}",
                    "source": source,
                    "file": "/var/log/llm_proxy/app.log",
                    "offset": offset * 300,
                    "ingested_at": "2024-01-16T00:00:00.000Z",
                },
            }
        )
    return out


def lines_with_junk(events: list[dict[str, Any]], seed: int = 3) -> bytes:
    """JSON lines with the junk a real log has (invalid lines, blank lines, non-objects) mixed in."""
    rnd = random.Random(seed)
    out = []
    for event in events:
        if rnd.random() < 0.02:
            out.append(rnd.choice(JUNK_LINES))
        out.append(orjson.dumps(event))
    return b"\n".join(out) + b"\n"


def write_split(
    directory: Path, events: list[dict[str, Any]], parts: int, name: str, gzip_all_but_last: bool
) -> list[Path]:
    """Write ``events`` over ``parts`` files; rotated ones gzip-compressed like the file sink's."""
    directory.mkdir(parents=True, exist_ok=True)
    size = -(-len(events) // parts)
    paths = []
    for index in range(parts):
        data = lines_with_junk(events[index * size : (index + 1) * size], seed=index)
        if gzip_all_but_last and index < parts - 1:
            path = directory / f"{name}.{index}.jsonl.gz"
            path.write_bytes(gzip.compress(data, 6))
        else:
            path = directory / f"{name}.{index}.jsonl"
            path.write_bytes(data)
        paths.append(path)
    return paths


# ---------------------------------------------------------------------------------------------
# The expected statistics, from the definitions in logflume.analysis.results


@dataclass
class _Scope:
    events: int = 0
    requests: int = 0
    errors: int = 0
    error_events: int = 0
    times: list[float] = field(default_factory=list)
    cache_hits: int = 0
    cache_lookups: int = 0

    def add(self, event: dict[str, Any]) -> None:
        self.events += 1
        rt, status = event.get("response_time_ms"), event.get("status_code")
        level = event.get("level")
        is_request = rt is not None or status is not None
        is_error = (isinstance(level, str) and level.upper() in ERROR_LEVELS) or (
            status is not None and status >= 500
        )
        self.requests += is_request
        self.errors += is_request and is_error
        self.error_events += is_error
        if rt is not None:
            self.times.append(float(rt))
        if isinstance(event.get("cache_hit"), bool):
            self.cache_lookups += 1
            self.cache_hits += event["cache_hit"]

    def metrics(self, slow_ms: float) -> dict[str, Any]:
        times = np.array(self.times, dtype=np.float64)
        p50, p95, p99 = (
            np.percentile(times, [50, 95, 99], method="linear").tolist() if len(times) else (None, None, None)
        )
        return {
            "total_events": self.events,
            "total_requests": self.requests,
            "error_count": self.errors,
            "error_rate": self.errors / self.requests if self.requests else None,
            "error_events": self.error_events,
            "avg_response_time_ms": float(times.mean()) if len(times) else None,
            "p50_ms": p50,
            "p95_ms": p95,
            "p99_ms": p99,
            "slow_requests": int((times > slow_ms).sum()),
            "cache_hit_rate": self.cache_hits / self.cache_lookups if self.cache_lookups else None,
            "cache_hits": self.cache_hits,
            "cache_lookups": self.cache_lookups,
        }


def _time(event: dict[str, Any]) -> datetime | None:
    value = event.get("timestamp", event.get("@timestamp"))
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def expected(
    records: list[dict[str, Any]],
    since: datetime | None = None,
    until: datetime | None = None,
    slow_ms: float = 5000.0,
    by: str | None = None,
    top: int = 10,
) -> dict[str, Any]:
    """What ``analyze --format json`` must print for ``records`` (own events and all)."""
    total = _Scope()
    groups: dict[str, _Scope] = {}
    messages: Counter[str] = Counter()
    for event in records:
        if (event.get("logflume") or {}).get("type") is not None:
            continue
        if all(event.get(name) is None for name in EVENT_FIELDS):
            continue
        moment = _time(event)
        if (since is not None or until is not None) and moment is None:
            continue
        if since is not None and moment is not None and moment < since:
            continue
        if until is not None and moment is not None and moment >= until:
            continue
        total.add(event)
        scope = total
        if by is not None:
            key = event.get(by)
            key = "(none)" if key is None else (key.upper() if by == "level" else str(key))
            scope = groups.setdefault(key, _Scope())
            scope.add(event)
        if _is_error(event):
            messages[event.get("message") or "(no message)"] += 1
    out = total.metrics(slow_ms)
    ranked = sorted(messages.items(), key=lambda item: (-item[1], item[0]))[:top]
    out["top_errors"] = dict(ranked)
    if by is not None:
        ordered = sorted(groups.items(), key=lambda kv: (-kv[1].requests, -kv[1].events, kv[0]))
        out["groups"] = {key: scope.metrics(slow_ms) for key, scope in ordered}
    return out


def _is_error(event: dict[str, Any]) -> bool:
    level, status = event.get("level"), event.get("status_code")
    return (isinstance(level, str) and level.upper() in ERROR_LEVELS) or (
        status is not None and status >= 500
    )
