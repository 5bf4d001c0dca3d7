"""Detection quality of the aggregate + anomaly stages on a labelled synthetic LLM-proxy stream.

Generates ``--hours`` of simulated traffic (diurnal load, several providers and models, a small
background of errors, 429s and failed logins), injects five incidents at random times after a
warm-up, runs the real stages built by ``build_chain`` from a config in event time, and reports
recall, false alerts per simulated day and time to detect per incident. The last line printed is
one JSON object. Not a test: run ``python bench/anomaly_eval.py --seed 1``.

Incidents (each labelled with its start, end and the subject an alert must name):

* ``error_burst``   one provider's error rate jumps from 1 % to 30 % for 25 min;
* ``latency_spike`` one model's latency triples for 20 min;
* ``traffic_drop``  all traffic falls by 85 % for 20 min;
* ``auth_burst``    one IP fails authentication every 5 s for 5 min;
* ``error_ramp``    one provider's error rate climbs 5 points per minute from 1 % for 10 min.

Detectors judge the last minute every 20 s (aggregate windows of 20 s, ``span: 3``), so "within
two windows" means within 120 s of the incident's start.

An alert is a detection when its rule is one expected for the incident, it names the incident's
subject, and it fires between the incident's start and its end. Every other firing alert is false.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from logflume.events import META_KEY, Batch, Event
from logflume.pipeline.build import build_chain
from logflume.pipeline.config import PipelineConfig

DAY = 86_400.0
T0 = 1_717_200_000.0 - 1_717_200_000.0 % DAY  # a UTC midnight
PROVIDERS = {
    "openai": (0.40, {"gpt-4o": (0.5, 900.0), "gpt-4o-mini": (0.5, 400.0)}),
    "anthropic": (0.30, {"claude-3-5-sonnet": (0.6, 1100.0), "claude-3-haiku": (0.4, 350.0)}),
    "google": (0.20, {"gemini-1.5-pro": (1.0, 800.0)}),
    "mistral": (0.10, {"mistral-large": (1.0, 600.0)}),
}
BASE_ERROR_RATE = 0.01
WARMUP_HOURS = 3.0

CONFIG: dict[str, Any] = {
    "aggregate": {
        "windows": ["20s", "1m", "5m"], "group_by": [["provider", "model"]], "allowed_lateness": "5s"
    },
    "anomaly": {
        "allowed_lateness": "5s",
        "rules": [
            {"name": "auth_failures", "condition": "status_code == 401", "group_by": "ip_address",
             "threshold": 20, "window_minutes": 5, "severity": "critical", "channels": ["security"]},
        ],
        # Judge the last minute every 20 s (3 hopping 20 s windows); the default detectors.
        "statistical": {"window": "20s", "span": 3, "history": 180, "warmup": 90, "resolve_after": 3},
    },
}

EXPECTED_RULES = {
    "error_burst": {"error_rate_spike"},
    "error_ramp": {"error_rate_spike"},
    "latency_spike": {"latency_p95_spike"},
    "traffic_drop": {"traffic_drop"},
    "auth_burst": {"auth_failures"},
}


@dataclass
class Incident:
    kind: str
    start: float
    end: float
    subject: str
    detected_at: float | None = None


def iso_cache() -> Any:
    minutes: dict[int, str] = {}

    def iso(ts: float) -> str:
        minute = int(ts // 60)
        prefix = minutes.get(minute)
        if prefix is None:
            prefix = time.strftime("%Y-%m-%dT%H:%M", time.gmtime(minute * 60))
            minutes[minute] = prefix
        return f"{prefix}:{ts - minute * 60:06.3f}Z"

    return iso


def plan_incidents(rng: np.random.Generator, hours: float) -> list[Incident]:
    kinds = ["error_burst", "latency_spike", "traffic_drop", "auth_burst", "error_ramp"]
    rng.shuffle(kinds)
    durations = {
        "error_burst": 25, "latency_spike": 20, "traffic_drop": 20, "auth_burst": 5, "error_ramp": 10
    }
    span = (hours - WARMUP_HOURS) * 3600.0
    slot = span / len(kinds)
    providers = list(PROVIDERS)
    models = [m for _, (_, ms) in PROVIDERS.items() for m in ms]
    out = []
    for i, kind in enumerate(kinds):
        # Anywhere in its slot, leaving room for the incident and the 15 min cooldown after it.
        start = T0 + WARMUP_HOURS * 3600 + i * slot + float(rng.uniform(0, slot - 3600))
        start = round(start, 3)
        end = start + durations[kind] * 60.0
        if kind in ("error_burst", "error_ramp"):
            subject = str(rng.choice(providers))
        elif kind == "latency_spike":
            subject = str(rng.choice(models))
        elif kind == "auth_burst":
            subject = f"203.0.113.{int(rng.integers(1, 255))}"
        else:
            subject = "all"
        out.append(Incident(kind, start, end, subject))
    return out


def generate_minute(
    rng: np.random.Generator, minute_start: float, rate: float, incidents: list[Incident], iso: Any
) -> list[Event]:
    """One simulated minute of proxy log events, incidents applied, sorted by time."""
    active = [inc for inc in incidents if inc.start < minute_start + 60 and inc.end > minute_start]
    hour = (minute_start - T0) % DAY / 3600.0
    load = rate * (1.0 + 0.5 * math.sin(2 * math.pi * (hour - 9.0) / 24.0))
    count = int(rng.poisson(load))
    times = np.sort(rng.uniform(minute_start, minute_start + 60.0, count))
    drop = [inc for inc in active if inc.kind == "traffic_drop"]
    if drop:
        inside = (times >= drop[0].start) & (times < drop[0].end)
        keep = ~inside | (rng.random(count) < 0.15)
        times = times[keep]
        count = len(times)
    names = list(PROVIDERS)
    provider_idx = rng.choice(len(names), size=count, p=[PROVIDERS[n][0] for n in names])
    noise = rng.lognormal(0.0, 0.45, count)
    uniform = rng.random(count)
    uniform2 = rng.random(count)
    tokens = rng.integers(20, 2000, count)
    events: list[Event] = []
    append = events.append
    for i in range(count):
        ts = float(times[i])
        provider = names[provider_idx[i]]
        models = PROVIDERS[provider][1]
        model_names = list(models)
        first = len(model_names) == 1 or uniform2[i] < models[model_names[0]][0]
        model = model_names[0] if first else model_names[1]
        latency = models[model][1] * float(noise[i])
        error_rate = BASE_ERROR_RATE
        for inc in active:
            if not inc.start <= ts < inc.end:
                continue
            if inc.kind == "error_burst" and inc.subject == provider:
                error_rate = 0.30
            elif inc.kind == "error_ramp" and inc.subject == provider:
                error_rate = BASE_ERROR_RATE + 0.05 * (ts - inc.start) / 60.0
            elif inc.kind == "latency_spike" and inc.subject == model:
                latency *= 3.0
        u = float(uniform[i])
        if u < error_rate:
            status, level = 502 if u < error_rate / 2 else 500, "ERROR"
        elif u < error_rate + 0.005:
            status, level = 429, "WARNING"
        else:
            status, level = 200, "INFO"
        append({
            "timestamp": iso(ts), "level": level, "logger": "llm_proxy.api",
            "message": "Chat completion request processed", "request_id": f"req_{ts:.3f}_{i}",
            "provider": provider, "model": model, "endpoint": "/v1/chat/completions",
            "tokens": int(tokens[i]), "cost_usd": round(int(tokens[i]) * 2e-6, 6),
            "response_time_ms": round(latency, 2), "status_code": status,
            "cache_hit": bool(uniform2[i] < 0.2), "ip_address": f"198.51.100.{i % 200}",
        })
    # Background failed logins from many addresses (about 20 an hour), and the burst if active.
    failures = [
        (float(t), f"192.0.2.{int(rng.integers(1, 255))}")
        for t in rng.uniform(minute_start, minute_start + 60, int(rng.poisson(1 / 3)))
    ]
    for inc in active:
        if inc.kind == "auth_burst":
            steps = np.arange(inc.start, inc.end, 5.0)
            failures += [(float(t), inc.subject) for t in steps if minute_start <= t < minute_start + 60]
    for ts, ip in failures:
        append({
            "timestamp": iso(ts), "level": "WARNING", "logger": "llm_proxy.security",
            "message": "Security event: authentication", "event_type": "authentication",
            "success": False, "status_code": 401, "ip_address": ip, "endpoint": "/v1/chat/completions",
        })
    events.sort(key=lambda e: e["timestamp"])
    return events


def run(seed: int, hours: float, rate: float) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    incidents = plan_incidents(rng, hours)
    iso = iso_cache()
    config = PipelineConfig.model_validate(CONFIG)
    alerts: list[Event] = []
    total = 0
    spent = 0.0
    with tempfile.TemporaryDirectory() as state_dir:
        chain = build_chain(config, Path(state_dir))
        minutes = int(hours * 60)
        for m in range(minutes):
            start = T0 + m * 60.0
            events = generate_minute(rng, start, rate, incidents, iso)
            for n, event in enumerate(events):
                event[META_KEY] = {"event_id": f"bench-{m}-{n}", "source": "bench"}
            total += len(events)
            began = time.perf_counter()
            # Batches of 5 simulated seconds; the wall clock ("now") is simulated too.
            for sub in range(12):
                lo, hi = start + sub * 5.0, start + (sub + 1) * 5.0
                chunk = events[_index(events, lo, iso) : _index(events, hi, iso)]
                out = chain(Batch(chunk), now=hi)
                alerts.extend(out.alerts)
            spent += time.perf_counter() - began
    return score(incidents, alerts, hours, total, spent)


def _index(events: list[Event], t: float, iso: Any) -> int:
    # Events are sorted by their ISO timestamp text, which sorts like time within one day.
    key = iso(t)
    lo, hi = 0, len(events)
    while lo < hi:
        mid = (lo + hi) // 2
        if events[mid]["timestamp"] < key:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _epoch(text: str) -> float:
    from logflume.pipeline.aggregate.clock import parse_time

    value = parse_time(text)
    assert value is not None
    return value


def score(
    incidents: list[Incident], alerts: list[Event], hours: float, total: int, spent: float
) -> dict[str, Any]:
    false_alerts = []
    for alert in alerts:
        if alert["state"] != "firing":
            continue
        at = _epoch(alert["@timestamp"])
        match = None
        for inc in incidents:
            if alert["rule"] in EXPECTED_RULES[inc.kind] and alert["subject"] == inc.subject and (
                inc.start <= at <= inc.end
            ):
                match = inc
                break
        if match is None:
            false_alerts.append(alert)
        elif match.detected_at is None or at < match.detected_at:
            match.detected_at = at
    judged_days = (hours - WARMUP_HOURS) / 24.0
    detect = {inc.kind: (None if inc.detected_at is None else round(inc.detected_at - inc.start, 1))
              for inc in incidents}
    for inc in incidents:
        when = time.strftime("%H:%M:%S", time.gmtime(inc.start))
        took = "MISSED" if inc.detected_at is None else f"detected after {inc.detected_at - inc.start:.0f}s"
        print(f"{inc.kind:14} {inc.subject:18} day {int((inc.start - T0) // DAY)} {when}  {took}")
    for alert in false_alerts:
        print(f"false alert: {alert['@timestamp']} {alert['rule']} {alert['subject']}: {alert['message']}")
    found = sum(1 for inc in incidents if inc.detected_at is not None)
    return {
        "recall": found / len(incidents),
        "false_alerts_per_day": round(len(false_alerts) / judged_days, 3),
        "false_alerts": len(false_alerts),
        "detect_seconds": detect,
        "within_two_windows": all(v is not None and v <= 120 for v in detect.values()),
        "events": total,
        "simulated_hours": hours,
        "stage_events_per_second": round(total / spent) if spent else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seed", type=int, default=1, help="Random seed of traffic and incidents.")
    parser.add_argument("--hours", type=float, default=27.0, help="Simulated hours (first 3 are warm-up).")
    parser.add_argument("--rate", type=float, default=2000.0, help="Mean requests per minute.")
    args = parser.parse_args()
    if args.hours < WARMUP_HOURS + 24:
        parser.error("--hours must cover the warm-up and at least one simulated day (27)")
    result = run(args.seed, args.hours, args.rate)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
