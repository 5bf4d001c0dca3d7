"""The detectors inside a real `logflume run`: a long outage in the logs, judged while it lasts, and
the windows each detector took in, exported on /metrics."""

from __future__ import annotations

import random
from pathlib import Path

import orjson

from logflume.pipeline.aggregate.clock import iso
from tests.daemonproc import Daemons, append_lines, read_output
from tests.fixtures.common import free_port
from tests.ops.helpers import metrics, ops_config, reachable
from tests.waiting import wait_for

T0 = 1_705_312_800.0  # 2024-01-15 10:00 UTC


def requests(rng: random.Random, start: float, minutes: int, per_minute: int) -> bytes:
    """Proxy request lines spread over ``minutes`` from ``start``, Poisson-like in number."""
    out = []
    for minute in range(minutes):
        count = max(0, round(rng.gauss(per_minute, per_minute**0.5)))
        for i in range(count):
            ts = start + minute * 60 + (i + 0.5) * 60 / count
            out.append(orjson.dumps({
                "timestamp": iso(ts), "level": "INFO", "provider": "openai", "model": "gpt-4o",
                "message": "Chat completion request processed", "request_id": f"r{ts:.3f}",
                "response_time_ms": 400.0 + rng.random() * 100, "status_code": 200,
            }))
    return b"\n".join(out) + b"\n"


class TestOutage:
    def test_two_hour_outage_fires_once_and_resolves_when_traffic_returns(
        self, tmp_path: Path, daemons: Daemons
    ) -> None:
        """Three hours of traffic, two hours without a single line, then traffic again: one
        traffic_drop alert (a silence, at the outage's first minute) and one resolved once lines
        come back, though the aggregate stops emitting windows five minutes into the outage; the
        empty windows the detector judged itself are counted as filled on /metrics."""
        rng = random.Random(5)
        port = free_port()
        config = ops_config(
            tmp_path, port,
            pipeline={
                "aggregate": {"windows": ["1m"], "zero_fill": "5m", "idle_after": None},
                "anomaly": {"statistical": {"warmup": 20}},
            },
        )
        outage = T0 + 3 * 3600
        back = outage + 2 * 3600
        append_lines(tmp_path / "logs" / "app.log",
                     requests(rng, T0, 180, 40) + requests(rng, back, 20, 40))
        proc = daemons.start(config)
        wait_for(lambda: reachable(port) or not proc.alive(), 60, 0.1, "the endpoint")

        def alerts() -> list[tuple[str, str, str, str]]:
            return [
                (e["state"], e["rule"], e["trigger"], e["window_start"])
                for e in read_output(tmp_path / "out") if e.get("type") == "alert"
            ]

        wait_for(lambda: any(a[0] == "resolved" for a in alerts()) or not proc.alive(), 120, 0.2,
                 "the outage to resolve")
        samples = metrics(port)
        assert 0 == proc.stop()
        assert [("firing", "traffic_drop", "silence", iso(outage)), ("resolved", "traffic_drop", "silence",
                iso(back + 120))] == alerts()
        counted = {
            labels[1][1]: value for (name, labels), value in samples.items()
            if name == "logflume_stage_detector_windows_total" and labels[0] == ("detector", "traffic_drop")
        }
        # 120 silent minutes; the aggregate's zero fill emitted the four that began less than 5
        # minutes after the last window with events, the detector judged the other 116 itself.
        assert (116, 20) == (counted["filled"], counted["warmup"])
