"""SIGHUP with a hostile or absurd config file: the running config stays, and the daemon says why."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from tests.daemonproc import DaemonProcess, read_output, request_ids
from tests.hostile_configs import CASES, write_hostile
from tests.ops.helpers import free_port, log_records, metric, ops_config, running, wait_for, write_lines

REFUSED = "Config reload failed; keeping the running config"


def refusals(proc: DaemonProcess) -> list[dict[str, Any]]:
    return [record for record in log_records(proc) if record["message"] == REFUSED]


def delivered(tmp: Path, seed: int, count: int) -> bool:
    wanted = {f"req_{seed}_{seq:010d}" for seq in range(count)}
    return wanted <= set(request_ids(read_output(tmp / "out")))


def test_every_hostile_file_is_refused_and_the_daemon_runs_on(tmp_path: Path) -> None:
    """Each hostile file on SIGHUP gives exactly one structured error line naming its problem; no
    traceback or other stray output reaches stderr, and events written before and after all the
    refused reloads are delivered by the running config."""
    port = free_port()
    config = ops_config(tmp_path, port)
    valid = config.read_text()
    with running(config, port) as proc:
        write_lines(tmp_path, 100, seed=21)
        wait_for(lambda: delivered(tmp_path, 21, 100), 60, 0.1, "events before the reloads")
        assert proc.proc is not None
        for count, case in enumerate(CASES, 1):
            write_hostile(config, case, valid)
            proc.proc.send_signal(signal.SIGHUP)
            wait_for(lambda n=count: len(refusals(proc)) >= n, 60, 0.1, f"the refusal of {case.name}")
        write_lines(tmp_path, 100, seed=22)
        wait_for(lambda: delivered(tmp_path, 22, 100), 60, 0.1, "events after the reloads")
        failed = metric(port, "logflume_reloads_total", result="failed")
        alive = proc.alive()
        assert proc.stop() == 0
    records = refusals(proc)
    named = {
        case.name: any(case.message in issue for issue in record["issues"])
        for case, record in zip(CASES, records, strict=True)
    }
    assert {case.name: True for case in CASES} == named
    assert (True, len(CASES)) == (alive, failed)
    stray = [line for line in proc.logs().splitlines() if not line.startswith("{")]
    assert [] == stray
