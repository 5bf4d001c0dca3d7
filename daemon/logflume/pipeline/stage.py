"""The stage protocol and the chain that runs stages in order.

A stage is built once from its config (all checks and compilation happen then) into a callable
from a :class:`~logflume.events.Batch` to a :class:`~logflume.events.Batch`. Stages are pure
functions of the batch plus their own state, do no I/O and never await, so the chain can later run
in worker processes without redesign. Stages that hold windows (aggregate, anomaly) are also
called with an empty batch on every tick, so windows close when input goes quiet; they read the
time from ``now`` so tests and replays control it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from logflume.events import Batch


class Stage(Protocol):
    """One processing step."""

    name: str

    def __call__(self, batch: Batch, now: float) -> Batch:
        """Transform ``batch``; ``now`` is the wall-clock time (epoch seconds) of this call."""



class Chain:
    """Runs stages in order; the loop is the whole of it."""

    def __init__(self, stages: Sequence[Stage]) -> None:
        self.stages = list(stages)

    def __call__(self, batch: Batch, now: float) -> Batch:
        for stage in self.stages:
            batch = stage(batch, now)
        return batch


class PassThrough:
    """A slot with nothing configured: returns the batch unchanged."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, batch: Batch, now: float) -> Batch:
        return batch
