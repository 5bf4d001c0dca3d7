"""The sink protocol: what a backend implements. Everything else is the runner's job.

Lifecycle (owned by :mod:`logflume.sinks.lifecycle`, the same for every backend): ``open``
connects, ``prepare`` creates what writes need (tables, partitions, an index template, the
bucket). Both raise :class:`~logflume.errors.RetryableSinkError` while the backend is down (the
runner defers and tries again before the next write) and :class:`~logflume.errors.FatalSinkError`
when it cannot work as configured. A sink never swallows these to look healthy.

A sink only *classifies* outcomes (Vector's model, see :mod:`logflume.retry`). ``write`` either

* returns a :class:`WriteResult` — ``retry`` lists events that failed transiently and should be
  sent again (e.g. bulk items answered 429), ``rejected`` lists events the backend refused for
  good with its reason (they go to the dead-letter file); everything else was accepted; or
* raises :class:`~logflume.errors.RetryableSinkError` when the whole request failed transiently
  (connection refused, timeout, 5xx), :class:`~logflume.errors.SinkSetupLostError` when what
  ``prepare`` made is gone (a dropped table, a deleted bucket: the runner prepares again, then
  retries), or :class:`~logflume.errors.FatalSinkError` when it cannot succeed as configured (auth
  refused, unknown index settings).

Backoff, jitter, attempt limits, batching and buffering live in :mod:`logflume.sinks.runner`,
shared by every sink.

Events reach the runner already encoded, as JSON lines (:class:`~logflume.lines.Lines`). A sink
that writes JSON lines as they are (file, S3), or the encoding of them it names as its
``encoding`` (Elasticsearch's ``_bulk`` items, PostgreSQL's COPY rows, made in the workers), also
implements :class:`LineSink`'s ``write_lines`` and takes them without decoding; for any other sink
the runner decodes them first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from logflume.events import Event
from logflume.lines import Lines


@dataclass(slots=True)
class WriteResult:
    """The per-event outcome of one write; events named in neither list were accepted."""

    retry: list[Event] = field(default_factory=list)
    rejected: list[tuple[Event, str]] = field(default_factory=list)


ACCEPTED = WriteResult()


@dataclass(slots=True)
class LinesResult:
    """:class:`WriteResult` for a :class:`LineSink`: the blocks (or parts of them) to send again,
    and events refused for good with the reason."""

    retry: list[Lines] = field(default_factory=list)
    rejected: list[tuple[Event, str]] = field(default_factory=list)


class Sink(Protocol):
    """A storage backend. One instance per configured sink; the runner calls it from one task."""

    name: str

    async def open(self) -> None:
        """Create clients and connect. Raises RetryableSinkError or FatalSinkError."""

    async def prepare(self) -> None:
        """Create what writes need (tables, templates, buckets); called after ``open``, and again
        after a write raised SinkSetupLostError. Raises RetryableSinkError or FatalSinkError."""

    async def write(self, events: list[Event]) -> WriteResult:
        """Deliver ``events``; return only once the backend holds what it reports accepted."""

    async def sync(self) -> None:
        """Make everything accepted so far durable; called before checkpoints are written."""

    async def close(self) -> None:
        """Release connections and files; must be safe to call after a failed ``open``; ``open``
        may be called again afterwards."""

    async def check(self) -> str:
        """Probe connectivity, auth and write permission without writing events; return a
        one-line description of what was checked, raise SinkError on failure."""


class LineSink(Sink, Protocol):
    """A sink that writes events' JSON lines as they are: the runner hands it the lines."""

    async def write_lines(self, blocks: list[Lines]) -> LinesResult:
        """Deliver the events of ``blocks``; the same contract as :meth:`Sink.write`."""
