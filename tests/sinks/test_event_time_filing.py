"""One event, one day: every backend files an event under the instant the daemon's time rule reads.

Before one event-time module, Elasticsearch read epoch numbers as milliseconds, PostgreSQL and S3
as seconds up to 1e11, and the aggregate clock up to 1e10: ``{"timestamp": 5e10}`` landed in 1971
in one backend and in 3554 in another.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from logflume import eventtime
from logflume.events import META_KEY, Batch, Event
from logflume.pipeline.aggregate.clock import event_time
from logflume.pipeline.normalise import NormaliseConfig, Normaliser
from logflume.sinks.elasticsearch.bulk import BulkEncoder
from logflume.sinks.elasticsearch.naming import IndexNamer
from logflume.sinks.postgres.rows import RowBuilder
from logflume.sinks.s3.keys import KeyRenderer
from tests.hostile import HOSTILE, epoch_numbers, scalars, time_texts

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
INGESTED = "2026-03-09T23:59:59.500Z"


def event(stamp: Any) -> Event:
    return {"timestamp": stamp, "message": "x", META_KEY: {"event_id": "fp-1", "ingested_at": INGESTED}}


def days(item: Event) -> dict[str, Any]:
    """The UTC day each backend files ``item`` under, and the aggregate clock's time (None: untimed)."""
    index, _ = IndexNamer("logs-%Y-%m-%d").resolve(item, NOW)
    key = KeyRenderer("dt=%Y-%m-%d/{batch_id}", "", "h", True).render("s", [item], "b", NOW.timestamp())
    row = RowBuilder(max_past_days=30, max_future_days=3).build([item], NOW).events[0]
    clock = event_time(item)
    return {
        "elasticsearch": day_of(index.removeprefix("logs-")),
        "s3": day_of(key.split("/")[0].removeprefix("dt=")),
        "postgres": row[1].date(),
        # Float seconds, as the windows use them: µs-exact only for a few centuries around now.
        "aggregate": None if clock is None else round(clock, 3),
    }


def day_of(text: str) -> date:
    """The date strftime wrote (``%Y`` does not pad years before 1000 to four digits)."""
    year, month, day = text.split("-")
    return date(int(year), int(month), int(day))


def expected(stamp: Any) -> dict[str, Any]:
    """The event's own day everywhere; without one, its ingest day (the aggregate leaves it out)."""
    moment = eventtime.parse(stamp)
    day = moment.date() if moment is not None else date(2026, 3, 9)
    clock = None if moment is None else round((moment - eventtime.EPOCH) / timedelta(seconds=1), 3)
    return {"elasticsearch": day, "s3": day, "postgres": day, "aggregate": clock}


def writable(value: Any) -> bool:
    """Whether a JSON line can carry ``value`` (what the PostgreSQL sink does not reject)."""
    try:
        orjson.dumps(value)
    except TypeError:
        return False
    return True


stamps = st.one_of(epoch_numbers(), time_texts(), scalars, st.lists(scalars, max_size=2)).filter(writable)


@HOSTILE
@given(stamp=stamps)
def test_every_backend_files_an_event_on_the_same_day(stamp: Any) -> None:
    """Raw (normalise off) or normalised, an event with any time value (epoch numbers of every
    magnitude, offsets, hostile values) is filed on the same UTC day by Elasticsearch index
    naming, S3 keys, PostgreSQL rows and the aggregate clock: its own time, else its ingest time."""
    normalised = Normaliser(NormaliseConfig(on_bad_timestamp="omit"))(Batch([event(stamp)]), 0).events[0]
    assert expected(stamp) == days(event(stamp))
    assert expected(stamp) == days(normalised)


def test_odd_epoch_document_carries_the_instant_it_is_filed_under() -> None:
    """A numeric @timestamp (which the node would read as milliseconds) is replaced in the bulk
    document by the canonical text of the instant that named the index."""
    item = {"@timestamp": 5e10, "message": "x", META_KEY: {"event_id": "fp-1"}}
    request = BulkEncoder(IndexNamer("logs-%Y-%m-%d")).encode([item], NOW)
    head, document = (orjson.loads(line) for line in request.body.splitlines())
    expected = ("logs-3554-06-09", "3554-06-09T16:53:20.000Z")
    assert expected == (head["create"]["_index"], document["@timestamp"])
    assert 5e10 == item["@timestamp"]  # the event itself, shared with other sinks, is unchanged
