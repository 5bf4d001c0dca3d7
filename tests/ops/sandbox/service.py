"""The unit's commands run under its sandbox, and systemd's side of the notify protocol."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.ops.sandbox.unit import service_options, translate

LAUNCHER = Path(__file__).with_name("launcher.py")
INSTALLED = "/opt/logflume/bin/logflume"


class NotifySocket:
    """An abstract-namespace datagram socket standing in for systemd's notify socket."""

    def __init__(self) -> None:
        self.name = f"@logflume-test-{os.urandom(6).hex()}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + self.name[1:])
        self.sock.setblocking(False)
        self.lines: list[str] = []

    def received(self, line: str) -> int:
        """How many datagrams so far carried ``line`` (e.g. ``READY=1``)."""
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                break
            self.lines.extend(data.decode().splitlines())
        return self.lines.count(line)

    def close(self) -> None:
        self.sock.close()


class Service:
    """The unit's ExecStartPre, ExecStart and ExecReload, each under the unit's sandbox."""

    def __init__(self, unit_text: str, tmp: Path, paths: dict[str, Path]) -> None:
        self.options = service_options(unit_text)
        self.tmp = tmp
        self.notify = NotifySocket()
        scratch = tmp / "sandbox"
        scratch.mkdir()
        spec = translate(unit_text, paths, uncover=_uncovered())
        spec["scratch"] = str(scratch)
        spec["env"]["NOTIFY_SOCKET"] = self.notify.name
        watchdog = self.options.get("WatchdogSec", [""])[-1]
        if watchdog:
            spec["env"]["WATCHDOG_USEC"] = str(int(watchdog.removesuffix("s")) * 1_000_000)
        self.spec = spec
        self.spec_path = tmp / "sandbox.json"
        self.spec_path.write_text(json.dumps(spec))
        self.log_path = tmp / "journal.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self, key: str) -> list[str]:
        """The unit's command line for ``key``, with the installed script replaced by this one."""
        script = str(Path(sys.executable).parent / "logflume")
        return [word.replace(INSTALLED, script) for word in shlex.split(self.options[key][-1])]

    def sandboxed(self, argv: list[str]) -> list[str]:
        return [sys.executable, str(LAUNCHER), str(self.spec_path), "--", *argv]

    def run_pre(self) -> subprocess.CompletedProcess[str]:
        """ExecStartPre, to its end."""
        return subprocess.run(
            self.sandboxed(self.command("ExecStartPre")), capture_output=True, text=True, timeout=120
        )

    def start(self) -> subprocess.Popen[bytes]:
        """ExecStart; stdout and stderr go to the 'journal' file."""
        with open(self.log_path, "ab") as journal:
            self.proc = subprocess.Popen(
                self.sandboxed(self.command("ExecStart")), stdout=journal, stderr=journal
            )
        return self.proc

    def reload(self) -> None:
        """ExecReload, with $MAINPID, run as systemd runs it (outside the sandbox is enough: a kill)."""
        assert self.proc is not None
        argv = [
            word.replace("$MAINPID", str(self.proc.pid))
            for word in shlex.split(self.options["ExecReload"][-1])
        ]
        subprocess.run(argv, check=True, timeout=30)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def journal(self) -> list[dict[str, Any]]:
        records = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                records.append(json.loads(line))
        return records

    def status(self) -> dict[str, str]:
        """The main process's /proc status fields (Uid, NoNewPrivs, Seccomp, CapBnd, …)."""
        assert self.proc is not None
        text = Path(f"/proc/{self.proc.pid}/status").read_text()
        return {key: value.strip() for key, _, value in (line.partition(":") for line in text.splitlines())}

    def mapped(self) -> str:
        """The files mapped into the main process (its loaded libraries)."""
        assert self.proc is not None
        return Path(f"/proc/{self.proc.pid}/maps").read_text()

    def close(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)
        self.notify.close()


def _uncovered() -> list[str]:
    """Directories of this Python installation and checkout inside what the unit masks: home
    directories, and /tmp and /var/tmp (PrivateTmp)."""
    homes = ("/home/", "/root/", "/run/user/", "/tmp/", "/var/tmp/")
    checkout = Path(__file__).resolve().parents[3]
    places = {os.path.realpath(p) for p in (sys.base_prefix, sys.prefix, checkout)}
    inside = {p for p in places if p.startswith(homes)}
    return sorted(p for p in inside if not any(p.startswith(other + "/") for other in inside))
