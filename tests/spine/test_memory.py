"""With the sink unable to write, memory stays bounded while input waits; nothing is lost."""

from __future__ import annotations

import re
import time
from pathlib import Path

import psutil

from logflume.generate import write_file
from tests.daemonproc import Daemons, write_config
from tests.waiting import wait_for

TARGET_BYTES = 1024**3
RSS_LIMIT = 150 * 1024**2


def count_output(out: Path) -> tuple[int, int]:
    """(lines, distinct request ids) in the plain output files."""
    lines = 0
    ids: set[bytes] = set()
    pattern = re.compile(rb'"request_id":"(req_\d+_\d+)"')
    for path in out.rglob("*.jsonl"):
        data = path.read_bytes()
        lines += data.count(b"\n")
        ids.update(pattern.findall(data))
    return lines, len(ids)


def test_rss_bounded_while_sink_blocked(tmp_path: Path, daemons: Daemons) -> None:
    """1 GB waits behind a sink that cannot write: RSS stays under 150 MB, then all of it arrives."""
    logs = tmp_path / "logs"
    logs.mkdir()
    total = 0
    seed = 0
    while sum(p.stat().st_size for p in logs.iterdir()) < TARGET_BYTES:
        seed += 1
        count = 400_000
        write_file(logs / f"part{seed}.log", count, seed)
        total += count
    blocker = tmp_path / "out"
    blocker.write_text("a file where the sink wants a directory\n")  # root ignores permissions
    config = write_config(
        tmp_path,
        sink={
            "rotation": {"max_size": "10GB"},
            "retry": {"initial_backoff": "100ms", "max_backoff": "500ms"},
        },
    )
    proc = daemons.start(config)
    process = psutil.Process(proc.pid)
    peak = 0
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        peak = max(peak, process.memory_info().rss)
        time.sleep(0.1)
    assert proc.alive()
    assert "Sink write failed" in proc.logs()
    blocker.unlink()

    def drained() -> bool:
        nonlocal peak
        peak = max(peak, process.memory_info().rss)
        return count_output(tmp_path / "out")[0] >= total

    wait_for(drained, 600, 2.0, "all lines after unblocking")
    assert proc.stop(120) == 0
    assert peak < RSS_LIMIT, f"peak RSS {peak / 2**20:.0f} MiB"
    assert count_output(tmp_path / "out") == (total, total)
