"""Health judgements: is the process alive, is it ready for traffic, is its pipeline making progress.

Each answer is a plain dict (the HTTP endpoint returns it as JSON) that says what is wrong, not
just that something is.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from logflume.ops.view import DaemonView
from logflume.sinks.runner import SinkRunner

# A loop that woke this late from a short sleep is too busy (or was blocked) to be called healthy.
MAX_LOOP_LAG = 5.0


class LoopMonitor:
    """Measures how late the event loop wakes from short sleeps (see :meth:`run`)."""

    INTERVAL = 0.5

    def __init__(self) -> None:
        self.lag = 0.0
        self.beat = time.monotonic()

    async def run(self) -> None:
        while True:
            started = time.monotonic()
            await asyncio.sleep(self.INTERVAL)
            self.beat = time.monotonic()
            self.lag = max(0.0, self.beat - started - self.INTERVAL)


def task_problems(view: DaemonView) -> list[str]:
    """One line per internal task that died (the daemon is then stopping, to exit 1)."""
    return [f"internal task {name} failed: {error}" for name, error in sorted(view.failed_tasks.items())]


def liveness(view: DaemonView, monitor: LoopMonitor) -> tuple[bool, dict[str, Any]]:
    """Alive: this answer came from the event loop, it does not lag behind its timers, and no
    internal task died."""
    problems = task_problems(view)
    if monitor.lag > MAX_LOOP_LAG:
        problems.append(f"event loop lags {monitor.lag:.1f}s behind its timers")
    body: dict[str, Any] = {
        "status": "ok" if not problems else "unhealthy",
        "loop_lag_seconds": round(monitor.lag, 3),
        "seconds_since_progress": round(time.monotonic() - view.stats.last_progress, 3),
    }
    if problems:
        body["problems"] = problems
    return not problems, body


def sink_state(runner: SinkRunner) -> tuple[bool, dict[str, Any]]:
    """A sink is ready when it writes fine, or its backend is down but a disk buffer takes the
    events and has room left (the pipeline keeps moving); otherwise it holds up every source."""
    stats = runner.stats
    info: dict[str, Any] = {"buffer": runner.buffer_type, "memory_events": stats.memory_events}
    if runner.buffer_type == "disk":
        info["disk_bytes"] = stats.disk_bytes
    if runner.healthy:
        info["status"] = "ok"
        return True, info
    info["error"] = stats.last_error
    limit = runner.config.buffer.max_disk_bytes
    if runner.buffer_type == "disk" and not stats.blocked and stats.disk_bytes < limit:
        info["status"] = "buffering"
        return True, info
    info["status"] = "unreachable"
    return False, info


def readiness(view: DaemonView) -> tuple[bool, dict[str, Any]]:
    """Ready: started, not stopping, no internal task dead, every source following its files, every
    sink writing or buffering."""
    problems = task_problems(view)
    if view.stopping:
        problems.append("shutting down")
    elif not view.ready:
        problems.append("starting")
    sources: dict[str, Any] = {}
    for name, source in view.sources.items():
        running = view.source_running(name)
        sources[name] = {"running": running, "files_open": source.stats.files_open}
        if not running and not view.stopping:
            problems.append(f"source {name} is not running")
    sinks: dict[str, Any] = {}
    for runner in view.all_runners():
        ok, info = sink_state(runner)
        sinks[runner.name] = info
        if not ok:
            why = f"its {runner.buffer_type} buffer cannot take more: {info.get('error')}"
            problems.append(f"sink {runner.name} is unreachable and {why}")
    body: dict[str, Any] = {
        "status": "ready" if not problems else "not ready",
        "sources": sources,
        "sinks": sinks,
    }
    if problems:
        body["problems"] = problems
    return not problems, body


class ProgressMonitor:
    """Decides, each time it is asked, whether the pipeline moved since it was last asked.

    Progress is events moving (read, processed, accepted by a sink) or nothing waiting to move:
    an idle daemon with no input is healthy; one holding input it cannot pass on is stalled.
    """

    def __init__(self, view: DaemonView) -> None:
        self.view = view
        self._last: tuple[int, ...] | None = None

    def _position(self) -> tuple[int, ...]:
        view = self.view
        position = [view.stats.chunks, view.stats.events_out]
        for runner in view.all_runners():
            s = runner.stats
            # The disk gauge too: spilling to disk moves events as much as sending them does.
            position += (s.events_sent, s.events_dead_lettered, s.events_dropped, s.disk_events)
        return tuple(position)

    def waiting(self) -> int:
        """Chunks read but not yet accepted by every sink, plus chunks queued for the processor."""
        return self.view.queue.qsize() + sum(source.in_flight() for source in self.view.sources.values())

    def check(self) -> bool:
        """True when something moved since the previous call, or nothing is waiting."""
        position = self._position()
        moved = position != self._last
        self._last = position
        return moved or self.waiting() == 0
