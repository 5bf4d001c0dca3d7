"""Talking to a running daemon's local endpoint from tests."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from logflume.generate import lines
from tests.daemonproc import DaemonProcess, Daemons, append_lines, write_config
from tests.fixtures.common import free_port
from tests.waiting import wait_for


def http(port: int, path: str, body: Any = None, timeout: float = 10) -> tuple[int, bytes]:
    """(status, body) of a GET, or of a POST with a JSON body when ``body`` is given."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=data, method="POST" if data else "GET"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def get_json(port: int, path: str) -> tuple[int, Any]:
    status, body = http(port, path)
    return status, json.loads(body)


def reachable(port: int) -> bool:
    try:
        http(port, "/healthz", timeout=2)
    except OSError:
        return False
    return True


def started(port: int) -> bool:
    """The daemon answers and has started (worker processes up, sources following): /readyz no
    longer says it is starting, whatever else it says."""
    try:
        _, body = get_json(port, "/readyz")
    except OSError:
        return False
    return "starting" not in body.get("problems", [])


def metrics(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics, keyed by (sample name, sorted labels)."""
    status, body = http(port, "/metrics")
    assert status == 200
    samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def metric(port: int, name: str, **labels: str) -> float | None:
    return metrics(port).get((name, tuple(sorted(labels.items()))))


def ops_config(tmp: Path, port: int, **overrides: Any) -> Path:
    """write_config with the endpoint on ``port``."""
    http_config = {"address": f"127.0.0.1:{port}"}
    http_config.update(overrides.pop("http", {}))
    return write_config(tmp, http=http_config, **overrides)


def write_lines(tmp: Path, count: int, seed: int, name: str = "app.log") -> None:
    append_lines(tmp / "logs" / name, b"".join(lines(count, seed)))


@contextmanager
def running(config: Path, port: int) -> Iterator[DaemonProcess]:
    """A daemon subprocess, answering on its endpoint and started; killed if the test did not stop it."""
    daemons = Daemons()
    proc = daemons.start(config)
    try:
        wait_for(lambda: started(port) or not proc.alive(), 60, 0.1, "the endpoint")
        assert proc.alive(), proc.logs()
        yield proc
    finally:
        daemons.kill_all()


def log_records(proc: DaemonProcess) -> list[dict[str, Any]]:
    """The daemon's own JSON log lines so far."""
    records = []
    for line in proc.logs().splitlines():
        if line.startswith("{"):
            records.append(json.loads(line))
    return records


def messages(proc: DaemonProcess) -> list[str]:
    return [record["message"] for record in log_records(proc)]


__all__ = [
    "free_port",
    "get_json",
    "http",
    "log_records",
    "messages",
    "metric",
    "metrics",
    "ops_config",
    "reachable",
    "running",
    "wait_for",
    "write_lines",
]
