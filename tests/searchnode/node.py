"""Start, stop, crash and restart a real Elasticsearch or OpenSearch node on 127.0.0.1.

The distributions are installed by ``scripts/services/searchnode.sh`` (integ-test zips from Maven
Central, unpacked under ``LOGFLUME_SEARCHNODE_HOME``). Both refuse to run as root, and the tests run
as root, so a node runs as an unprivileged user through ``runuser``, in its own process group (so
stopping it reaches the launcher JVM and the server JVM alike), with config, data and logs in a
private working directory that survives restarts: a restarted node keeps its indices, like a real
server coming back after a crash.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import json
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.fixtures.common import free_port

HERE = Path(__file__).parent
INSTALL_ROOT = Path(os.environ.get("LOGFLUME_SEARCHNODE_HOME", "/var/cache/logflume-test"))
RUN_USER = os.environ.get("LOGFLUME_SEARCHNODE_USER", "logflume-test")
INSTALL_HINT = "run `bash scripts/services/searchnode.sh` (as root) to install the search nodes"

# Users of the secure Elasticsearch node (file realm): name, password, built-in role.
ES_ADMIN = ("logflume-admin", "admin-secret-4711")
ES_VIEWER = ("logflume-viewer", "viewer-secret-4711")
SECURE_USERS = {ES_ADMIN[0]: (ES_ADMIN[1], "superuser"), ES_VIEWER[0]: (ES_VIEWER[1], "viewer")}


class SearchNodeError(RuntimeError):
    """A search node could not be installed, started or stopped."""


def versions() -> dict[str, str]:
    """The pinned versions from versions.env (shared with the install script)."""
    out: dict[str, str] = {}
    for line in (HERE / "versions.env").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


@dataclass(frozen=True)
class Flavor:
    """What differs between the two distributions: layout, env variable prefix, extra settings."""

    name: str
    home: Path
    binary: str
    env_prefix: str
    settings: dict[str, str] = field(default_factory=dict)
    tls: bool = False  # HTTPS with certs/node.crt and certs/node.key in the config directory


def elasticsearch(*, secure: bool = False) -> Flavor:
    """Elasticsearch without security, or (``secure``) with users, tokens and HTTPS.

    The secure node serves HTTPS with a certificate from a throw-away CA (``SearchNode.ca_file``);
    the trial licence it generates is what allows bearer tokens. API keys cannot work on the
    integ-test distribution: the security index they live in needs the missing analysis-common
    module.
    """
    version = versions()["ES_VERSION"]
    if secure:
        settings = {
            "xpack.security.enabled": "true",
            "xpack.security.http.ssl.enabled": "true",
            "xpack.security.http.ssl.certificate": "certs/node.crt",
            "xpack.security.http.ssl.key": "certs/node.key",
            # One node on loopback: the transport layer needs no TLS.
            "xpack.security.transport.ssl.enabled": "false",
            "xpack.security.authc.api_key.enabled": "true",
            "xpack.security.authc.token.enabled": "true",
            "xpack.license.self_generated.type": "trial",
        }
    else:
        # The integ-test zip has the security module; without this it would demand TLS and passwords.
        settings = {"xpack.security.enabled": "false"}
    return Flavor(
        name="elasticsearch",
        home=INSTALL_ROOT / f"elasticsearch-{version}",
        binary="bin/elasticsearch",
        env_prefix="ES",
        settings=settings,
        tls=secure,
    )


def opensearch() -> Flavor:
    version = versions()["OPENSEARCH_VERSION"]
    # The integ-test zip has no security plugin, so plain HTTP without auth is the default.
    return Flavor(name="opensearch", home=INSTALL_ROOT / f"opensearch-{version}", binary="bin/opensearch",
                  env_prefix="OPENSEARCH")


def _java_home() -> Path:
    """LOGFLUME_SEARCHNODE_JAVA_HOME, else the Java 17 JDK the install script ensures, else PATH's."""
    configured = os.environ.get("LOGFLUME_SEARCHNODE_JAVA_HOME")
    if configured:
        return Path(configured)
    for jdk in sorted(Path("/usr/lib/jvm").glob("java-17-openjdk-*")):
        if (jdk / "bin" / "java").exists():
            return jdk
    java = shutil.which("java")
    if java is None:
        raise SearchNodeError(f"no java on PATH: {INSTALL_HINT}")
    return Path(java).resolve().parent.parent


def _runuser() -> str:
    # /usr/sbin is not on every root PATH (e.g. under some CI runners): look there too.
    found = shutil.which("runuser") or shutil.which("runuser", path="/usr/sbin:/sbin")
    if found is None:
        raise SearchNodeError("runuser (util-linux) not found: the nodes must not run as root")
    return found


_RUNNING: set[SearchNode] = set()


@atexit.register
def _kill_leftovers() -> None:
    # Last resort when the session is torn down without its finalizers (e.g. a KeyboardInterrupt
    # during start-up): never leave a 512 MB JVM behind.
    for node in list(_RUNNING):
        node.kill()


class SearchNode:
    """One single-node cluster; ``start()`` blocks until it answers with yellow or green health."""

    def __init__(
        self,
        flavor: Flavor,
        *,
        users: dict[str, tuple[str, str]] | None = None,
        heap: str = "512m",
        startup_timeout: float = 240.0,
    ) -> None:
        """``users``: name -> (password, built-in role) for a secure node's file realm; the first
        one is what the node's own readiness probe logs in as (give it ``superuser``)."""
        binary = flavor.home / flavor.binary
        if not binary.exists():
            raise SearchNodeError(f"{flavor.name} is not installed ({binary} is missing): {INSTALL_HINT}")
        self.flavor = flavor
        self.users = dict(users or {})
        self.auth: tuple[str, str] | None = None
        if self.users:
            name, (password, _) = next(iter(self.users.items()))
            self.auth = (name, password)
        self.heap = heap
        self.startup_timeout = startup_timeout
        self.http_port = free_port()
        self.transport_port = free_port()
        # Not under pytest's tmp_path: its parents are mode 700 and the node's user must enter it.
        self.workdir = Path(tempfile.mkdtemp(prefix=f"logflume-{flavor.name}-"))
        self._process: subprocess.Popen[bytes] | None = None
        self._prepared = False

    @property
    def url(self) -> str:
        scheme = "https" if self.flavor.tls else "http"
        return f"{scheme}://127.0.0.1:{self.http_port}"

    @property
    def ca_file(self) -> Path:
        """PEM of the CA that signed the node's HTTPS certificate (nodes with ``tls`` only)."""
        return self.workdir / "ca.pem"

    def ssl_context(self) -> ssl.SSLContext | None:
        """A client context trusting the node's CA, or None for a plain-HTTP node."""
        return ssl.create_default_context(cafile=str(self.ca_file)) if self.flavor.tls else None

    @property
    def log_path(self) -> Path:
        return self.workdir / "console.log"

    def __repr__(self) -> str:
        return f"SearchNode({self.flavor.name}, {self.url})"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the node (same ports, same data as before a stop) and wait until it is usable."""
        if self.running:
            return
        self._prepare()
        settings = {
            "node.name": f"logflume-test-{self.flavor.name}",
            "discovery.type": "single-node",
            "network.host": "127.0.0.1",
            "http.port": str(self.http_port),
            "transport.port": str(self.transport_port),
            "path.data": str(self.workdir / "data"),
            "path.logs": str(self.workdir / "logs"),
            # A nearly full shared disk must not stop shards from being allocated.
            "cluster.routing.allocation.disk.threshold_enabled": "false",
            **self.flavor.settings,
        }
        command = self._as_node_user(self.flavor.binary)
        for key, value in settings.items():
            command += ["-E", f"{key}={value}"]
        with self.log_path.open("ab") as log:
            # A new session makes the node's JVMs one process group that stop()/kill() can reach.
            self._process = subprocess.Popen(command, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, start_new_session=True, env={})
        _RUNNING.add(self)
        try:
            self._wait_ready()
        except BaseException:
            self.kill()
            raise

    def stop(self, timeout: float = 60.0) -> None:
        """Shut down cleanly (SIGTERM to the whole group), killing it if it takes too long."""
        self._signal_and_wait(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """Crash the node: SIGKILL to every process of it, as a power cut would."""
        self._signal_and_wait(signal.SIGKILL, 30.0)

    def close(self) -> None:
        """Stop the node and delete its working directory."""
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "<no console log>"

    # -----------------------------------------------------------------------------------------

    def _as_node_user(self, tool: str, *args: str) -> list[str]:
        """The command line running ``tool`` of the distribution as the node's user, with its env."""
        java_home = str(_java_home())
        prefix = self.flavor.env_prefix
        node_env = {
            f"{prefix}_PATH_CONF": str(self.workdir / "config"),
            f"{prefix}_TMPDIR": str(self.workdir / "tmp"),
            f"{prefix}_JAVA_OPTS": f"-Xms{self.heap} -Xmx{self.heap}",
            f"{prefix}_JAVA_HOME": java_home,
            "JAVA_HOME": java_home,
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
        }
        return [_runuser(), "-u", RUN_USER, "--", "env", *(f"{k}={v}" for k, v in node_env.items()),
                str(self.flavor.home / tool), *args]

    def _prepare(self) -> None:
        """Lay out config, data, logs and tmp once, owned by the node's user."""
        if self._prepared:
            return
        config = self.workdir / "config"
        shutil.copytree(self.flavor.home / "config", config)
        # The stock jvm.options writes GC logs and crash files relative to the (root-owned) install
        # directory, which the node's user cannot write: drop those lines, send crash files to logs/.
        options = config / "jvm.options"
        kept = [line for line in options.read_text().splitlines()
                if not any(word in line for word in ("-Xlog", "-Xloggc", "ErrorFile", "HeapDump"))]
        kept.append(f"-XX:ErrorFile={self.workdir}/logs/hs_err_pid%p.log")
        options.write_text("\n".join(kept) + "\n")
        for name in ("data", "logs", "tmp"):
            (self.workdir / name).mkdir()
        if self.flavor.tls:
            import trustme  # a test-only dependency, needed only for HTTPS nodes

            authority = trustme.CA()
            certificate = authority.issue_cert("127.0.0.1", "localhost")
            (config / "certs").mkdir()
            certificate.cert_chain_pems[0].write_to_path(str(config / "certs" / "node.crt"))
            certificate.private_key_pem.write_to_path(str(config / "certs" / "node.key"))
            authority.cert_pem.write_to_path(str(self.ca_file))
        self.workdir.chmod(0o755)
        subprocess.run(["chown", "-R", f"{RUN_USER}:", str(self.workdir)], check=True)
        for name, (password, role) in self.users.items():
            add = self._as_node_user("bin/elasticsearch-users", "useradd", name, "-p", password, "-r", role)
            done = subprocess.run(add, cwd=self.workdir, capture_output=True, text=True, env={})
            if done.returncode != 0:
                raise SearchNodeError(f"cannot add user {name}: {done.stdout}{done.stderr}")
        self._prepared = True

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        health = f"{self.url}/_cluster/health?wait_for_status=yellow&timeout=5s"
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                exited = f"{self.flavor.name} exited with {self._process.returncode} during start-up"
                raise SearchNodeError(f"{exited}:\n{self.log_tail()}")
            request = urllib.request.Request(health)
            if self.auth is not None:
                token = base64.b64encode(":".join(self.auth).encode()).decode()
                request.add_header("Authorization", f"Basic {token}")
            try:
                with urllib.request.urlopen(request, timeout=10, context=self.ssl_context()) as response:
                    status = json.loads(response.read())["status"]
                if status in ("yellow", "green"):
                    return
                last_error = f"cluster health {status}"
            except urllib.error.HTTPError as exc:
                last_error = f"HTTP {exc.code}"  # 408 while waiting for yellow, 503 while starting
            except (OSError, ValueError) as exc:
                last_error = str(exc)
            time.sleep(1.0)
        waited = f"{self.startup_timeout:.0f}s ({last_error})"
        raise SearchNodeError(f"{self.flavor.name} not ready after {waited}:\n{self.log_tail()}")

    def _signal_and_wait(self, sig: signal.Signals, timeout: float) -> None:
        process = self._process
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(30.0)
        # The launcher may exit before the server JVM: wait until the whole group is gone, so the
        # ports are free for a restart and no JVM outlives the session.
        group_deadline = time.monotonic() + timeout
        while _group_alive(process.pid):
            if time.monotonic() > group_deadline:
                os.killpg(process.pid, signal.SIGKILL)
                group_deadline = time.monotonic() + 30.0
            time.sleep(0.2)
        self._process = None
        _RUNNING.discard(self)


def _group_alive(pgid: int) -> bool:
    """Whether any process of the group still runs (zombies waiting for a reaper do not count)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The command name is in parentheses and may hold spaces: split after the last ")".
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False
