"""``analyze`` reads an event's time by the daemon's rule: DuckDB's SQL and logflume.eventtime agree."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logflume import digest, eventtime
from tests.hostile import EDGE_NUMBERS, HOSTILE, epoch_numbers, time_texts


def sql_times(path: Path, events: list[dict[str, Any]]) -> list[datetime | None]:
    """The ``ts`` column analyze computes for ``events`` written as JSON lines to ``path``."""
    path.write_bytes(b"".join(orjson.dumps(event, option=orjson.OPT_APPEND_NEWLINE) for event in events))
    db = duckdb.connect(":memory:")
    try:
        db.execute("SET TimeZone = 'UTC'")
        query = digest.rows_sql(digest.read_json_sql("files", "none"))
        rows = db.execute(f"SELECT ts FROM ({query})", {"files": [str(path)], "columns": digest.RAW_COLUMNS})
        return [row[0] for row in rows.fetchall()]
    finally:
        db.close()


def close(left: datetime | None, right: datetime | None) -> bool:
    """The same instant, to a tenth of a millisecond: an epoch float has ~16 digits, and the two
    sides round its last ones differently (µs epochs of year 3500 are beyond a double's µs)."""
    if left is None or right is None:
        return left is right
    return abs((left - right).total_seconds()) <= 1e-4


JSON_NUMBERS = [n for n in EDGE_NUMBERS if type(n) is not float or (n == n and abs(n) != float("inf"))]
JSON_NUMBERS = [n for n in JSON_NUMBERS if type(n) is float or -(2**63) <= n < 2**64]


@settings(HOSTILE, max_examples=60)  # each example is a DuckDB query
@given(
    stamps=st.lists(
        st.one_of(epoch_numbers(), time_texts(), st.sampled_from(JSON_NUMBERS)).filter(
            lambda v: type(v) is not int or -(2**63) <= v < 2**64
        ),
        min_size=1,
        max_size=40,
    ),
    field=st.sampled_from(eventtime.EVENT_TIME_FIELDS),
)
def test_sql_reads_numbers_and_iso_text_like_python(
    tmp_path_factory: pytest.TempPathFactory, stamps: list[Any], field: str
) -> None:
    """Epoch numbers of any magnitude (and their text) and ISO text with any offset give the same
    instant, or none, in analyze's SQL and in the daemon."""
    events = [{field: stamp, "level": "INFO"} for stamp in stamps]
    actual = sql_times(tmp_path_factory.mktemp("sql") / "events.jsonl", events)
    expected = [eventtime.of_event(event) for event in events]
    pairs = zip(events, expected, actual, strict=True)
    assert [] == [(event[field], want, got) for event, want, got in pairs if not close(want, got)]


def test_hostile_text_and_field_order(tmp_path: Path) -> None:
    """Unicode digits, offsets crossing year 9999, booleans and objects are no time in SQL either;
    @timestamp wins over timestamp, and a timestamp is used when @timestamp is no time."""
    events: list[dict[str, Any]] = [
        {"timestamp": "²"},
        {"timestamp": "١٢"},
        {"timestamp": "9999-12-31T23:00:00-05:00"},
        {"timestamp": True},
        {"timestamp": {"a": 1}},
        {"timestamp": "x" * 65},
        {"@timestamp": "2024-01-15T10:30:15Z", "timestamp": 1},
        {"@timestamp": "soon", "timestamp": 1705314615123},
    ]
    expected = [eventtime.of_event(event) for event in events]
    assert [None] * 6 == expected[:6]
    assert expected == sql_times(tmp_path / "events.jsonl", events)
