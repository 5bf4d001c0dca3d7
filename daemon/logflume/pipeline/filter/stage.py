"""The filter stage: rules applied in order to the whole batch, one list pass per rule."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from logflume.events import Batch, Event
from logflume.pipeline.filter.config import FilterConfig
from logflume.pipeline.filter.language import Condition, compile_condition
from logflume.telemetry import Count, count


@dataclass
class FilterStats:
    dropped: Counter[str] = field(default_factory=Counter)  # by rule name
    routed: Counter[str] = field(default_factory=Counter)  # by sink name


@dataclass(frozen=True)
class _Rule:
    label: str
    action: str
    condition: Condition
    sinks: tuple[str, ...]


class FilterStage:
    """Drops, keeps or routes events by rule.

    Routing sets ``batch.routes``: each sink named by any route rule receives exactly the events
    routed to it (an empty list when none were), every other sink receives ``batch.events``, from
    which routed events are removed.
    """

    name = "filter"

    def __init__(self, config: FilterConfig) -> None:
        self.rules = [
            _Rule(rule.name or f"rules[{i}]", rule.action, compile_condition(rule.when), tuple(rule.sinks))
            for i, rule in enumerate(config.rules)
        ]
        self.route_sinks = sorted(config.route_sinks())
        self.stats = FilterStats()

    def telemetry(self) -> list[Count]:
        stats = self.stats
        dropped = [count("rule_events_dropped", n, rule=rule) for rule, n in sorted(stats.dropped.items())]
        routed = [count("rule_events_routed", n, sink=sink) for sink, n in sorted(stats.routed.items())]
        return dropped + routed

    def __call__(self, batch: Batch, now: float) -> Batch:
        events = batch.events
        routes = None
        if self.route_sinks:
            routes = batch.routes if batch.routes is not None else {}
            for sink in self.route_sinks:
                routes.setdefault(sink, [])
            batch.routes = routes
        for rule in self.rules:
            if not events:
                break
            matches = rule.condition
            if rule.action == "drop":
                kept = [event for event in events if not matches(event)]
                self.stats.dropped[rule.label] += len(events) - len(kept)
            elif rule.action == "keep":
                kept = [event for event in events if matches(event)]
                self.stats.dropped[rule.label] += len(events) - len(kept)
            else:
                assert routes is not None
                kept, routed = _split(events, matches)
                for sink in rule.sinks:
                    routes[sink].extend(routed)
                    self.stats.routed[sink] += len(routed)
            events = kept
        batch.events = events
        return batch


def _split(events: list[Event], matches: Condition) -> tuple[list[Event], list[Event]]:
    kept: list[Event] = []
    routed: list[Event] = []
    for event in events:
        (routed if matches(event) else kept).append(event)
    return kept, routed
