"""Running in the foreground: signals, the HTTP endpoint around the daemon, and the exit code.

SIGTERM/SIGINT drain and stop (a second one exits at once, keeping the checkpoints of what was
acknowledged), SIGHUP reloads the config, SIGUSR1/SIGUSR2 make the own logs more/less verbose.
Handlers only set flags or start tasks; the daemon does the work on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal

from logflume import selflog
from logflume.app.daemon import Daemon
from logflume.config import Config
from logflume.errors import EXIT_CONFIG, LogflumeError, StateFileError
from logflume.gctune import tune_gc, tune_malloc
from logflume.ops.health import LoopMonitor
from logflume.ops.http import OpsServer

log = logging.getLogger("logflume.app")


def _exit_now(daemon: Daemon) -> None:
    """Second SIGTERM/SIGINT: record what was acknowledged and leave without waiting for anything."""
    log.warning("Second signal: exiting now")
    daemon.abort()
    for handler in logging.getLogger(selflog.ROOT).handlers:
        handler.flush()
    # Not SystemExit: unwinding would wait for cancelled tasks and blocked worker threads.
    os._exit(0)


async def run_daemon(config: Config, config_path: str | None = None) -> int:
    """Run in the foreground until SIGTERM/SIGINT; exit code 0, or 1 when it could not run or an
    internal task failed (so systemd's Restart=on-failure restarts it)."""
    daemon = Daemon(config, config_path)
    tune_gc()
    tune_malloc()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    monitor = LoopMonitor()
    server = OpsServer(config.http, daemon, daemon.tap, monitor) if config.http.enabled else None

    def on_stop() -> None:
        if stop.is_set():
            _exit_now(daemon)
        stop.set()

    def on_verbosity(steps: int) -> None:
        levels = selflog.step(steps)
        # WARNING so the change shows whatever the new level is.
        log.warning("Log level changed", extra={"levels": levels})

    handlers = {
        signal.SIGTERM: on_stop,
        signal.SIGINT: on_stop,
        signal.SIGHUP: daemon.request_reload,
        signal.SIGUSR1: lambda: on_verbosity(1),
        signal.SIGUSR2: lambda: on_verbosity(-1),
    }
    for sig, handler in handlers.items():
        loop.add_signal_handler(sig, handler)
    beat = asyncio.create_task(monitor.run(), name="loop-monitor")
    try:
        try:
            # First: a second daemon on the same state_dir (often with the same config, so the
            # same HTTP address) must be told that, not that the address is taken.
            daemon.state_lock.acquire()
        except (LogflumeError, OSError) as exc:
            log.error("Cannot start", extra={"error": str(exc)})
            return 1
        if server is not None:
            try:
                await server.start()
            except OSError as exc:
                log.error(
                    "Cannot listen on the HTTP address",
                    extra={"address": config.http.address, "error": str(exc)},
                )
                return 1
        try:
            await daemon.start()
        except StateFileError as exc:
            log.error("Cannot start", extra={"error": str(exc)})
            return EXIT_CONFIG
        except (LogflumeError, OSError) as exc:
            log.error("Cannot start", extra={"error": str(exc)})
            return 1
        failure = await daemon.wait(stop)
        await daemon.shutdown()
        return 0 if failure is None else 1
    finally:
        beat.cancel()
        if server is not None:
            await server.stop()
        for sig in handlers:
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
