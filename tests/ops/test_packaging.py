"""The systemd unit and the Dockerfile, checked by the tools that read them (the Kubernetes example:
test_kubernetes.py; the unit run under its own sandbox: test_service_sandbox.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "systemd" / "logflume.service"
INSTALLED = "/opt/logflume/bin/logflume"


def tool(name: str) -> str:
    """A tool the suite needs (installed by scripts/services/systemd.sh): fail loudly when missing."""
    path = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    assert path, f"{name} not found: run scripts/services/systemd.sh"
    return path


def unit_options() -> dict[str, dict[str, list[str]]]:
    """The unit's sections and options (an option may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in UNIT.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key, []).append(value)
    return sections


class TestSystemdUnit:
    def test_verifies_cleanly(self, tmp_path: Path) -> None:
        """systemd-analyze verify accepts the unit, pointed at the installed logflume, without a warning."""
        script = Path(sys.executable).parent / "logflume"
        assert script.exists(), "the package is not installed in this environment"
        copy = tmp_path / "logflume.service"
        copy.write_text(UNIT.read_text().replace(INSTALLED, str(script)))
        result = subprocess.run(
            [tool("systemd-analyze"), "verify", str(copy)], capture_output=True, text=True, timeout=120
        )
        assert (result.returncode, result.stderr.strip()) == (0, "")

    def test_verify_catches_a_missing_binary(self, tmp_path: Path) -> None:
        """The same check fails when ExecStart names a binary that does not exist (so the check bites)."""
        copy = tmp_path / "logflume.service"
        copy.write_text(UNIT.read_text().replace(INSTALLED, str(tmp_path / "nowhere" / "logflume")))
        result = subprocess.run(
            [tool("systemd-analyze"), "verify", str(copy)], capture_output=True, text=True, timeout=120
        )
        assert result.returncode != 0
        assert "is not executable" in result.stderr

    def test_runs_as_a_notify_service_in_a_sandbox(self) -> None:
        """Type=notify with a watchdog, restarts on failure, reloads with SIGHUP, no capabilities."""
        service = unit_options()["Service"]
        assert service["Type"] == ["notify"]
        assert service["Restart"] == ["on-failure"]
        assert service["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
        assert [f"{INSTALLED} run -c /etc/logflume/logflume.yaml"] == service["ExecStart"]
        assert service["CapabilityBoundingSet"] == [""]
        for key, value in (
            ("DynamicUser", "yes"),
            ("StateDirectory", "logflume"),
            ("ProtectSystem", "strict"),
            ("ProtectHome", "yes"),
            ("NoNewPrivileges", "yes"),
            ("ReadOnlyPaths", "/var/log/llm-proxy"),
        ):
            assert [value] == service[key], key
        assert "WatchdogSec" in service


class TestDockerfile:
    def test_hadolint_is_clean(self) -> None:
        """hadolint finds nothing, not even style issues (no Docker engine here: the build is untested)."""
        result = subprocess.run(
            [tool("hadolint"), "--failure-threshold", "style", "--no-color", str(ROOT / "Dockerfile")],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert (result.returncode, result.stdout.strip()) == (0, "")

    def test_runs_as_non_root_with_health_check(self) -> None:
        """Two stages, a numeric non-root user, the state volume, a health check on /healthz."""
        text = (ROOT / "Dockerfile").read_text()
        instructions = [
            line.split()[0]
            for line in text.splitlines()
            if line and not line[0].isspace() and not line.startswith("#")
        ]
        assert instructions.count("FROM") == 2
        assert "USER 10001:10001" in text
        assert 'VOLUME ["/var/lib/logflume"]' in text
        assert "http://127.0.0.1:9466/healthz" in text
        assert 'CMD ["run", "-c", "/etc/logflume/logflume.yaml"]' in text
