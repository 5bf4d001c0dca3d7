"""A daemon with worker processes, for real: a worker killed mid-stream loses and reorders nothing,
the workers end with the daemon however it ends, and workers follow reloads and lookup tables."""

from __future__ import annotations

import os
import signal
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import psutil
import yaml

from logflume.generate import generate_rotating
from logflume.generate import lines as sample_lines
from tests.daemonproc import DaemonProcess, Daemons, append_lines, read_output, request_ids, write_config
from tests.ops.helpers import free_port, messages, metric, started
from tests.waiting import wait_for

LINES = 60_000


def workers_of(proc: DaemonProcess) -> list[int]:
    """The pids of the daemon's worker processes (its children running logflume.workers.process).
    Other children come and go at startup (a library's helper command); one that has just exited is
    a zombie whose command line cannot be read, and is not a worker."""
    pids = []
    for child in psutil.Process(proc.pid).children():
        try:
            command = " ".join(child.cmdline())
        except psutil.Error:  # exited meanwhile (zombie or gone)
            continue
        if "logflume.workers.process" in command:
            pids.append(child.pid)
    return pids


def in_read_order(events: list[dict[str, Any]]) -> bool:
    """Each file's events appear in the output in the order of their offsets in the file."""
    last: dict[str, int] = defaultdict(lambda: -1)
    for event in events:
        fingerprint, offset = event["logflume"]["event_id"].rsplit("-", 1)
        if int(offset, 16) <= last[fingerprint]:
            return False
        last[fingerprint] = int(offset, 16)
    return True


def alive(pids: list[int]) -> list[int]:
    """The pids still running (not exited, not a zombie waiting for its parent)."""
    running = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                running.append(pid)
        except psutil.NoSuchProcess:
            continue
    return running


def test_a_killed_worker_loses_and_reorders_nothing(tmp_path: Path, daemons: Daemons) -> None:
    """SIGKILL of a worker holding chunks (stopped first, until the pipeline waits for it, so it
    surely holds some) while 60,000 lines with rotation are read: the daemon starts another worker,
    every line arrives exactly once and in the order it was read, and the daemon exits 0."""
    port = free_port()
    config = write_config(
        tmp_path,
        workers=2,
        source={"include": [str(tmp_path / "logs" / "app.log*")]},
        http={"address": f"127.0.0.1:{port}"},
    )
    proc = daemons.start(config)
    wait_for(lambda: started(port), 60, 0.1, "the daemon to start (its workers ready)")
    victim = workers_of(proc)[0]
    os.kill(victim, signal.SIGSTOP)
    generate_rotating(tmp_path / "logs", LINES, 20_000, 0.0, 4, "app.log")
    # The results are applied in read order: with the victim stopped, the pipeline stalls at its
    # first chunk and the read queue fills up.
    wait_for(lambda: metric(port, "logflume_pipeline_queue_chunks") == 4, 60, 0.1, "the pipeline to wait")
    os.kill(victim, signal.SIGKILL)
    want = {f"req_4_{seq:010d}" for seq in range(LINES)}
    wait_for(lambda: want <= set(request_ids(read_output(tmp_path / "out"))), 120, 0.3, "every line")
    assert victim not in workers_of(proc)
    assert 2 == len(workers_of(proc))
    assert 0 == proc.stop()
    events = read_output(tmp_path / "out")
    counts = request_ids(events)
    assert (want, 1) == (set(counts), max(counts.values()))
    assert in_read_order(events)
    assert "Worker process died; starting another and sending it the chunks it held" in messages(proc)


def test_workers_end_with_a_killed_daemon(tmp_path: Path, daemons: Daemons) -> None:
    """kill -9 of the daemon: its workers see their input end and exit by themselves."""
    proc = daemons.start(write_config(tmp_path, workers=2))
    wait_for(lambda: len(workers_of(proc)) == 2, 60, 0.1, "two workers")
    pids = workers_of(proc)
    proc.kill9()
    wait_for(lambda: not alive(pids), 60, 0.1, "the workers to exit")
    assert [] == alive(pids)


def test_workers_follow_reloads_and_lookup_tables(tmp_path: Path, daemons: Daemons) -> None:
    """Workers enrich from a lookup table that is read again when it changes, and a SIGHUP with a new
    filter reaches them: lines after it are filtered in the workers too."""
    table = tmp_path / "users.csv"
    table.write_text("user_id,team\nuser_000487,before\n")
    users = {"path": str(table), "reload_interval": "100ms"}
    config = write_config(tmp_path, workers=2, pipeline={"enrich": {"users": users}})
    proc = daemons.start(config)
    wait_for(lambda: len(workers_of(proc)) == 2, 60, 0.1, "two workers")
    log = tmp_path / "logs" / "app.log"

    def teams(seed: int) -> set[str]:
        prefix = f"req_{seed}_"
        return {
            event["user"]["team"]
            for event in read_output(tmp_path / "out")
            if str(event.get("request_id", "")).startswith(prefix) and "user" in event
        }

    append_lines(log, b"".join(sample_lines(2000, seed=1)))  # ~1.2 MB: chunks for the workers
    wait_for(lambda: teams(1) == {"before"}, 60, 0.2, "the first table")
    table.write_text("user_id,team\nuser_000487,after\n")
    changed = time.monotonic()
    # Past the reload interval: the next chunk makes every worker look at the file again.
    wait_for(lambda: time.monotonic() - changed > 0.5, 5, 0.1, "the reload interval")
    append_lines(log, b"".join(sample_lines(2000, seed=2)))
    wait_for(lambda: teams(2) == {"after"}, 60, 0.2, "the new table in the workers")
    data = yaml.safe_load(config.read_text())
    data["pipeline"]["filter"] = {"rules": [{"when": 'level == "DEBUG"', "action": "drop"}]}
    config.write_text(yaml.safe_dump(data))
    assert proc.proc is not None
    proc.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "Config reloaded" in messages(proc), 60, 0.2, "the reload")
    append_lines(log, b"".join(sample_lines(2000, seed=3)))
    want = {f"req_3_{seq:010d}" for seq in range(2000)}

    def third() -> list[dict[str, Any]]:
        return [event for event in read_output(tmp_path / "out") if event.get("request_id") in want]

    wait_for(lambda: len(third()) > 1500, 60, 0.2, "the third block")
    assert 0 == proc.stop()
    assert "DEBUG" not in {event["level"] for event in third()}
    assert "INFO" in {event["level"] for event in third()}


def test_a_few_lines_are_processed_in_the_daemon(tmp_path: Path, daemons: Daemons) -> None:
    """A few lines at the end of a file (the reader has caught up) are processed in the daemon's
    own process: delivered even while every worker is stopped."""
    port = free_port()
    proc = daemons.start(write_config(tmp_path, workers=2, http={"address": f"127.0.0.1:{port}"}))
    wait_for(lambda: started(port), 60, 0.1, "the daemon to start (its workers ready)")
    pids = workers_of(proc)
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        append_lines(tmp_path / "logs" / "app.log", b"".join(sample_lines(10, seed=6)))
        want = {f"req_6_{seq:010d}" for seq in range(10)}
        wait_for(lambda: want <= set(request_ids(read_output(tmp_path / "out"))), 60, 0.1, "the lines")
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    assert 0 == proc.stop()
    assert want == set(request_ids(read_output(tmp_path / "out")))
