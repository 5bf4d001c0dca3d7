"""A progress bar on stderr for DuckDB scans that take longer than a second.

DuckDB's own bar prints to stdout, where it would corrupt ``--format json`` output, so its
printing stays off and this thread draws ``query_progress()`` on stderr instead.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

DELAY = 1.0
INTERVAL = 0.2
WIDTH = 40


def _draw(stream: TextIO, percent: float) -> None:
    filled = int(WIDTH * percent / 100)
    stream.write(f"\r{percent:5.1f}% [{'#' * filled}{'.' * (WIDTH - filled)}]")
    stream.flush()


@contextmanager
def progress_bar(connection: Any, enabled: bool, stream: TextIO | None = None) -> Iterator[None]:
    """Draw the progress of the statements run inside the block, once they have run for DELAY s."""
    out = stream if stream is not None else sys.stderr
    if not enabled:
        yield
        return
    stop = threading.Event()
    drawn = False

    def poll() -> None:
        nonlocal drawn
        if stop.wait(DELAY):
            return
        last = -1.0
        while not stop.is_set():
            percent = connection.query_progress()
            if percent >= 0 and percent != last:
                _draw(out, percent)
                drawn = True
                last = percent
            stop.wait(INTERVAL)

    thread = threading.Thread(target=poll, name="logflume-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        if drawn:
            out.write("\r" + " " * (WIDTH + 9) + "\r")
            out.flush()


def wanted(stream: TextIO | None = None) -> bool:
    """Only a terminal gets a progress bar; a pipe or a file would collect the redraws."""
    out = stream if stream is not None else sys.stderr
    return out.isatty()
