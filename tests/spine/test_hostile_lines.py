"""No line can stop the daemon: lines that used to kill it, and random lines of every kind, go
through a real daemon (every stage on) that keeps running and loses nothing."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from logflume.generate import lines
from tests.daemonproc import (
    Daemons,
    append_lines,
    read_jsonl,
    read_output,
    request_ids,
    write_config,
)
from tests.waiting import wait_for

# Every stage on, as in the example config (sample rates that keep every valid line).
PIPELINE: dict[str, Any] = {
    "normalise": {"fields": {"ts": "timestamp"}},
    "redact": {"rules": ["bearer", "basic_auth", "jwt", "api_key", "email", "card"]},
    "enrich": {
        "business_unit": {"prefixes": {"/api/chat": "conversational"}},
        "cost": {"prices": {"gpt-4o*": {"input": 0.0025, "output": 0.01}}},
        "host": {"name": "test-host"},
    },
    "filter": {
        "rules": [
            {"name": "drop-health", "when": 'endpoint == "/health"', "action": "drop"},
            {"name": "security", "when": 'logger contains "security"', "action": "route", "sinks": ["audit"]},
        ]
    },
    "sample": {"rates": {"DEBUG": 1.0}},
    "aggregate": {"windows": ["1m"], "group_by": [["provider", "model"], ["endpoint"]]},
    "anomaly": {
        "rules": [
            {"name": "errors", "condition": 'level == "ERROR"', "threshold": 5, "window_minutes": 1},
            {"name": "auth", "condition": "status_code == 401", "group_by": "ip_address", "threshold": 3},
            {"name": "pattern", "pattern": '"level": "ERROR"', "threshold": 5},
        ],
        "statistical": {},
    },
}

# Values that once made normalise (and so the daemon) die: it exited, and since the checkpoint
# was before the line, every restart died on it again.
KILLERS = [
    {"timestamp": "²"},
    {"timestamp": "١٢"},
    {"timestamp": "9999-12-31T23:00:00-05:00"},
    {"time": "0001-01-01T00:00:00+05:00"},
    {"@timestamp": "2026-11-27T10:00:00.²Z"},
]


def config(tmp: Path) -> Path:
    """Every stage on; two file sinks under tmp/out, the second one for routed events only."""
    sinks = [
        {"name": "local", "type": "file", "path": str(tmp / "out" / "{source}" / "%Y-%m-%d.jsonl")},
        {"name": "audit", "type": "file", "path": str(tmp / "out" / "audit" / "%Y-%m-%d.jsonl")},
    ]
    return write_config(tmp, pipeline=PIPELINE, sinks=sinks)


def dead_letters(tmp: Path) -> list[dict[str, Any]]:
    path = tmp / "state" / "dead-letter.jsonl"
    return list(read_jsonl(path)) if path.exists() else []


def text_ids(events: list[dict[str, Any]]) -> list[str]:
    """The request ids that are text (random lines put anything in that field)."""
    return [e["request_id"] for e in events if isinstance(e.get("request_id"), str)]


def delivered(out: Path) -> list[dict[str, Any]]:
    """Events read from log lines (not the metrics and alerts the daemon makes itself)."""
    return [e for e in read_output(out) if e.get("logflume", {}).get("source") == "proxy"]


def test_lines_that_used_to_kill_the_daemon_are_delivered(tmp_path: Path, daemons: Daemons) -> None:
    """Unicode digits and offsets crossing year 1 or 9999 in the time fields, in one chunk with
    valid lines: every line is delivered once (the odd ones at their ingest time), nothing is
    dead-lettered, and the daemon keeps running."""
    good = list(lines(200, seed=5))
    odd = [orjson.dumps({**k, "request_id": f"odd-{n}"}) + b"\n" for n, k in enumerate(KILLERS)]
    data = b"".join(good[:50] + odd[:3] + good[50:150] + odd[3:] + good[150:])
    path = config(tmp_path)
    append_lines(tmp_path / "logs" / "app.log", data)
    proc = daemons.start(path)
    want = {f"req_5_{seq:010d}" for seq in range(200)} | {f"odd-{n}" for n in range(len(KILLERS))}
    out = tmp_path / "out"
    wait_for(lambda: want <= set(request_ids(read_output(out))) or not proc.alive(), 90, 0.3, "every line")
    assert proc.alive(), proc.logs()[-5000:]
    events = delivered(out)
    assert [] == [rid for rid, count in request_ids(events).items() if count > 1]
    stamped = {e["request_id"]: (e["@timestamp"], e["logflume"]["ingested_at"]) for e in events}
    assert all(stamp == ingested for stamp, ingested in (stamped[f"odd-{n}"] for n in range(len(KILLERS))))
    assert proc.stop() == 0
    assert [] == dead_letters(tmp_path)


def random_json(rnd: random.Random, depth: int = 0) -> Any:
    """A random JSON value of any type (objects and lists a few levels deep)."""
    kind = rnd.randrange(8 if depth < 3 else 5)
    if kind == 0:
        return None
    if kind == 1:
        return rnd.random() < 0.5
    if kind == 2:
        return rnd.choice([0, -1, 2**63 - 1, -(2**63), rnd.randrange(-(10**12), 10**12), 1e308, -5e-324])
    if kind == 3:
        return rnd.uniform(-1e20, 1e20)
    if kind == 4:
        return "".join(chr(rnd.choice([rnd.randrange(32, 127), rnd.randrange(128, 55295)])) for _ in range(8))
    if kind == 5:
        return [random_json(rnd, depth + 1) for _ in range(rnd.randrange(4))]
    return {f"k{n}": random_json(rnd, depth + 1) for n in range(rnd.randrange(4))}


HOSTILE_TEXT = [
    b'"\xc2\xb2"', b'"\xd9\xa1\xd9\xa2"', b'"9999-12-31T23:00:00-05:00"', b'"0001-01-01T00:00:00+05:00"',
    b'"2026-02-30T10:00:00Z"', b"1e308", b"123456789012345678901234567890", b"-1", b"true", b"null", b"[]",
    b'{"a":1}', b'"NaN"', b'"1705314615123456789"', b'"' + b"9" * 5000 + b'"', b"0.000000001",
]  # fmt: skip
FIELDS = [b"timestamp", b"time", b"ts", b"@timestamp", b"level", b"response_time_ms", b"status_code",
          b"tokens", b"provider", b"model", b"message", b"trace_id", b"request_id", b"ip_address",
          b"endpoint", b"user_id", b"logger", b"cost_usd", b"cache_hit", b"type"]  # fmt: skip


def random_line(rnd: random.Random) -> bytes:
    """One hostile line (no newline in it): random bytes, any JSON value, an object with hostile
    values in the fields stages read, or nesting around what orjson reads and writes."""
    kind = rnd.randrange(5)
    if kind == 0:
        return bytes(rnd.choice([b for b in range(256) if b != 10]) for _ in range(rnd.randrange(1, 80)))
    if kind == 1:
        return orjson.dumps(random_json(rnd))
    if kind == 2:
        fields = rnd.sample(FIELDS, rnd.randrange(1, 6))
        return b"{" + b",".join(b'"' + f + b'":' + rnd.choice(HOSTILE_TEXT) for f in fields) + b"}"
    if kind == 3:
        depth = rnd.choice([254, 256, 300, 600, 1000, 1100])
        return b'{"level":"ERROR","deep":' + b"[" * depth + b"]" * depth + b"}"
    return orjson.dumps({"message": "x" * rnd.randrange(1, 5000), "level": rnd.choice(["ERROR", 40, None])})


def test_random_lines_never_stop_the_daemon(tmp_path: Path, daemons: Daemons) -> None:
    """2000 valid lines with 1000 random ones between them (written in several appends while the
    daemon runs): it never exits, every valid line is delivered exactly once, and every other
    line is delivered or dead-lettered, exactly once."""
    rnd = random.Random(10)
    proc = daemons.start(config(tmp_path))
    path = tmp_path / "logs" / "app.log"
    offset = 0
    expected: list[int] = []  # offsets of every line that is not blank
    good = list(lines(2000, seed=9))
    for part in range(4):
        data = bytearray()
        for line in good[part * 500 : (part + 1) * 500]:
            if rnd.random() < 0.5:
                for _ in range(rnd.randrange(1, 3)):
                    junk = random_line(rnd) + b"\n"
                    if junk.strip():
                        expected.append(offset + len(data))
                    data += junk
            expected.append(offset + len(data))
            data += line
        append_lines(path, bytes(data))
        offset += len(data)
    want = {f"req_9_{seq:010d}" for seq in range(2000)}
    out = tmp_path / "out"

    def accounted() -> bool:
        seen = [e["logflume"]["offset"] for e in delivered(out)]
        return len(seen) + len(dead_letters(tmp_path)) >= len(expected)

    def done() -> bool:
        return (want <= set(text_ids(delivered(out))) and accounted()) or not proc.alive()

    wait_for(done, 120, 0.5, "every line delivered or dead-lettered")
    assert proc.alive(), proc.logs()[-5000:]
    assert proc.stop() == 0
    events = delivered(out)
    dead = dead_letters(tmp_path)
    counts = Counter(rid for rid in text_ids(events) if rid.startswith("req_9_"))
    assert (want, 1) == (set(counts), max(counts.values()))
    assert sorted(expected) == sorted([e["logflume"]["offset"] for e in events] + [d["offset"] for d in dead])
    assert all(d["reason"] for d in dead)
