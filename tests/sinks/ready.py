"""Opening a sink in a test as the runner does: ``open`` then ``prepare``, through the lifecycle."""

from __future__ import annotations

from logflume.sinks.base import Sink
from logflume.sinks.lifecycle import Lifecycle


async def ready(sink: Sink) -> None:
    """Open and prepare ``sink`` (raising what either raises), as a runner does before writing."""
    await Lifecycle(sink, sink.name).ready()
