"""What a config reload (SIGHUP) changes: the difference between the running and the new config.

Sinks and sources are compared by value, by name: an identical one keeps running untouched, a
changed one is replaced (the old one drained and closed, then the new one started), a removed
one is drained and closed, a new one started. The stage chain is always rebuilt, so that lookup
tables and databases on disk are read again. A few settings cannot change while running; the
new value is reported and takes effect at the next start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from logflume.config import Config

# Settings that shape resources held for the whole run: the state directory (checkpoints, disk
# buffers), the dead-letter file, the listening socket and the size of the processor queue.
RESTART_ONLY = ("state_dir", "dead_letter", "http", "queue_chunks")


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
