"""The real daemon, its digest child and a reload under systemd/logflume.service's own sandbox.

``systemd-analyze verify`` and ``security`` only read the unit; a system call the daemon (or a
library it loads, or its digest child) needs and the unit forbids shows only when it runs. So the
unit's [Service] sandboxing is translated (tests/ops/sandbox/) into mount and UTS namespaces, the
dynamic user, no capabilities, no-new-privileges and the seccomp filters systemd would load —
group members taken from this machine's systemd — and the unit's own ExecStartPre, ExecStart and
ExecReload run under it: validate, start (READY=1), rotate files so digest children run, reload
into a config that loads numpy (the aggregate stage), stop (exit 0). A dependency that needs a
new system call fails here, not in production.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from logflume import digest
from logflume.generate import lines
from tests.daemonproc import append_lines, read_output, request_ids
from tests.fixtures.common import free_port
from tests.ops.sandbox.service import Service
from tests.ops.sandbox.unit import DYNAMIC_UID, filters, service_options, translate
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "systemd" / "logflume.service"
STATE, CONFIG_DIR, LOGS = "/var/lib/logflume", "/etc/logflume", "/var/log/llm-proxy"


def unit_config(port: int, **extra: Any) -> str:
    """A config as README's systemd steps say: state and file-sink output under /var/lib/logflume."""
    config: dict[str, Any] = {
        "state_dir": STATE,
        "checkpoint_interval": "100ms",
        "log": {"format": "json"},
        "http": {"address": f"127.0.0.1:{port}"},
        "sources": [
            {
                "name": "proxy",
                "include": [f"{LOGS}/*.log"],
                "poll_interval": "50ms",
                "scan_interval": "200ms",
            }
        ],
        # Small files, each with a digest: every rotation runs a digest child.
        "sinks": [
            {
                "name": "local",
                "type": "file",
                "path": f"{STATE}/out/{{source}}/%Y-%m-%d.jsonl",
                "rotation": {"max_size": "256KiB"},
                "digest_min_size": 0,
            }
        ],
    }
    config.update(extra)
    return yaml.safe_dump(config)


@pytest.fixture
def service_dirs(tmp_path: Path) -> dict[str, Path]:
    """Test directories standing in for the unit's state, configuration and log directories."""
    assert os.geteuid() == 0, "the sandbox test needs root (namespaces, mounts, a dynamic uid)"
    dirs = {STATE: tmp_path / "state", CONFIG_DIR: tmp_path / "etc", LOGS: tmp_path / "logs"}
    for path in dirs.values():
        path.mkdir()
    # README: the service reads the proxy's logs through the adm group.
    os.chown(dirs[LOGS], 0, 4)
    dirs[LOGS].chmod(0o750)
    return dirs


@pytest.fixture
def start_service(tmp_path: Path, service_dirs: dict[str, Path]) -> Iterator[Any]:
    """Builds a Service for a unit text; kills whatever it started at the end."""
    started: list[Service] = []

    def make(unit_text: str, port: int) -> Service:
        (service_dirs[CONFIG_DIR] / "logflume.yaml").write_text(unit_config(port))
        service = Service(unit_text, tmp_path, service_dirs)
        started.append(service)
        return service

    yield make
    for service in started:
        service.close()


def digests_complete(out: Path) -> bool:
    archives = sorted(out.rglob("*.gz"))
    sidecars = [path for path in out.rglob("*") if digest.is_sidecar(path)]
    return len(archives) >= 2 and len(sidecars) == len(archives)


def messages(service: Service) -> list[str]:
    return [record["message"] for record in service.journal()]


class TestUnderTheUnitsSandbox:
    def test_validates_runs_digests_reloads_and_stops(
        self, start_service: Any, service_dirs: dict[str, Path]
    ) -> None:
        """Under the unit's sandbox: validate, start, digest children, a reload into numpy, clean stop."""
        port = free_port()
        service: Service = start_service(UNIT.read_text(), port)
        pre = service.run_pre()
        assert (0, "") == (pre.returncode, pre.stderr)

        proc = service.start()
        wait_for(lambda: service.notify.received("READY=1") or not service.alive(), 120, what="READY=1")
        assert service.alive(), service.log_path.read_text()
        status = service.status()
        assert str(DYNAMIC_UID) == status["Uid"].split()[0]
        assert ("1", "2", "0000000000000000", "0000000000000000") == (
            status["NoNewPrivs"],
            status["Seccomp"],
            status["CapBnd"],
            status["CapEff"],
        )
        assert int(status["Seccomp_filters"]) >= len(service.spec["filters"])

        log = service_dirs[LOGS] / "llm_proxy.log"
        append_lines(log, b"".join(lines(1500, seed=1)))
        out = service_dirs[STATE] / "out"
        wait_for(
            lambda: len(request_ids(read_output(out))) == 1500 or not service.alive(), 120, what="1500 events"
        )
        wait_for(lambda: digests_complete(out) or not service.alive(), 120, what="a digest per archive")
        assert service.alive(), service.log_path.read_text()

        # The aggregate stage loads numpy, whose OpenBLAS calls mbind() on import.
        (service_dirs[CONFIG_DIR] / "logflume.yaml").write_text(
            unit_config(port, pipeline={"aggregate": {"windows": ["1m"]}})
        )
        service.reload()
        wait_for(
            lambda: "Config reloaded" in messages(service) or not service.alive(), 120, what="the reload"
        )
        assert service.alive(), service.log_path.read_text()
        assert re.search(r"numpy.*\.so", service.mapped())
        wait_for(lambda: service.notify.received("READY=1") == 2, 30, what="READY=1 after the reload")

        append_lines(log, b"".join(lines(500, seed=2)))
        wait_for(
            lambda: len(request_ids(read_output(out))) == 2000 or not service.alive(), 120, what="2000 events"
        )
        proc.send_signal(signal.SIGTERM)
        assert 0 == proc.wait(120)
        assert service.notify.received("STOPPING=1") == 1
        assert [] == [m for m in messages(service) if "digest" in m.lower() or "failed" in m.lower()]

    def test_a_forbidden_call_fails_the_run(self, start_service: Any, service_dirs: dict[str, Path]) -> None:
        """Negative control: with @resources forbidden again, digests and the numpy reload die of SIGSYS."""
        unit_text = UNIT.read_text().replace("[Install]", "SystemCallFilter=~@resources\n\n[Install]")
        port = free_port()
        service: Service = start_service(unit_text, port)
        assert 0 == service.run_pre().returncode

        proc = service.start()
        wait_for(lambda: service.notify.received("READY=1") or not service.alive(), 120, what="READY=1")
        append_lines(service_dirs[LOGS] / "llm_proxy.log", b"".join(lines(1500, seed=1)))
        wait_for(
            lambda: "Cannot build analysis digest" in messages(service), 120, what="a failed digest child"
        )
        failures = [r for r in service.journal() if r["message"] == "Cannot build analysis digest"]
        assert "SIGSYS" in failures[0]["error"]

        (service_dirs[CONFIG_DIR] / "logflume.yaml").write_text(
            unit_config(port, pipeline={"aggregate": {"windows": ["1m"]}})
        )
        service.reload()
        assert -signal.SIGSYS == proc.wait(120)


def allowed(unit_text: str) -> set[str]:
    """The system calls the unit's SystemCallFilter allows (as translated)."""
    (syscall_filter,) = [f for f in filters(service_options(unit_text)) if f["option"] == "SystemCallFilter"]
    assert "kill" == syscall_filter["default"]
    return {rule["syscall"] for rule in syscall_filter["rules"] if rule["action"] == "allow"}


class TestTranslation:
    def test_allow_list_minus_groups(self) -> None:
        """@system-service with ~@privileged: resources calls allowed, privileged ones not, @default in."""
        calls = allowed(UNIT.read_text())
        assert {"mbind", "setpriority", "execve", "rt_sigreturn", "inotify_add_watch"} <= calls
        assert set() == {"setuid", "chown", "mount", "reboot", "init_module"} & calls

    def test_a_later_line_takes_a_group_away(self) -> None:
        """Another ~@resources line removes mbind and setpriority, as systemd reads repeated lines."""
        text = UNIT.read_text().replace("[Install]", "SystemCallFilter=~@resources\n[Install]")
        assert set() == {"mbind", "setpriority"} & allowed(text)

    def test_an_untranslated_option_fails_the_translation(self, tmp_path: Path) -> None:
        """A sandboxing option the test does not know (here MemoryDenyWriteExecute) stops it loudly."""
        text = UNIT.read_text().replace("[Install]", "MemoryDenyWriteExecute=yes\n[Install]")
        with pytest.raises(AssertionError, match="MemoryDenyWriteExecute"):
            translate(text, {STATE: tmp_path, CONFIG_DIR: tmp_path, LOGS: tmp_path}, uncover=[])
