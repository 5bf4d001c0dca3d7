"""kill -9 of the daemon at random moments loses nothing and re-delivers only what the checkpoint
did not cover at the kill."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import orjson
import pytest

from logflume.generate import generate_rotating
from tests.daemonproc import Daemons, read_output, request_ids, write_config
from tests.waiting import wait_for

LINES = 100_000
READ_BYTES = 64 * 1024
QUEUE_CHUNKS = 4
QUEUE_BATCHES = 8
RATE = 20_000.0  # lines/s written by the "service"
CHECKPOINT_INTERVAL = 0.1


def uncovered(tmp: Path) -> int:
    """Events in the output that the saved checkpoint does not cover: all a restart may send again.

    Read after a kill, so neither file moves meanwhile; a line covered by the checkpoint (its
    offset below the file's acknowledged offset) must never be delivered twice.
    """
    path = tmp / "state" / "checkpoints" / "proxy.json"
    files = orjson.loads(path.read_bytes())["files"] if path.exists() else {}
    acknowledged = {fingerprint: entry["offset"] for fingerprint, entry in files.items()}
    count = 0
    for event in read_output(tmp / "out"):
        fingerprint, offset = event["logflume"]["event_id"].rsplit("-", 1)
        if int(offset, 16) >= acknowledged.get(fingerprint, 0):
            count += 1
    return count


@pytest.mark.parametrize("workers", [1, 2])
def test_kill9_during_ingestion_loses_nothing(tmp_path: Path, daemons: Daemons, workers: int) -> None:
    """Three kill -9s during ingestion of 100,000 lines with rotation, with the work in the daemon
    or in worker processes: every request_id arrives, and the only duplicates are lines delivered
    but not yet checkpointed at a kill."""
    config = write_config(
        tmp_path,
        workers=workers,
        source={
            "include": [str(tmp_path / "logs" / "app.log*")],
            "read_bytes": READ_BYTES,
        },
        sink={"queue_batches": QUEUE_BATCHES},
        queue_chunks=QUEUE_CHUNKS,
        checkpoint_interval=f"{int(CHECKPOINT_INTERVAL * 1000)}ms",
    )
    writer = threading.Thread(
        target=generate_rotating, args=(tmp_path / "logs", LINES, 25_000, RATE, 9, "app.log")
    )
    rnd = random.Random(42)
    proc = daemons.start(config)
    writer.start()
    kills = 0
    resendable = 0
    for _ in range(3):
        # Kill at a random moment once this daemon is up and delivering.
        before = len(request_ids(read_output(tmp_path / "out")))
        def progressed(before: int = before) -> bool:
            return len(request_ids(read_output(tmp_path / "out"))) > before

        wait_for(progressed, 60, 0.05, "progress")
        time.sleep(rnd.uniform(0.05, 0.6))
        proc.kill9()
        kills += 1
        resendable += uncovered(tmp_path)
        proc = daemons.start(config)
    writer.join()
    want = {f"req_9_{seq:010d}" for seq in range(LINES)}
    wait_for(lambda: want <= set(request_ids(read_output(tmp_path / "out"))), 120, 0.5, "all lines")
    assert proc.stop() == 0
    counts = request_ids(read_output(tmp_path / "out"))
    assert set(counts) == want
    duplicates = sum(n - 1 for n in counts.values())
    print(f"{duplicates} duplicates after {kills} kills ({resendable} delivered but not checkpointed)")
    assert duplicates <= resendable, f"{duplicates} duplicates after {kills} kills"
    assert kills == 3
