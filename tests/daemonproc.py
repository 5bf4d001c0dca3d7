"""Run the daemon as a separate process in tests, and read what it wrote."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import yaml

from logflume import digest
from tests.fixtures.common import free_port


def write_config(tmp: Path, **overrides: Any) -> Path:
    """A config following tmp/logs/*.log into tmp/out, state in tmp/state; keys may be overridden."""
    source = {
        "name": "proxy",
        "include": [str(tmp / "logs" / "*.log")],
        "rotate_wait": "1s",
        "poll_interval": "50ms",
        "scan_interval": "200ms",
    }
    source.update(overrides.pop("source", {}))
    sink = {"name": "local", "type": "file", "path": str(tmp / "out" / "{source}" / "%Y-%m-%d.jsonl")}
    sink.update(overrides.pop("sink", {}))
    config: dict[str, Any] = {
        "state_dir": str(tmp / "state"),
        "checkpoint_interval": "100ms",
        "shutdown_timeout": "20s",
        "sources": [source],
        "sinks": [sink],
        "log": {"format": "json"},
        # Its own port: tests (and other daemons on the machine) must not fight over the default.
        "http": {"address": f"127.0.0.1:{free_port()}"},
    }
    config.update(overrides)
    path = tmp / "logflume.yaml"
    path.write_text(yaml.safe_dump(config))
    (tmp / "logs").mkdir(exist_ok=True)
    return path


class Daemons:
    """Daemon subprocesses of one test (the ``daemons`` fixture): any still running when the test
    ends is killed, so a failing test never leaves a daemon behind."""

    def __init__(self) -> None:
        self.started: list[DaemonProcess] = []

    def start(self, config: Path, launcher: Path | None = None) -> DaemonProcess:
        proc = DaemonProcess(config, launcher).start()
        self.started.append(proc)
        return proc

    def kill_all(self) -> None:
        for proc in self.started:
            if proc.alive():
                proc.kill9()


class DaemonProcess:
    """``logflume run -c CONFIG`` in a subprocess, its stderr captured to a file.

    ``launcher``: a Python script run instead of ``-m logflume``, given ``run -c CONFIG``; for a
    test that must change the daemon before it starts (e.g. plant a bug no input can cause).
    """

    def __init__(self, config: Path, launcher: Path | None = None) -> None:
        self.config = config
        self.launcher = launcher
        self.log_path = config.parent / "daemon.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> DaemonProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child, closed below
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        program = [str(self.launcher)] if self.launcher else ["-m", "logflume"]
        self.proc = subprocess.Popen(
            [sys.executable, *program, "run", "-c", str(self.config)],
            stdout=log,
            stderr=log,
            env=env,
            cwd=self.config.parent,
        )
        log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 60) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")


def read_output(out: Path) -> list[dict[str, Any]]:
    """Every event in the file sink's output tree (plain and gzip files)."""
    events = []
    if not out.exists():
        return events
    for path in sorted(out.rglob("*")):
        if not path.is_file() or path.name.endswith(".tmp") or digest.is_sidecar(path):
            continue
        events.extend(orjson.loads(line) for line in complete_lines(path) if line.strip())
    return events


def complete_lines(path: Path) -> list[bytes]:
    """The whole lines of ``path`` (plain or gzip): a last line the daemon is still writing, with
    no newline yet, is left out, so readers of a running daemon's output never see half a line."""
    opener: Callable[..., Any] = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            data: bytes = handle.read()
    except FileNotFoundError:  # rotated or archived away between listing and reading
        return []
    lines = data.split(b"\n")
    return lines[:-1]  # after the last newline: empty, or a line not finished yet


def request_ids(events: list[dict[str, Any]]) -> Counter[str]:
    return Counter(e["request_id"] for e in events if "request_id" in e)


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    for line in complete_lines(path):
        if line.strip():
            yield orjson.loads(line)



def append_lines(path: Path, data: bytes) -> None:
    with open(path, "ab") as handle:
        handle.write(data)
