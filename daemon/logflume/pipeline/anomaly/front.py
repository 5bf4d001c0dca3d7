"""What the anomaly stage takes from a batch, worked out without its state.

For the threshold rules: each event's time and the rules it matches (with their subjects); for
the statistical detectors: the metric events the aggregate made. Matching is the costly part
(conditions, RE2 over the event's JSON) and needs no state, so it runs wherever the stateless
stages run — in a worker process when the daemon has several — and the stage (in the daemon
process) only counts (:meth:`AnomalyStage.take`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from logflume.events import META_KEY, Event
from logflume.pipeline.aggregate.clock import event_time
from logflume.pipeline.anomaly.config import AnomalyConfig
from logflume.pipeline.anomaly.matching import Match, RuleMatcher, match_all

_OWN_TYPES = frozenset({"metric", "alert"})


def made_here(event: Event) -> bool:
    """A metric or alert event of the daemon's own (its metadata names the daemon as source)."""
    kind = event.get("type")
    if type(kind) is not str or kind not in _OWN_TYPES:
        return False
    meta = event.get(META_KEY)
    return type(meta) is dict and meta.get("source") == "logflume"


@dataclass(slots=True)
class AnomalyInput:
    """Per matching event its time (None: it has none) and matches; the newest event time the
    rules saw; the daemon's own metric events."""

    times: list[float | None] = field(default_factory=list)
    matches: list[list[Match]] = field(default_factory=list)
    newest: float | None = None
    metrics: list[Event] = field(default_factory=list)

    def extend(self, other: AnomalyInput) -> None:
        self.times.extend(other.times)
        self.matches.extend(other.matches)
        if other.newest is not None and (self.newest is None or other.newest > self.newest):
            self.newest = other.newest
        self.metrics.extend(other.metrics)


class AnomalyFront:
    """Built once from the anomaly config; called on each batch's events."""

    def __init__(self, config: AnomalyConfig) -> None:
        self.matchers = [RuleMatcher(rule) for rule in config.rules]

    def __call__(self, events: list[Event]) -> AnomalyInput:
        out = AnomalyInput()
        matchers = self.matchers
        newest = float("-inf")
        for event in events:
            if made_here(event):
                if event["type"] == "metric":
                    out.metrics.append(event)
                continue
            if not matchers:
                continue
            ts = event_time(event)
            if ts is not None and ts > newest:
                newest = ts
            found = match_all(matchers, event)
            if found:
                out.times.append(ts)
                out.matches.append(found)
        if newest > float("-inf"):
            out.newest = newest
        return out
