"""Helpers of the fault tests that run a daemon: its port, what it delivered, what it logged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import yaml

from tests.daemonproc import DaemonProcess, read_output, request_ids
from tests.ops.helpers import log_records


def port_of(config: Path) -> int:
    return int(yaml.safe_load(config.read_text())["http"]["address"].rsplit(":", 1)[1])


def ids(seed: int, count: int) -> set[str]:
    return {f"req_{seed}_{seq:010d}" for seq in range(count)}


def delivered(tmp_path: Path) -> set[str]:
    return set(request_ids(read_output(tmp_path / "out")))


def records(proc: DaemonProcess, message: str, **fields: Any) -> list[dict[str, Any]]:
    return [
        r
        for r in log_records(proc)
        if r["message"] == message and all(r.get(k) == v for k, v in fields.items())
    ]


def checkpoint_offset(tmp_path: Path) -> int:
    """The saved offset of the source's one file (0 before the first save)."""
    try:
        doc = orjson.loads((tmp_path / "state" / "checkpoints" / "proxy.json").read_bytes())
    except FileNotFoundError:
        return 0
    return max((entry["offset"] for entry in doc["files"].values()), default=0)


def assert_whole_lines(directory: Path) -> None:
    for path in directory.rglob("*.jsonl"):
        data = path.read_bytes()
        assert data.endswith(b"\n"), f"{path} ends in a torn line"
        for line in data.splitlines():
            orjson.loads(line)
