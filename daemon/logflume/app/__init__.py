"""Wiring: builds sources, stages and sinks from a config and runs them until told to stop.

    sources ──RawChunk──▶ [bounded queue] ──▶ processor: parse → stages ──▶ one bounded queue per
    sink ──▶ SinkRunner ──ack──▶ source offsets ──▶ checkpointer (sync sinks, then save)

Only this package knows every component. One module per concern:

* :mod:`~logflume.app.daemon`: building from a config, start, drain and stop, checkpoints;
* :mod:`~logflume.app.processor`: the hot loop (parse, stages, dispatch to the sink runners);
* :mod:`~logflume.app.reload`: what a reload changes, and applying it to the running daemon;
* :mod:`~logflume.app.signals`: running in the foreground (signals, HTTP endpoint, exit code).

The local HTTP endpoint and systemd notification come from :mod:`logflume.ops`.
"""

from __future__ import annotations

from logflume.app.daemon import Daemon
from logflume.app.processor import metered_call
from logflume.app.signals import run_daemon
from logflume.gctune import tune_gc

__all__ = ["Daemon", "metered_call", "run_daemon", "tune_gc"]
