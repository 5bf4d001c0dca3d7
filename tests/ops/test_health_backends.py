"""Each network backend down when the daemon starts (a real server, stopped): /readyz says so
before anything is written, the events wait in the disk buffer, and all of them arrive once the
server is started."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.daemonproc import Daemons
from tests.e2e.backends import PostgresBackend, S3Backend, SearchBackend
from tests.fixtures.postgres import PostgresServer
from tests.fixtures.seaweedfs import SeaweedServer
from tests.ops.helpers import free_port, get_json, metric, ops_config, reachable, wait_for, write_lines
from tests.searchnode.node import SearchNode

LINES = 500


@dataclass
class Stopped:
    """A backend whose server is down, the sink config pointing at it, and how to bring it up."""

    name: str
    sink: dict[str, Any]
    start: Callable[[], None]
    stored: Callable[[], int]


def _postgres() -> Iterator[Stopped]:
    server = PostgresServer()
    server.init()  # a real cluster, not started: nothing listens on its port yet
    try:
        backend = PostgresBackend(server, f"down_{uuid.uuid4().hex[:8]}")
        yield Stopped("postgres", backend.sink(), server.start, lambda: len(backend.counts()))
    finally:
        server.cleanup()


def _s3() -> Iterator[Stopped]:
    server = SeaweedServer()  # not started
    try:
        backend = S3Backend(server, f"down-{uuid.uuid4().hex[:8]}")
        sink = {**backend.sink(), "batch": {"timeout": "200ms"}}
        yield Stopped("s3", sink, server.start, lambda: len(backend.counts()))
    finally:
        server.cleanup()


def _search(node: SearchNode, flavor: str) -> Iterator[Stopped]:
    node.stop()  # the session's node: started again below, whatever happens
    try:
        backend = SearchBackend(node, flavor, f"down{uuid.uuid4().hex[:8]}")
        yield Stopped(flavor, backend.sink(), node.start, lambda: len(backend.counts()))
    finally:
        node.start()


@pytest.fixture(params=["postgres", "s3", "elasticsearch", "opensearch"])
def stopped(request: pytest.FixtureRequest) -> Iterator[Stopped]:
    if request.param == "postgres":
        yield from _postgres()
    elif request.param == "s3":
        yield from _s3()
    else:
        fixture = "es_node" if request.param == "elasticsearch" else "opensearch_node"
        yield from _search(request.getfixturevalue(fixture), request.param)


def test_backend_down_at_start(stopped: Stopped, tmp_path: Path, daemons: Daemons) -> None:
    """Before any event the daemon is 200 degraded with the sink buffering (its error, state metric
    and health gauge saying so), events then wait in the disk buffer, and once the server starts
    every event is stored, the sink is ok and the daemon ready."""
    port = free_port()
    local = {"name": "local", "type": "file", "path": str(tmp_path / "out" / "{source}.jsonl")}
    sink = {**stopped.sink, "retry": {"initial_backoff": "100ms", "max_backoff": "1s"}}
    config = ops_config(tmp_path, port, sinks=[local, sink])
    proc = daemons.start(config)
    wait_for(lambda: reachable(port) or not proc.alive(), 60, 0.1, "the endpoint")
    wait_for(lambda: get_json(port, "/readyz")[1]["status"] != "not ready", 60, 0.1, "the start")
    status, body = get_json(port, "/readyz")
    name = stopped.name
    at_start = {
        "status": (status, body["status"]),
        "sink": body["sinks"][name]["status"],
        "said why": any(reason.startswith(f"sink {name} buffers to disk") for reason in body["degraded"]),
        "received": metric(port, "logflume_sink_events_received_total", sink=name),
        "state metric": metric(port, "logflume_sink_state", sink=name, state="buffering"),
        "healthy metric": metric(port, "logflume_sink_healthy", sink=name),
        "ready metric": metric(port, "logflume_ready_state", state="degraded"),
    }
    expected = {
        "status": (200, "degraded"), "sink": "buffering", "said why": True, "received": 0.0,
        "state metric": 1.0, "healthy metric": 0.0, "ready metric": 1.0,
    }  # fmt: skip
    assert expected == at_start, body
    assert body["sinks"][name]["error"]

    write_lines(tmp_path, LINES, seed=5)
    wait_for(lambda: metric(port, "logflume_sink_events_received_total", sink=name) == LINES, 120, 0.2,
             "the events handed to the sink")  # fmt: skip
    stopped.start()
    wait_for(lambda: stopped.stored() == LINES, 240, 0.5, "every event stored")
    wait_for(lambda: get_json(port, "/readyz")[1]["status"] == "ready", 60, 0.2, "ready")
    assert 1.0 == metric(port, "logflume_sink_state", sink=name, state="ok")
    assert proc.stop() == 0
