"""README's first command: ``logflume demo`` delivers every generated line and says nothing alarming."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_demo_delivers_every_line_without_warnings(tmp_path: Path) -> None:
    """Generated rotating logs all reach the output; the daemon's own log stays quiet (a warning
    on a new user's first run, such as following no file, would be a false alarm)."""
    done = subprocess.run(
        [sys.executable, "-m", "logflume", "demo", "--dir", str(tmp_path / "demo"), "--lines", "20000"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert 0 == done.returncode, done.stdout + done.stderr
    assert "delivered 20000 events" in done.stdout
    assert "" == done.stderr
    written = sum(
        path.read_bytes().count(b"\n") for path in (tmp_path / "demo" / "out").rglob("*") if path.is_file()
    )
    assert 20_000 == written
