"""Sample: per-level keep rates, deterministic per trace so a trace is kept or dropped whole.

The decision hashes the event's ``trace_id`` (else ``request_id``, else its event id) into [0, 1)
and keeps the event when that number is below its level's rate. The same id always gives the same
number, on every run and every host, so every event of a kept trace is kept at its level; and a
trace kept at a low rate (DEBUG 1%) is also kept at every higher rate.
"""

from __future__ import annotations

import zlib
from collections import Counter
from typing import Any

from pydantic import Field, field_validator

from logflume.events import META_KEY, Batch, Event
from logflume.models import StrictModel
from logflume.pipeline.labels import text
from logflume.pipeline.normalise import LEVELS
from logflume.pipeline.paths import MISSING, check_path, make_getter
from logflume.telemetry import Count, count


class SampleConfig(StrictModel):
    """Keep rates per level (the seed's DEBUG 1%, ERROR 100% by default)."""

    rates: dict[str, float] = Field(
        default_factory=lambda: {"DEBUG": 0.01, "ERROR": 1.0},
        description="Level → fraction of events kept (0 to 1); level names are case-insensitive.",
    )
    default_rate: float = Field(
        1.0, ge=0, le=1, description="Rate for levels not listed (and events without one)."
    )
    level_field: str = Field("level", description="Field holding the level.")
    key_fields: list[str] = Field(
        default_factory=lambda: ["trace_id", "request_id"],
        description="Fields whose value decides, first present wins; none present: the event id.",
    )
    salt: str = Field("", description="Changes which traces are kept, e.g. per deployment.")

    @field_validator("rates")
    @classmethod
    def _rates(cls, value: dict[str, float]) -> dict[str, float]:
        bad = {level: rate for level, rate in value.items() if not 0 <= rate <= 1}
        if bad:
            raise ValueError(f"rates must be between 0 and 1: {bad}")
        return {level.upper(): rate for level, rate in value.items()}

    @field_validator("key_fields")
    @classmethod
    def _paths(cls, value: list[str]) -> list[str]:
        return [check_path(path) for path in value]


def unit_hash(salt: bytes, key: str) -> float:
    """A stable number in [0, 1) for ``key`` (CRC-32: fast, and identical on every platform)."""
    return zlib.crc32(key.encode("utf-8", "surrogatepass"), zlib.crc32(salt)) / 4294967296.0


class Sampler:
    """The sample stage; ``dropped`` counts dropped events per level ("other", "none" for the rest)."""

    name = "sample"

    def __init__(self, config: SampleConfig) -> None:
        self.rates = dict(config.rates)
        self.default = config.default_rate
        self.level_field = config.level_field
        self.keys = [make_getter(path) for path in config.key_fields]
        self.salt = config.salt.encode()
        self.dropped: Counter[str] = Counter()

    def telemetry(self) -> list[Count]:
        return [count("sampled_out", n, level=level) for level, n in sorted(self.dropped.items())]

    def keep(self, event: Event) -> bool:
        """Whether ``event`` is kept (counts it as dropped when not)."""
        level = event.get(self.level_field)
        rate = self.rates.get(level, self.default) if type(level) is str else self.default
        if rate >= 1.0:
            return True
        if rate > 0.0 and unit_hash(self.salt, self._key(event)) < rate:
            return True
        # Labels are bounded: an unknown level name counts as "other", a missing one as "none".
        if type(level) is not str:
            label = "none"
        elif level in self.rates or level in LEVELS:
            label = level
        else:
            label = "other"
        self.dropped[label] += 1
        return False

    def _key(self, event: Event) -> str:
        for get in self.keys:
            value: Any = get(event)
            if value is not MISSING and value is not None and value != "":
                return value if type(value) is str else _key_text(value)
        meta = event.get(META_KEY)
        return str(meta.get("event_id", "")) if type(meta) is dict else ""

    def __call__(self, batch: Batch, now: float) -> Batch:
        keep = self.keep
        batch.events = [event for event in batch.events if keep(event)]
        if batch.routes:
            # Routed events are sampled too; an event routed to several sinks is decided once.
            decided: dict[int, bool] = {}
            for sink, events in batch.routes.items():
                kept = []
                for event in events:
                    verdict = decided.get(id(event))
                    if verdict is None:
                        verdict = decided[id(event)] = keep(event)
                    if verdict:
                        kept.append(event)
                batch.routes[sink] = kept
        return batch


def _key_text(value: Any) -> str:
    try:
        return str(value)
    except (ValueError, RecursionError):  # an integer past 4300 digits; a list nested too deep
        return text(value)
