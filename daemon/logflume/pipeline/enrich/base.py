"""What every enrichment is: a function over the whole list of events, built once from config."""

from __future__ import annotations

from typing import Protocol

from logflume.events import Event


class Enrichment(Protocol):
    """Adds fields to events in place; unknown or missing inputs leave the target absent."""

    name: str

    def __call__(self, events: list[Event], now: float) -> None: ...


class BoundedCache(dict[str, object]):
    """A dict that forgets everything when full: cheap, and logs repeat the same few values."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def put(self, key: str, value: object) -> None:
        if self.size <= 0:
            return
        if len(self) >= self.size:
            self.clear()
        self[key] = value
