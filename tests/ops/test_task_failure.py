"""An internal task that dies is a visible failure: logged with its name, counted, health red,
and the daemon exits 1 (never 0), so systemd restarts it.

The fault is real: the checkpoint directory is replaced by a regular file while the daemon runs,
so the checkpointer cannot write and dies.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import orjson

from logflume.app import Daemon
from logflume.config import load_config
from logflume.ops.health import LoopMonitor, liveness, readiness
from logflume.ops.metrics import Metrics
from tests.daemonproc import Daemons, append_lines, read_output, write_config
from tests.ops.helpers import write_lines
from tests.waiting import until, wait_for


def break_checkpoints(tmp: Path) -> None:
    """Put a regular file where the checkpoint directory is."""
    checkpoints = tmp / "state" / "checkpoints"
    shutil.rmtree(checkpoints)
    checkpoints.write_text("not a directory\n")


async def test_dead_task_turns_health_red_and_is_counted(tmp_path: Path) -> None:
    """The checkpointer dying: /healthz and /readyz name it, logflume_task_failures counts it, and
    the daemon's wait ends with its error."""
    daemon = Daemon(load_config(write_config(tmp_path)))
    write_lines(tmp_path, 50, seed=1)
    await daemon.start()
    try:
        await until(lambda: (tmp_path / "state" / "checkpoints").is_dir(), "a first checkpoint")
        break_checkpoints(tmp_path)
        write_lines(tmp_path, 50, seed=2)  # a checkpoint becomes due
        await until(lambda: "checkpointer" in daemon.failed_tasks, "the checkpointer to fail")
        failure = await asyncio.wait_for(daemon.wait(asyncio.Event()), 60)
        alive, health = liveness(daemon, LoopMonitor())
        ready, readiness_body = readiness(daemon)
        metrics = Metrics(daemon).render().decode()
    finally:
        await daemon.shutdown()
    assert (False, "unhealthy") == (alive, health["status"])
    assert any(p.startswith("internal task checkpointer failed: CheckpointError") for p in health["problems"])
    assert any(p.startswith("internal task checkpointer failed") for p in readiness_body["problems"])
    assert not ready
    assert 'logflume_task_failures_total{task="checkpointer"} 1.0' in metrics.splitlines()
    assert "CheckpointError" == type(failure).__name__


def test_daemon_with_a_dead_task_exits_1(tmp_path: Path, daemons: Daemons) -> None:
    """A real daemon whose checkpointer dies logs which task failed and exits 1, after
    delivering what it had read."""
    proc = daemons.start(write_config(tmp_path))
    write_lines(tmp_path, 50, seed=1)
    wait_for(lambda: (tmp_path / "state" / "checkpoints").is_dir(), 60, 0.1, "a first checkpoint")
    break_checkpoints(tmp_path)
    append_lines(tmp_path / "logs" / "app.log", b'{"message": "after"}\n')
    wait_for(lambda: not proc.alive(), 90, 0.2, "the daemon to exit")
    assert proc.proc is not None
    assert 1 == proc.proc.returncode
    failed = [
        record
        for record in (orjson.loads(line) for line in proc.logs().splitlines() if line.startswith("{"))
        if record.get("message") == "Internal task failed; stopping"
    ]
    assert [("checkpointer", "CheckpointError")] == [(r["task"], r["error_type"]) for r in failed]
    assert 50 <= len(read_output(tmp_path / "out"))
