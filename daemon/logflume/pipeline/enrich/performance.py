"""``performance_category`` from the response time."""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

from logflume.events import Event
from logflume.pipeline.enrich.config import PerformanceConfig
from logflume.pipeline.paths import make_getter, make_setter


class PerformanceCategory:
    name = "performance"

    def __init__(self, config: PerformanceConfig) -> None:
        self.limits = [t.below for t in config.thresholds]
        self.labels = [t.category for t in config.thresholds] + [config.otherwise]
        self.get = make_getter(config.field)
        self.put = make_setter(config.target)
        # Plain keys (the default) are read and written inline: two calls fewer per event.
        self._plain = "." not in config.field and "." not in config.target
        self._field, self._target = config.field, config.target

    def __call__(self, events: list[Event], now: float) -> None:
        limits, labels = self.limits, self.labels
        if self._plain:
            field, target = self._field, self._target
            for event in events:
                value: Any = event.get(field)
                kind = type(value)
                # bisect_right: a time equal to a limit is not "below" it.
                if (kind is float or kind is int) and value == value:  # NaN has no category
                    event[target] = labels[bisect_right(limits, value)]
            return
        get, put = self.get, self.put
        for event in events:
            value = get(event)
            kind = type(value)
            if (kind is float or kind is int) and value == value:
                put(event, labels[bisect_right(limits, value)])
