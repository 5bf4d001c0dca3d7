"""An internal task that dies is a visible failure: logged with its name, counted, health red,
and the daemon exits 1 (never 0), so systemd restarts it.

No input, disk or config fault kills a task any more (each is isolated, retried or refused: see
the tests under tests/faults and tests/spine), so what is left is a bug: the tests plant one in
the checkpointer, in process and in a real daemon started by a launcher script.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson

from logflume.app import Daemon
from logflume.config import load_config
from logflume.ops.health import LoopMonitor, liveness, readiness
from logflume.ops.metrics import Metrics
from tests.daemonproc import Daemons, append_lines, read_output, write_config
from tests.ops.helpers import write_lines
from tests.waiting import until, wait_for


class PlantedBug(RuntimeError):
    """What the planted bug raises."""


# Runs the daemon with a checkpointer that raises once a first checkpoint was saved.
LAUNCHER = """
import sys
from logflume import app
from logflume.cli import main

class PlantedBug(RuntimeError):
    pass

saved = app.Daemon.save_checkpoints
async def save_checkpoints(self, sources=None):
    if (self.config.state_dir / "checkpoints").is_dir() and sources is None:
        raise PlantedBug("a bug in the checkpointer")
    return await saved(self, sources)

app.Daemon.save_checkpoints = save_checkpoints
sys.exit(main(sys.argv[1:]))
"""


async def test_dead_task_turns_health_red_and_is_counted(tmp_path: Path) -> None:
    """The checkpointer dying: /healthz and /readyz name it, logflume_task_failures counts it, and
    the daemon's wait ends with its error."""
    daemon = Daemon(load_config(write_config(tmp_path)))
    write_lines(tmp_path, 50, seed=1)
    await daemon.start()
    try:
        await until(lambda: (tmp_path / "state" / "checkpoints").is_dir(), "a first checkpoint")

        async def broken(sources: object = None) -> None:
            raise PlantedBug("a bug in the checkpointer")

        daemon.save_checkpoints = broken  # type: ignore[method-assign]
        await until(lambda: "checkpointer" in daemon.failed_tasks, "the checkpointer to fail")
        failure = await asyncio.wait_for(daemon.wait(asyncio.Event()), 60)
        alive, health = liveness(daemon, LoopMonitor())
        ready, readiness_body = readiness(daemon)
        metrics = Metrics(daemon).render().decode()
    finally:
        vars(daemon).pop("save_checkpoints", None)  # the bug was in the task, not in shutdown's save
        await daemon.shutdown()
    assert (False, "unhealthy") == (alive, health["status"])
    assert any(p.startswith("internal task checkpointer failed: PlantedBug") for p in health["problems"])
    assert any(p.startswith("internal task checkpointer failed") for p in readiness_body["problems"])
    assert not ready
    assert 'logflume_task_failures_total{task="checkpointer"} 1.0' in metrics.splitlines()
    assert "PlantedBug" == type(failure).__name__


def test_daemon_with_a_dead_task_exits_1(tmp_path: Path, daemons: Daemons) -> None:
    """A real daemon whose checkpointer dies logs which task failed and exits 1, after
    delivering what it had read."""
    launcher = tmp_path / "launcher.py"
    launcher.write_text(LAUNCHER)
    config = write_config(tmp_path)
    write_lines(tmp_path, 50, seed=1)
    proc = daemons.start(config, launcher)
    wait_for(lambda: (tmp_path / "state" / "checkpoints").is_dir(), 60, 0.1, "a first checkpoint")
    append_lines(tmp_path / "logs" / "app.log", b'{"message": "after"}\n')
    wait_for(lambda: not proc.alive(), 90, 0.2, "the daemon to exit")
    assert proc.proc is not None
    assert 1 == proc.proc.returncode
    failed = [
        record
        for record in (orjson.loads(line) for line in proc.logs().splitlines() if line.startswith("{"))
        if record.get("message") == "Internal task failed; stopping"
    ]
    assert [("checkpointer", "PlantedBug")] == [(r["task"], r["error_type"]) for r in failed]
    assert 50 <= len(read_output(tmp_path / "out"))
