"""``cost_usd`` from a model price table (USD per 1K input/output tokens)."""

from __future__ import annotations

from typing import Any

from logflume.events import Event
from logflume.pipeline.enrich.base import BoundedCache
from logflume.pipeline.enrich.config import CostConfig, ModelPrice
from logflume.pipeline.paths import MISSING, Getter, make_getter, make_setter

_MISS = object()
# More tokens than this is no count (and a float of it, times a price, must stay finite).
_MAX_TOKENS = 1e15


def _count(getters: list[Getter], event: Event) -> float | None:
    for get in getters:
        value = get(event)
        if value is MISSING:
            continue
        kind = type(value)
        # A chained comparison also refuses NaN, infinities and integers no float can hold.
        if (kind is int or kind is float) and 0 <= value < _MAX_TOKENS:
            return float(value)
        return None  # present but not a count: no guessing from a later field
    return None


class Cost:
    name = "cost"

    def __init__(self, config: CostConfig) -> None:
        self.exact = {name: price for name, price in config.prices.items() if not name.endswith("*")}
        self.prefixes = sorted(
            ((name[:-1], price) for name, price in config.prices.items() if name.endswith("*")),
            key=lambda item: len(item[0]),
            reverse=True,
        )
        self.get_model = make_getter(config.model_field)
        self.inputs = [make_getter(p) for p in config.input_fields]
        self.outputs = [make_getter(p) for p in config.output_fields]
        self.totals = [make_getter(p) for p in config.total_fields]
        self.put = make_setter(config.target)
        self.cache = BoundedCache(10_000)

    def price_for(self, model: str) -> ModelPrice | None:
        price = self.exact.get(model)
        if price is not None:
            return price
        for prefix, candidate in self.prefixes:
            if model.startswith(prefix):
                return candidate
        return None

    def cost(self, price: ModelPrice, event: Event) -> float | None:
        tokens_in = _count(self.inputs, event)
        tokens_out = _count(self.outputs, event)
        if tokens_in is not None or tokens_out is not None:
            return ((tokens_in or 0.0) * price.input + (tokens_out or 0.0) * price.output) / 1000
        if price.total is None:
            return None
        total = _count(self.totals, event)
        return None if total is None else total * price.total / 1000

    def __call__(self, events: list[Event], now: float) -> None:
        get_model, put, cache = self.get_model, self.put, self.cache
        for event in events:
            model = get_model(event)
            if type(model) is not str:
                continue
            price: Any = cache.get(model, _MISS)
            if price is _MISS:
                price = self.price_for(model)
                cache.put(model, price)
            if price is None:
                continue
            usd = self.cost(price, event)
            if usd is not None:
                # Rounded so sums stay readable (no 0.0045000000000001); far below a cent.
                put(event, round(usd, 8))
