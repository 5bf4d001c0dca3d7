"""The event, the units of work that flow through the daemon, and end-to-end acknowledgement.

An *event* is a plain ``dict`` decoded from one JSON line: every original field is kept as it was,
and the daemon adds one reserved key, ``META_KEY`` ("logflume"), holding its metadata:

    {"event_id": "<fingerprint>-<offset hex>", "source": "<source name>", "file": "<path>",
     "offset": <byte offset of the line>, "ingested_at": "<UTC ISO 8601>"}

Events the daemon makes itself (window metrics, alerts) carry ``type`` and their own ``event_id``
in the same reserved key.

Dicts rather than classes because the hot path is decode → (stages) → encode, and a dict is what
the JSON library produces and consumes without copying.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Event = dict[str, Any]
META_KEY = "logflume"


def event_id(event: Event) -> str:
    """The stable id of an event (raises KeyError for an event without metadata)."""
    return str(event[META_KEY]["event_id"])


def make_event_id(fingerprint: str, offset: int) -> str:
    """Deterministic id for the line that starts at ``offset`` of the file ``fingerprint``."""
    return f"{fingerprint}-{offset:x}"


@dataclass(slots=True)
class DeadLetter:
    """An input that could not become an event, or an event a backend refused for good."""

    source: str
    file: str
    offset: int
    reason: str
    raw: bytes | str


class Ack:
    """Counts the consumers (sinks) that still have to accept a unit of input.

    Created by a source for each chunk it reads, with the number of consumers set by whoever
    fans it out. When the last consumer calls :meth:`done`, ``on_complete`` runs once, and the
    source may advance its checkpoint past ``end_offset``.
    """

    __slots__ = ("_on_complete", "end_offset", "key", "remaining")

    def __init__(self, key: str, end_offset: int, on_complete: Callable[[Ack], None]) -> None:
        self.key = key
        self.end_offset = end_offset
        self.remaining = 1
        self._on_complete = on_complete

    def retain(self, count: int) -> None:
        """Add ``count`` more consumers that must each call :meth:`done`."""
        self.remaining += count

    def done(self) -> None:
        self.remaining -= 1
        if self.remaining == 0:
            self._on_complete(self)

    @property
    def complete(self) -> bool:
        return self.remaining <= 0


@dataclass(slots=True)
class RawChunk:
    """Whole lines read from one file: ``data`` starts at file offset ``start`` and ends with b"\\n"."""

    source: str
    fingerprint: str
    path: str
    start: int
    data: bytes
    ack: Ack
    dead: list[DeadLetter] = field(default_factory=list)


@dataclass(slots=True)
class Batch:
    """Events on their way through the stages and out to the sinks.

    ``acks`` are the acknowledgements every sink must complete once it has durably accepted the
    batch; ``dead`` are inputs rejected so far (they go to the dead-letter file).
    """

    events: list[Event]
    acks: list[Ack] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    # Alert events raised by the anomaly stage in this batch (also in ``events``, so they reach
    # the sinks); the daemon hands these to the alert channels.
    alerts: list[Event] = field(default_factory=list)
    # Set by the filter stage when it routes: ``routes[name]`` is the whole list of events for
    # sink ``name``; a sink not named here receives ``events``. ``None``: every sink gets ``events``.
    routes: dict[str, list[Event]] | None = None

    def events_for(self, sink_name: str) -> list[Event]:
        if self.routes is None:
            return self.events
        return self.routes.get(sink_name, self.events)
