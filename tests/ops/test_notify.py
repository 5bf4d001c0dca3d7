"""systemd's notify protocol over a real NOTIFY_SOCKET: READY, WATCHDOG (only while progressing), STOPPING."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from logflume.fsutil import WriteFaults
from logflume.ops.health import ProgressMonitor
from logflume.ops.notify import Notifier
from logflume.ops.view import PipelineStats
from tests.ops.helpers import free_port, get_json, messages, ops_config, running, wait_for, write_lines


@pytest.fixture
def notify_socket() -> Iterator[tuple[str, socket.socket]]:
    """A datagram socket in the abstract namespace: (the NOTIFY_SOCKET value, the bound socket)."""
    name = f"logflume-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(30)
    yield "@" + name, sock
    sock.close()


def receive(sock: socket.socket) -> dict[str, str]:
    """One datagram as a dict of its KEY=value lines."""
    data = sock.recv(4096).decode()
    return dict(line.split("=", 1) for line in data.splitlines())


def receive_for(sock: socket.socket, seconds: float) -> list[dict[str, str]]:
    """Every datagram that arrives within ``seconds``."""
    seen = []
    end = time.monotonic() + seconds
    try:
        while (left := end - time.monotonic()) > 0:
            sock.settimeout(left)
            seen.append(receive(sock))
    except TimeoutError:
        pass
    finally:
        sock.settimeout(30)
    return seen


def receive_until(sock: socket.socket, key: str) -> list[dict[str, str]]:
    """Datagrams up to and including the first that carries ``key``."""
    seen = []
    while True:
        message = receive(sock)
        seen.append(message)
        if key in message:
            return seen


class TestNotifier:
    def test_path_socket(self, tmp_path: Path) -> None:
        """With NOTIFY_SOCKET naming a path, READY=1, a status and the main pid arrive in one datagram."""
        path = tmp_path / "notify.sock"
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind(str(path))
            sent = Notifier({"NOTIFY_SOCKET": str(path)}).ready()
            message = receive(sock)
        assert sent
        assert {"READY": "1", "STATUS": "Running", "MAINPID": str(os.getpid())} == message

    def test_abstract_socket(self, notify_socket: tuple[str, socket.socket]) -> None:
        """An @name reaches the abstract-namespace socket of that name."""
        address, sock = notify_socket
        Notifier({"NOTIFY_SOCKET": address}).stopping()
        assert receive(sock)["STOPPING"] == "1"

    def test_without_systemd_does_nothing(self) -> None:
        """No NOTIFY_SOCKET: nothing is sent and nothing fails."""
        notifier = Notifier({})
        assert (notifier.enabled, notifier.ready()) == (False, False)

    def test_watchdog_interval_only_for_this_process(self) -> None:
        """WATCHDOG_USEC counts only when WATCHDOG_PID is unset or this process."""
        mine = Notifier({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())})
        other = Notifier({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"})
        assert (mine.watchdog_seconds, other.watchdog_seconds) == (30.0, None)

    async def test_watchdog_pings_only_while_progressing(
        self, notify_socket: tuple[str, socket.socket]
    ) -> None:
        """One ping per progressing check; a stall is reported once and withholds pings until progress."""
        address, sock = notify_socket
        notifier = Notifier({"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "20000"})
        answers = iter([True, False, False, True])
        done = asyncio.Event()

        def progressing() -> bool:
            answer = next(answers, None)
            if answer is None:
                done.set()
                return False
            return answer

        task = asyncio.create_task(notifier.watchdog(progressing))
        await done.wait()
        task.cancel()
        sock.setblocking(False)
        received = []
        while True:
            try:
                received.append(sock.recv(4096).decode())
            except BlockingIOError:
                break
        assert received == ["WATCHDOG=1", "STATUS=Pipeline stalled", "WATCHDOG=1", "STATUS=Pipeline stalled"]


@dataclass
class FakeRunnerStats:
    events_sent: int = 0
    events_dead_lettered: int = 0
    events_dropped: int = 0
    disk_events: int = 0


@dataclass
class FakeRunner:
    stats: FakeRunnerStats = field(default_factory=FakeRunnerStats)
    healthy: bool = True


@dataclass
class FakeSource:
    pending: int = 0

    def in_flight(self) -> int:
        return self.pending


@dataclass
class FakeDeadLetters:
    held: int = 0


@dataclass
class FakeView:
    stats: PipelineStats = field(default_factory=PipelineStats)
    runner: FakeRunner = field(default_factory=FakeRunner)
    source: FakeSource = field(default_factory=FakeSource)
    queue: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    faults: WriteFaults = field(default_factory=lambda: WriteFaults(logging.getLogger("t"), "dead letters"))
    dead_letters: FakeDeadLetters = field(default_factory=FakeDeadLetters)

    @property
    def sources(self) -> dict[str, FakeSource]:
        return {"proxy": self.source}

    def all_runners(self) -> list[FakeRunner]:
        return [self.runner]

    def write_faults(self) -> list[tuple[str, str, WriteFaults]]:
        return [("dead_letter", "", self.faults)]


class TestProgressMonitor:
    def test_idle_is_progress(self) -> None:
        """Nothing moved and nothing waits: healthy."""
        view = FakeView()
        monitor = ProgressMonitor(view)  # type: ignore[arg-type]
        assert [monitor.check(), monitor.check()] == [True, True]

    def test_waiting_without_movement_is_a_stall(self) -> None:
        """Chunks in flight and no counter moved since the last check: stalled; a sent event ends it."""
        view = FakeView()
        monitor = ProgressMonitor(view)  # type: ignore[arg-type]
        view.source.pending = 3
        first, stalled = monitor.check(), monitor.check()
        view.runner.stats.events_sent += 10
        assert [first, stalled, monitor.check()] == [True, False, True]

    @pytest.mark.parametrize("fault", ["backend down", "state write failing", "dead letters held"])
    def test_waiting_on_a_known_fault_is_not_a_stall(self, fault: str) -> None:
        """Input held back by a fault the daemon retries (a failing backend, a refused disk, dead
        letters waiting for the disk) keeps the watchdog fed: a restart would cure none of them."""
        view = FakeView()
        monitor = ProgressMonitor(view)  # type: ignore[arg-type]
        view.source.pending = 3
        if fault == "backend down":
            view.runner.healthy = False
        elif fault == "state write failing":
            view.faults.failed("/state/x", OSError(28, "No space left on device"))
        else:
            view.dead_letters.held = 2
        assert [monitor.check(), monitor.check()] == [True, True]


class TestDaemonNotifies:
    def test_ready_watchdog_stopping(
        self, tmp_path: Path, notify_socket: tuple[str, socket.socket], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A real `logflume run` under NOTIFY_SOCKET/WATCHDOG_USEC: READY=1 with its pid, then
        WATCHDOG=1 pings while idle, then STOPPING=1 on SIGTERM."""
        address, sock = notify_socket
        monkeypatch.setenv("NOTIFY_SOCKET", address)
        monkeypatch.setenv("WATCHDOG_USEC", "400000")
        port = free_port()
        with running(ops_config(tmp_path, port), port) as proc:
            ready = receive_until(sock, "READY")
            pings = receive_until(sock, "WATCHDOG")
            assert proc.proc is not None
            proc.proc.send_signal(signal.SIGTERM)
            stopping = receive_until(sock, "STOPPING")
            assert proc.proc.wait(60) == 0
        assert [{"READY": "1", "STATUS": "Running", "MAINPID": str(proc.pid)}] == ready
        assert pings == [{"WATCHDOG": "1"}]
        assert stopping[-1] == {"STOPPING": "1", "STATUS": "Draining and stopping"}

    def test_backend_down_keeps_the_watchdog_fed(
        self, tmp_path: Path, notify_socket: tuple[str, socket.socket], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Input held up by a dead backend (memory buffer): the daemon keeps pinging the watchdog
        while it retries (a restart would not bring the backend back) and /readyz says not ready."""
        address, sock = notify_socket
        monkeypatch.setenv("NOTIFY_SOCKET", address)
        monkeypatch.setenv("WATCHDOG_USEC", "400000")
        port = free_port()
        config = ops_config(tmp_path, port, shutdown_timeout="1s")
        data = yaml.safe_load(config.read_text())
        data["sinks"].append(
            {
                "name": "db",
                "type": "postgres",
                "dsn": f"postgresql://logflume@127.0.0.1:{free_port()}/logs",
                "connect_timeout": "1s",
                "buffer": {"type": "memory"},
            }
        )
        config.write_text(yaml.safe_dump(data))
        with running(config, port) as proc:
            receive_until(sock, "READY")
            write_lines(tmp_path, 10, seed=2)
            down = "Sink is unreachable; will retry"
            wait_for(lambda: down in messages(proc), 60, 0.1, "the failing backend")
            # Five watchdog intervals in which pings must keep coming.
            held = receive_for(sock, 1.0)
            status, body = get_json(port, "/readyz")
            assert proc.proc is not None
            proc.proc.send_signal(signal.SIGTERM)
            receive_until(sock, "STOPPING")
            proc.proc.wait(60)
        assert {"WATCHDOG": "1"} in held
        assert (503, "not ready") == (status, body["status"])
        assert "Pipeline stalled; watchdog pings withheld" not in messages(proc)
