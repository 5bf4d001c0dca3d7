"""``business_unit`` from the endpoint by longest matching prefix."""

from __future__ import annotations

from logflume.events import Event
from logflume.pipeline.enrich.base import BoundedCache
from logflume.pipeline.enrich.config import BusinessUnitConfig
from logflume.pipeline.paths import make_getter, make_setter

_MISS = object()


class BusinessUnit:
    name = "business_unit"

    def __init__(self, config: BusinessUnitConfig) -> None:
        # Longest first, so the first prefix that matches is the longest one.
        self.prefixes = sorted(config.prefixes.items(), key=lambda item: len(item[0]), reverse=True)
        self.default = config.default
        self.get = make_getter(config.field)
        self.put = make_setter(config.target)
        self.cache = BoundedCache(10_000)

    def unit_for(self, endpoint: str) -> str | None:
        for prefix, unit in self.prefixes:
            if endpoint.startswith(prefix):
                return unit
        return self.default

    def __call__(self, events: list[Event], now: float) -> None:
        get, put, cache = self.get, self.put, self.cache
        for event in events:
            endpoint = get(event)
            if type(endpoint) is not str:
                continue
            unit = cache.get(endpoint, _MISS)
            if unit is _MISS:
                unit = self.unit_for(endpoint)
                cache.put(endpoint, unit)
            if unit is not None:
                put(event, unit)
