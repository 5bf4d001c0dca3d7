"""What the ops package reads from the running daemon: its counters and a read-only view of it.

The daemon updates the counters once per chunk or batch (never per event); the metrics collector,
the health checks and the watchdog only read them, on the event loop, when asked.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from logflume.alerts.dispatcher import AlertDispatcher
from logflume.deadletter import DeadLetterFile
from logflume.events import RawChunk
from logflume.fsutil import WriteFaults
from logflume.pipeline.isolate import StageCounters
from logflume.pipeline.parse import ParseStats
from logflume.sinks.runner import SinkRunner
from logflume.sources.tail import FileSource


@dataclass
class PipelineStats:
    """Totals of the processor (only grow, except ``last_progress``): chunks it handled and events
    it handed to the sinks (what sources and stages count is theirs, :mod:`logflume.telemetry`)."""

    chunks: int = 0
    events_out: int = 0
    reloads: int = 0
    reload_failures: int = 0
    task_failures: dict[str, int] = field(default_factory=dict)  # by task name
    alerts_fired: dict[str, int] = field(default_factory=dict)  # by rule
    last_progress: float = field(default_factory=time.monotonic)


class NamedStage(Protocol):
    """A stage as ops sees it: its name (and its own counts, when it implements Reporting)."""

    @property
    def name(self) -> str: ...


class DaemonView(Protocol):
    """The running daemon as ops sees it (read-only; ``app.Daemon`` implements it)."""

    @property
    def stats(self) -> PipelineStats: ...

    @property
    def parse_stats(self) -> Mapping[str, ParseStats]:
        """What each source's lines became in parse (wherever it ran)."""

    @property
    def stage_stats(self) -> Mapping[str, StageCounters]:
        """The counts every stage after parse has, by stage name (kept by the processor)."""

    def stages(self) -> Sequence[NamedStage]:
        """The stages after parse, in order (those that count more implement Reporting)."""

    @property
    def sources(self) -> Mapping[str, FileSource]: ...

    @property
    def queue(self) -> asyncio.Queue[RawChunk]: ...

    @property
    def alerts(self) -> AlertDispatcher: ...

    @property
    def dead_letters(self) -> DeadLetterFile: ...

    @property
    def checkpoint_times(self) -> Mapping[str, float]: ...

    @property
    def failed_tasks(self) -> Mapping[str, str]:
        """Internal tasks that died, with their error (the daemon is stopping)."""

    @property
    def ready(self) -> bool: ...

    @property
    def stopping(self) -> bool: ...

    def all_runners(self) -> Sequence[SinkRunner]:
        """Every sink runner that still holds data: the current ones and those being removed."""

    def source_running(self, name: str) -> bool:
        """True while the source's task follows its files."""

    def stage_names(self) -> Sequence[str]:
        """Names of the stages a tap can follow, in order (``parse`` first)."""

    def write_faults(self) -> Sequence[tuple[str, str, WriteFaults]]:
        """(kind, name, failures) of every writer of local state (checkpoints, dead letters, …)."""
