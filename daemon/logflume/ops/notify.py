"""systemd's notify protocol without libsystemd: READY/RELOADING/STOPPING/STATUS and the watchdog.

A datagram of ``KEY=value`` lines to the socket named by ``$NOTIFY_SOCKET`` (a path, or an
abstract-namespace name written with a leading ``@``). Outside systemd the variable is unset and
every call does nothing. The watchdog pings at half of ``$WATCHDOG_USEC``, and only while the
pipeline makes progress, so systemd restarts a daemon that is alive but stuck.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Mapping

log = logging.getLogger("logflume.ops.notify")


class Notifier:
    """Sends state changes to systemd; a no-op when not started by systemd with ``Type=notify``."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        # An abstract socket's name starts with a NUL byte, which cannot be put in the environment.
        self.address = "\0" + address[1:] if address.startswith("@") else address
        self.watchdog_seconds = _watchdog_seconds(env)

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def send(self, *lines: str) -> bool:
        """Send ``lines`` (``READY=1``, ``STATUS=…``) as one datagram; False when it did not go out."""
        if not self.address:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto("\n".join(lines).encode(), self.address)
        except OSError as exc:
            # systemd gone (or the socket not ours): nothing the daemon could do about it.
            log.debug("Cannot notify systemd", extra={"error": str(exc)})
            return False
        return True

    def ready(self, status: str = "Running") -> bool:
        return self.send("READY=1", f"STATUS={status}", f"MAINPID={os.getpid()}")

    def reloading(self) -> bool:
        return self.send("RELOADING=1", "STATUS=Reloading the config")

    def stopping(self) -> bool:
        return self.send("STOPPING=1", "STATUS=Draining and stopping")

    def status(self, text: str) -> bool:
        return self.send(f"STATUS={text}")

    async def watchdog(self, progressing: Callable[[], bool]) -> None:
        """Ping ``WATCHDOG=1`` at half the watchdog interval while ``progressing()`` says so.

        Returns at once when systemd asked for no watchdog.
        """
        if self.watchdog_seconds is None or not self.address:
            return
        interval = self.watchdog_seconds / 2
        stalled = False
        while True:
            await asyncio.sleep(interval)
            if progressing():
                if stalled:
                    log.info("Pipeline moves again; watchdog pings resumed")
                    stalled = False
                self.send("WATCHDOG=1")
            elif not stalled:
                stalled = True
                log.warning(
                    "Pipeline stalled; watchdog pings withheld",
                    extra={"watchdog_seconds": self.watchdog_seconds},
                )
                self.status("Pipeline stalled")


def _watchdog_seconds(env: Mapping[str, str]) -> float | None:
    """The watchdog interval systemd set for this process, if any."""
    usec = env.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    pid = env.get("WATCHDOG_PID", "")
    if pid and pid != str(os.getpid()):
        return None  # meant for another process (we were forked or exec'd by the main one)
    return int(usec) / 1_000_000
