"""``logflume demo``: generate rotating LLM-proxy logs while the daemon follows them.

Runs the embedded default config in ``<dir>`` (logs/ in, out/ and state/ beside it), stops once
every generated line is delivered, and prints what happened.
"""

from __future__ import annotations

import asyncio
import gzip
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from logflume import digest
from logflume.config import default_config_text, parse_config
from logflume.generate import generate_rotating, timeline


def count_output_lines(out: Path) -> int:
    total = 0
    for path in sorted(out.rglob("*")):
        if path.is_file() and not digest.is_sidecar(path):
            opener = gzip.open if path.suffix == ".gz" else open
            with opener(path, "rb") as handle:
                total += sum(1 for _ in handle)
    return total


async def _run(directory: Path, lines: int, rotate_every: int) -> int:
    from logflume.app import Daemon

    config = parse_config(default_config_text(), "<embedded default>")
    daemon = Daemon(config)
    rate = lines / 5.0
    # Timestamps as if the proxy wrote each line now, so `analyze --since 1h` finds them.
    start, step_ms = timeline(lines, rate, datetime.now(UTC) + timedelta(seconds=(lines - 1) / rate))
    writer = threading.Thread(
        target=generate_rotating,
        args=(directory / "logs", lines, rotate_every, rate),
        kwargs={"start": start, "step_ms": step_ms},
        daemon=True,
    )
    started = time.monotonic()
    writer.start()
    # The daemon starts once the first log file is there, as beside a running proxy (else it
    # warns that it follows no file); it reads files it has never seen from their beginning.
    while not any((directory / "logs").glob("*.log")) and time.monotonic() - started < 10:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    await daemon.start()
    # Polls a counter the daemon updates; the demo has no event to wait on.
    while daemon.stats.events_out < lines and time.monotonic() - started < 120:  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    await daemon.shutdown()
    writer.join()
    elapsed = time.monotonic() - started
    delivered = count_output_lines(directory / "out")
    print(f"generated {lines} lines into {directory / 'logs'} with rotation every {rotate_every}")
    print(f"delivered {delivered} events to {directory / 'out'} in {elapsed:.1f}s")
    print(f"dead letters: {daemon.dead_letters.count}; checkpoints in {directory / 'state'}")
    for path in sorted((directory / "out").rglob("*")):
        if path.is_file():
            print(f"  {path.relative_to(directory)}  {path.stat().st_size} bytes")
    return 0 if delivered >= lines else 1


def run_demo(directory: Path, lines: int, rotate_every: int) -> int:
    from logflume.selflog import setup_logging

    directory.mkdir(parents=True, exist_ok=True)
    os.chdir(directory)
    setup_logging("WARNING", "auto")
    return asyncio.run(_run(Path("."), lines, rotate_every))
