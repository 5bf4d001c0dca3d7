"""Running ``logflume`` in a subprocess, optionally as an installation without some libraries.

An extra that is "not installed" is simulated by hiding its modules: ``sys.modules[name] = None``
makes ``import name`` raise ModuleNotFoundError and ``importlib.util.find_spec(name)`` answer None,
exactly what a missing distribution gives. A real second virtualenv without the extras would need
a PyPI install during the test run; the hiding is done in a fresh interpreter before logflume is
imported, so nothing of the hidden library is loaded either.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

# What a daemon with a file-only config must never load.
HEAVY = ("numpy", "duckdb", "matplotlib", "elasticsearch", "opensearchpy", "aioboto3", "botocore", "asyncpg")
# Top-level modules of each extra (hidden together to simulate its absence).
EXTRA_MODULES = {
    "elasticsearch": ("elasticsearch",),
    "opensearch": ("opensearchpy",),
    "s3": ("aioboto3",),
    "postgres": ("asyncpg",),
    "analysis": ("duckdb", "matplotlib"),
}
_RUN = (
    "import sys; sys.modules.update(dict.fromkeys({hidden!r})); "
    "from logflume.cli import main; raise SystemExit(main(sys.argv[1:]))"
)


def logflume_argv(*args: str, hide: tuple[str, ...] = ()) -> list[str]:
    """The command line of ``logflume ARGS`` with the modules of the extras ``hide`` hidden."""
    hidden = [module for extra in hide for module in EXTRA_MODULES[extra]]
    return [sys.executable, "-c", _RUN.format(hidden=hidden), *args]


def logflume(
    *args: str, hide: tuple[str, ...] = (), cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``logflume ARGS`` to its end."""
    return subprocess.run(
        logflume_argv(*args, hide=hide), capture_output=True, text=True, timeout=300, cwd=cwd
    )


def write_yaml(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config))
    return path


def file_only_config(tmp: Path, **extra: Any) -> dict[str, Any]:
    """A daemon config following tmp/logs/*.log into a file sink under tmp/out."""
    from tests.fixtures.common import free_port

    (tmp / "logs").mkdir(exist_ok=True)
    config: dict[str, Any] = {
        "state_dir": str(tmp / "state"),
        "checkpoint_interval": "100ms",
        "log": {"format": "json"},
        "http": {"address": f"127.0.0.1:{free_port()}"},
        "sources": [
            {"name": "proxy", "include": [str(tmp / "logs" / "*.log")], "poll_interval": "50ms",
             "scan_interval": "200ms"}
        ],
        "sinks": [{"name": "local", "type": "file", "path": str(tmp / "out" / "{source}" / "%Y-%m-%d.jsonl"),
                   "rotation": {"max_size": "256KiB"}}],
    }  # fmt: skip
    config.update(extra)
    return config
