"""config/kubernetes/logflume-sidecar.yaml: a native sidecar whose probes really answer, a pinned
image, a restrictive security context, resources, and the endpoint kept inside the pod."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from logflume import __version__
from logflume.config import Config, parse_config
from tests.daemonproc import Daemons, write_config
from tests.fixtures.common import free_port
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "config" / "kubernetes" / "logflume-sidecar.yaml"
_URL = re.compile(r"http://127\.0\.0\.1:(\d+)(/\w+)")


def documents() -> tuple[dict[str, Any], dict[str, Any]]:
    config_map, pod = yaml.safe_load_all(MANIFEST.read_text())
    return config_map, pod


def daemon_config() -> Config:
    return parse_config(documents()[0]["data"]["logflume.yaml"], "configmap", env={})


def sidecar() -> dict[str, Any]:
    (container,) = [c for c in documents()[1]["spec"]["initContainers"] if c["name"] == "logflume"]
    return container


def probe_target(probe: dict[str, Any]) -> tuple[int, str]:
    """(port, path) an exec probe's command asks for."""
    match = _URL.search(" ".join(probe["exec"]["command"]))
    assert match, probe
    return int(match.group(1)), match.group(2)


def run_probe(probe: dict[str, Any], port: int) -> int:
    """The probe's command, as the kubelet would run it in the container, aimed at ``port``."""
    command = [sys.executable if word == "python" else word for word in probe["exec"]["command"]]
    command = [re.sub(r"127\.0\.0\.1:\d+", f"127.0.0.1:{port}", word) for word in command]
    return subprocess.run(command, capture_output=True, timeout=60).returncode


class TestSidecar:
    def test_is_a_native_sidecar(self) -> None:
        """logflume is an init container with restartPolicy Always; the proxy is the main container."""
        pod = documents()[1]["spec"]
        assert "Always" == sidecar()["restartPolicy"]
        assert ["proxy"] == [c["name"] for c in pod["containers"]]

    def test_endpoint_stays_in_the_pod(self) -> None:
        """The endpoint listens on loopback; no port of logflume is declared, no Service, no scrape."""
        _, pod = documents()
        assert ("127.0.0.1", 9466) == (daemon_config().http.host, daemon_config().http.port)
        assert "ports" not in sidecar()
        assert "annotations" not in pod["metadata"]
        assert ["ConfigMap", "Pod"] == [doc["kind"] for doc in yaml.safe_load_all(MANIFEST.read_text())]

    def test_probes_ask_the_configured_endpoint(self) -> None:
        """Startup and liveness ask /healthz, readiness /readyz, on the config's own port."""
        port = daemon_config().http.port
        container = sidecar()
        assert [(port, "/healthz"), (port, "/healthz"), (port, "/readyz")] == [
            probe_target(container[name]) for name in ("startupProbe", "livenessProbe", "readinessProbe")
        ]

    def test_probes_answer_from_a_running_daemon(self, tmp_path: Path, daemons: Daemons) -> None:
        """The probe commands succeed against a real daemon and fail once it is gone."""
        port = free_port()
        proc = daemons.start(write_config(tmp_path, http={"address": f"127.0.0.1:{port}"}))
        container = sidecar()
        wait_for(
            lambda: run_probe(container["startupProbe"], port) == 0 or not proc.alive(), 60, what="startup"
        )
        assert proc.alive(), proc.logs()
        wait_for(lambda: run_probe(container["readinessProbe"], port) == 0, 60, what="readiness")
        assert 0 == run_probe(container["livenessProbe"], port)
        assert 0 == proc.stop()
        assert [1, 1] == [run_probe(container[name], port) for name in ("livenessProbe", "readinessProbe")]

    def test_image_is_pinned_to_this_release(self) -> None:
        """logflume's image tag is this version (never latest); every image has a tag."""
        pod = documents()[1]["spec"]
        images = [c["image"] for c in [*pod["initContainers"], *pod["containers"]]]
        assert f"registry.example.com/logflume:{__version__}" == sidecar()["image"]
        for image in images:
            tag = image.rpartition(":")[2]
            assert "/" not in tag
            assert tag != "latest"

    @pytest.mark.parametrize("name", ["logflume", "proxy"])
    def test_security_context_is_restrictive(self, name: str) -> None:
        """Non-root (the image's uid), no privilege escalation, read-only root, no capabilities, seccomp."""
        pod = documents()[1]["spec"]
        (container,) = [c for c in [*pod["initContainers"], *pod["containers"]] if c["name"] == name]
        context = container["securityContext"]
        assert (False, False, True, True, ["ALL"]) == (
            context["allowPrivilegeEscalation"],
            context["privileged"],
            context["readOnlyRootFilesystem"],
            context["runAsNonRoot"],
            context["capabilities"]["drop"],
        )
        dockerfile_user = re.search(r"^USER (\d+):(\d+)$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
        assert dockerfile_user
        assert (int(dockerfile_user.group(1)), int(dockerfile_user.group(2))) == (
            pod["securityContext"]["runAsUser"],
            pod["securityContext"]["runAsGroup"],
        )
        assert ("RuntimeDefault", True, False) == (
            pod["securityContext"]["seccompProfile"]["type"],
            pod["securityContext"]["runAsNonRoot"],
            pod["automountServiceAccountToken"],
        )

    @pytest.mark.parametrize("name", ["logflume", "proxy"])
    def test_requests_and_limits(self, name: str) -> None:
        """Each container requests and is limited in CPU and memory."""
        pod = documents()[1]["spec"]
        (container,) = [c for c in [*pod["initContainers"], *pod["containers"]] if c["name"] == name]
        resources = container["resources"]
        assert ({"cpu", "memory"}, {"cpu", "memory"}) == (
            set(resources["requests"]),
            set(resources["limits"]),
        )

    def test_volumes(self) -> None:
        """Shared log emptyDir (read-only for logflume), state at state_dir, config, a writable /tmp."""
        pod = documents()[1]["spec"]
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        proxy_mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
        mounts = {m["name"]: m for m in sidecar()["volumeMounts"]}
        assert "emptyDir" in volumes["proxy-logs"]
        assert proxy_mounts["proxy-logs"]["mountPath"] == mounts["proxy-logs"]["mountPath"]
        assert mounts["proxy-logs"]["readOnly"] is True
        assert str(daemon_config().state_dir) == mounts["logflume-state"]["mountPath"]
        assert ("/etc/logflume", "/tmp") == (
            mounts["logflume-config"]["mountPath"],
            mounts["logflume-tmp"]["mountPath"],
        )
        assert ["run", "-c", "/etc/logflume/logflume.yaml"] == sidecar()["args"]

    def test_grace_period_covers_the_drain(self) -> None:
        """The pod's grace period is longer than logflume's shutdown_timeout."""
        assert documents()[1]["spec"]["terminationGracePeriodSeconds"] > daemon_config().shutdown_timeout
