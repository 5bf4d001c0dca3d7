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
from logflume.sources.notices import MISSING, WAITING

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


# Readiness levels (``status`` of /readyz; ``logflume_ready_state``).
READY = "ready"  # everything works
DEGRADED = "degraded"  # running and losing nothing, but something needs a look (200)
NOT_READY = "not ready"  # cannot make progress, or is starting/stopping (503)
READY_STATES = (READY, DEGRADED, NOT_READY)

# Sink states (``logflume_sink_state``).
SINK_OK = "ok"  # the last write (or set-up) worked
SINK_BUFFERING = "buffering"  # the backend fails; its events go to a disk buffer with room left
SINK_UNREACHABLE = "unreachable"  # the backend fails and the events can only wait in memory
SINK_BLOCKED = "blocked"  # the disk buffer is full (when_full: block) or its disk refuses writes
SINK_STATES = (SINK_OK, SINK_BUFFERING, SINK_UNREACHABLE, SINK_BLOCKED)


def sink_state(runner: SinkRunner) -> str:
    """How one sink is doing (see SINK_STATES); only ``ok`` and ``buffering`` keep the pipeline moving."""
    faults = runner.disk_faults
    if runner.stats.blocked or (runner.spilling and faults is not None and faults.failing):
        return SINK_BLOCKED
    if runner.healthy:
        return SINK_OK
    return SINK_BUFFERING if runner.buffer_type == "disk" else SINK_UNREACHABLE


def _sink_info(runner: SinkRunner, state: str) -> dict[str, Any]:
    stats = runner.stats
    info: dict[str, Any] = {"status": state, "buffer": runner.buffer_type}
    info["memory_events"] = stats.memory_events
    if runner.buffer_type == "disk":
        info["disk_bytes"] = stats.disk_bytes
    if state != SINK_OK:
        info["error"] = stats.last_error
    return info


def readiness(view: DaemonView) -> tuple[bool, dict[str, Any]]:
    """Ready, degraded or not ready (False), with every reason.

    Not ready (503): starting or stopping, an internal task died, a sink can take no more events
    (its backend is down and it has only memory, or its disk buffer is full or refused), dead
    letters wait for the disk, or no source can ever follow a file (every source's globs lie in a
    directory that does not exist). Degraded (200): a sink buffers to disk while its backend is
    down, a source follows no file yet or some of its files cannot be read, or checkpoints cannot
    be saved; nothing is lost yet, but an operator should look.
    """
    problems = task_problems(view)
    degraded: list[str] = []
    if view.stopping:
        problems.append("shutting down")
    elif not view.ready:
        problems.append("starting")
    sources, no_source_can_follow = _sources(view, problems, degraded)
    if no_source_can_follow:
        problems.append("no source follows any file, and none can: their log directories do not exist")
    sinks: dict[str, Any] = {}
    for runner in view.all_runners():
        state = sink_state(runner)
        sinks[runner.name] = info = _sink_info(runner, state)
        if state == SINK_BUFFERING:
            degraded.append(f"sink {runner.name} buffers to disk: {info['error']}")
        elif state == SINK_UNREACHABLE:
            why = f"its {runner.buffer_type} buffer cannot take more: {info['error']}"
            problems.append(f"sink {runner.name} is unreachable and {why}")
        elif state == SINK_BLOCKED:
            problems.append(f"sink {runner.name} is blocked: its disk buffer is full or cannot be written")
    if view.dead_letters.held:
        problems.append(f"{view.dead_letters.held} dead letters wait for the disk to take them")
    for kind, name, faults in view.write_faults():
        if kind == "checkpoint" and faults.failing:
            degraded.append(f"checkpoints of source {name} cannot be saved")
    status = NOT_READY if problems else DEGRADED if degraded else READY
    body: dict[str, Any] = {"status": status, "sources": sources, "sinks": sinks}
    if problems:
        body["problems"] = problems
    if degraded:
        body["degraded"] = degraded
    return not problems, body


def ready_state(view: DaemonView) -> str:
    """The ``status`` :func:`readiness` reports."""
    return str(readiness(view)[1]["status"])


def _sources(view: DaemonView, problems: list[str], degraded: list[str]) -> tuple[dict[str, Any], bool]:
    """Each source's entry; True when no source follows a file and none can (directories missing)."""
    sources: dict[str, Any] = {}
    states = []
    for name, source in view.sources.items():
        running = view.source_running(name)
        state = source.notices.state
        states.append(state)
        entry: dict[str, Any] = {"running": running, "state": state, "files_open": source.stats.files_open}
        sources[name] = entry
        if not running and not view.stopping:
            problems.append(f"source {name} is not running")
        if state == WAITING:
            globs = ", ".join(source.config.include)
            degraded.append(f"source {name} follows no file yet: nothing matches {globs}")
        elif state == MISSING:
            entry["missing_directories"] = source.notices.missing
            missing = ", ".join(source.notices.missing)
            degraded.append(f"source {name} follows no file: {missing} does not exist")
        if source.unreadable:
            entry["unreadable"] = sorted(source.unreadable)
            degraded.append(f"source {name} cannot read {len(source.unreadable)} files")
    none_can = bool(states) and all(state == MISSING for state in states)
    return sources, none_can


class ProgressMonitor:
    """Decides, each time it is asked, whether the pipeline moved since it was last asked.

    Progress is events moving (read, processed, accepted by a sink), nothing waiting to move (an
    idle daemon with no input is healthy), or input held back by a fault the daemon knows and keeps
    retrying: a sink whose backend fails, a disk that refuses local state, dead letters waiting for
    the disk. A restart cures none of those (and repeated restarts make systemd give up on the
    service), while /readyz and the metrics already say what is wrong. What is left is a stall
    nobody explains: input waiting, nothing moving, nothing failing.
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

    def held_by_known_fault(self) -> bool:
        """A sink's backend fails, a write of local state fails, or dead letters wait for the disk."""
        view = self.view
        return (
            any(not runner.healthy for runner in view.all_runners())
            or any(faults.failing for _, _, faults in view.write_faults())
            or view.dead_letters.held > 0
        )

    def check(self) -> bool:
        """True when something moved since the previous call, nothing is waiting, or what waits is
        held back by a known fault being retried."""
        position = self._position()
        moved = position != self._last
        self._last = position
        return moved or self.waiting() == 0 or self.held_by_known_fault()
