"""A running daemon loads only what its config needs: with file sinks and the default stages,
none of numpy, DuckDB, matplotlib, the search clients, the AWS stack or asyncpg.

The daemon runs as ``python -X importtime -m logflume run``, does real work (reads, stages, writes,
rotates), stops, and its import log says what was ever imported.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from logflume.generate import lines
from tests.cli.helpers import HEAVY, file_only_config, write_yaml
from tests.daemonproc import append_lines, read_output
from tests.waiting import wait_for


def imported_by_a_run(tmp_path: Path, **config: Any) -> set[str]:
    """Top-level modules a daemon imported while delivering 2,000 lines with ``config``."""
    path = write_yaml(tmp_path / "logflume.yaml", file_only_config(tmp_path, **config))
    log = tmp_path / "daemon.log"
    with open(log, "wb") as handle:
        proc = subprocess.Popen(
            [sys.executable, "-X", "importtime", "-m", "logflume", "run", "-c", str(path)],
            stdout=handle,
            stderr=handle,
        )
    try:
        append_lines(tmp_path / "logs" / "app.log", b"".join(lines(2000, seed=5)))
        wait_for(lambda: len(read_output(tmp_path / "out")) >= 2000 or proc.poll() is not None, 120)
        proc.send_signal(signal.SIGTERM)
        assert 0 == proc.wait(120), log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    modules = set()
    for line in log.read_text().splitlines():
        if line.startswith("import time:") and "|" in line:
            modules.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return modules


class TestImports:
    def test_file_only_daemon_loads_no_optional_library(self, tmp_path: Path) -> None:
        """File sink, default stages: the import log names none of the heavy libraries."""
        modules = imported_by_a_run(tmp_path)
        assert "logflume" in modules
        assert [] == sorted(set(HEAVY) & modules)

    def test_aggregate_stage_loads_numpy(self, tmp_path: Path) -> None:
        """Control: a config with the aggregate stage does import numpy (the check sees imports)."""
        modules = imported_by_a_run(tmp_path, pipeline={"aggregate": {"windows": ["1m"]}})
        assert ["numpy"] == sorted(set(HEAVY) & modules)
