"""Config reload (SIGHUP): what changes between the running and the new config, and applying it.

Sinks and sources are compared by value, by name: an identical one keeps running untouched, a
changed one is replaced (the old one drained and closed, then the new one started), a removed
one is drained and closed, a new one started. The stages are always rebuilt (in the daemon and in
every worker process), so that lookup tables and databases on disk are read again. A few
settings cannot change while running; the new value is reported and takes effect at the next
start.

The plan (:func:`plan_reload`) is pure and does no I/O; :func:`reload` loads the file through the
same path as ``logflume validate`` and start-up, and applies the plan to a running daemon.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from logflume import selflog
from logflume.alerts.dispatcher import AlertDispatcher
from logflume.config import Config, load_config
from logflume.errors import ConfigError
from logflume.pipeline.build import build_windowed
from logflume.pipeline.job import StageSet
from logflume.pipeline.redact import text_scrubber
from logflume.sinks.runner import SinkRunner

if TYPE_CHECKING:
    from logflume.app.daemon import Daemon

log = logging.getLogger("logflume.app")

# Settings that shape resources held for the whole run: the state directory (checkpoints, disk
# buffers), the dead-letter file, the listening socket, the size of the processor queue and the
# worker processes.
RESTART_ONLY = ("state_dir", "dead_letter", "http", "queue_chunks", "workers")
# How often a reload looks whether a removed source's last chunks were acknowledged.
DRAIN_POLL_SECONDS = 0.05


@dataclass
class ReloadPlan:
    """Names of what to keep, start and stop; ``restart_only`` lists changed keys that wait for a restart."""

    sinks_keep: list[str] = field(default_factory=list)
    sinks_start: list[str] = field(default_factory=list)
    sinks_stop: list[str] = field(default_factory=list)
    sources_keep: list[str] = field(default_factory=list)
    sources_start: list[str] = field(default_factory=list)
    sources_stop: list[str] = field(default_factory=list)
    alerts_changed: bool = False
    log_changed: bool = False
    restart_only: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """For the log line that reports a reload."""
        return {key: value for key, value in vars(self).items() if value}


def _diff(old: dict[str, Any], new: dict[str, Any]) -> tuple[list[str], list[str], list[str]]:
    keep = [name for name, cfg in new.items() if name in old and old[name] == cfg]
    start = [name for name in new if name not in keep]
    stop = [name for name in old if name not in keep]
    return keep, start, stop


def plan_reload(old: Config, new: Config) -> ReloadPlan:
    """Compare the running config with a validated new one."""
    plan = ReloadPlan()
    old_sinks: list[Any] = old.sinks  # a union of every sink type's model
    new_sinks: list[Any] = new.sinks
    plan.sinks_keep, plan.sinks_start, plan.sinks_stop = _diff(
        {sink.name: sink for sink in old_sinks}, {sink.name: sink for sink in new_sinks}
    )
    plan.sources_keep, plan.sources_start, plan.sources_stop = _diff(
        {source.name: source for source in old.sources}, {source.name: source for source in new.sources}
    )
    plan.alerts_changed = old.alerts != new.alerts
    plan.log_changed = old.log != new.log
    plan.restart_only = [key for key in RESTART_ONLY if getattr(old, key) != getattr(new, key)]
    return plan


def effective_config(old: Config, new: Config) -> Config:
    """The new config with the restart-only settings of the running one: what actually runs."""
    return new.model_copy(update={key: getattr(old, key) for key in RESTART_ONLY})


async def reload(daemon: Daemon, config_path: str) -> bool:
    """Load and validate ``config_path`` again and apply it; keep the running config if invalid.

    Unchanged sinks and sources keep running untouched; removed ones are drained and closed;
    new ones start; the chain is rebuilt after the stages saved their state. Returns True
    when the new config runs.
    """
    stats = daemon.stats
    try:
        # The same path as `logflume validate` and start-up.
        new = await asyncio.to_thread(load_config, config_path)
    except ConfigError as exc:
        stats.reload_failures += 1
        issues = [str(issue) for issue in exc.issues]
        log.error(
            "Config reload failed; keeping the running config", extra={"file": config_path, "issues": issues}
        )
        return False
    except Exception as exc:
        # Loading should only ever raise ConfigError; anything else is a bug in it, and a
        # SIGHUP must not take a running daemon down or leave a traceback on stderr.
        stats.reload_failures += 1
        log.error(
            "Config reload failed; keeping the running config",
            extra={"file": config_path, "issues": [f"{type(exc).__name__}: {exc}"]},
        )
        return False
    plan = plan_reload(daemon.config, new)
    if plan.restart_only:
        log.warning("Changed settings take effect at the next start", extra={"keys": plan.restart_only})
    if not await _apply(daemon, effective_config(daemon.config, new), plan):
        stats.reload_failures += 1
        return False
    stats.reloads += 1
    log.info("Config reloaded", extra=plan.summary())
    return True


async def _apply(daemon: Daemon, new: Config, plan: ReloadPlan) -> bool:
    sinks: list[Any] = new.sinks  # a union of every sink type's model
    sink_configs = {sink.name: sink for sink in sinks}
    started: list[SinkRunner] = []
    # A changed sink starts only once its old runner is drained and closed: both would use
    # the same disk-buffer directory and backend objects (files, partitions) at once.
    replacements: list[SinkRunner] = []
    alerts: AlertDispatcher | None = None
    try:
        for name in plan.sinks_start:
            runner = daemon.build_runner(sink_configs[name])
            if name in plan.sinks_stop:
                replacements.append(runner)
                continue
            await runner.start()
            started.append(runner)
        if plan.alerts_changed:
            alerts = AlertDispatcher(new.alerts)
            await alerts.start()
        async with daemon.dispatch_lock:
            # No await from here to the swap: no batch runs through the stages in between,
            # so the state saved is the state the new chain restores.
            daemon.save_stage_state()
            # Built here first: a table that cannot be read fails the reload, not a worker.
            stateless = StageSet.build(new.pipeline)
            windowed = build_windowed(new.pipeline, new.state_dir)
            retiring = [runner for runner in daemon.runners if runner.name in plan.sinks_stop]
            by_name = {runner.name: runner for runner in daemon.runners if runner.name not in plan.sinks_stop}
            by_name.update((runner.name, runner) for runner in [*started, *replacements])
            daemon.runners = [by_name[sink.name] for sink in sinks]
            daemon.retiring.extend(retiring)
            daemon.set_windowed(windowed)
            daemon.processor.use_stages(new.pipeline, stateless)
            if daemon.dead_letters.raw_mode == "redacted":
                daemon.dead_letters.use_scrubber(text_scrubber(new.pipeline.redact))
            old_alerts, daemon.alerts = daemon.alerts, alerts or daemon.alerts
            old_config, daemon.config = daemon.config, new
            started, alerts = [], None  # swapped in: no longer ours to clean up
    except Exception as exc:
        log.error("Config reload failed; keeping the running config", extra={"error": str(exc)})
        for runner in started:
            await runner.stop()
        if alerts is not None:
            await alerts.stop(0)
        return False
    if plan.log_changed:
        selflog.apply_levels(new.log.level, dict(new.log.levels))
    await asyncio.gather(*(_retire_runner(daemon, runner) for runner in retiring))
    for runner in replacements:
        # Batches for it wait in its memory buffer meanwhile (backpressure, nothing lost).
        try:
            await runner.start()
        except Exception as exc:
            log.error("Changed sink could not start", extra={"sink": runner.name, "error": str(exc)})
    if old_alerts is not daemon.alerts:
        await old_alerts.stop(min(5.0, old_config.shutdown_timeout))
    await asyncio.gather(*(_retire_source(daemon, name) for name in plan.sources_stop))
    source_configs = {source.name: source for source in new.sources}
    for name in plan.sources_start:
        source = daemon.add_source(source_configs[name])
        source.load_checkpoints()
        daemon.start_source(source)
    return True


async def _retire_runner(daemon: Daemon, runner: SinkRunner) -> None:
    """Deliver what a removed sink holds (at most shutdown_timeout), then close it."""
    try:
        async with asyncio.timeout(daemon.config.shutdown_timeout):
            await runner.stop()
    except TimeoutError:
        log.warning("Removed sink did not drain in time; stopped it", extra={"sink": runner.name})
        runner.abort()
    finally:
        daemon.retiring.remove(runner)


async def _retire_source(daemon: Daemon, name: str) -> None:
    """Stop a removed (or changed) source once everything it read is acknowledged, and save
    its checkpoint, so its replacement resumes exactly there."""
    source = daemon.sources[name]
    source.stop()
    task = daemon.source_tasks.get(name)
    try:
        async with asyncio.timeout(daemon.config.shutdown_timeout):
            if task is not None:
                await asyncio.wait([task])
            # Polled: acknowledgements complete in sink tasks, and FileSource signals none.
            while source.in_flight():  # noqa: ASYNC110
                await asyncio.sleep(DRAIN_POLL_SECONDS)
    except TimeoutError:
        log.warning(
            "Removed source did not drain in time; its unacknowledged lines will be read again",
            extra={"source": name, "chunks": source.in_flight()},
        )
    source.mark_dirty()
    await daemon.save_checkpoints([source])
    daemon.sources.pop(name, None)
    daemon.source_tasks.pop(name, None)
