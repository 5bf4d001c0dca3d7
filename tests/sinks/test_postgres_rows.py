"""Events → PostgreSQL rows, without a server: conversions, sanitising, partition days, config."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import orjson
import pytest
from pydantic import ValidationError

from logflume.events import META_KEY, Event
from logflume.sinks.postgres.config import PostgresSinkConfig
from logflume.sinks.postgres.rows import RowBuilder, dump, sanitise, to_float, to_inet, to_int
from logflume.sinks.postgres.schema import EVENT_COLUMNS, STAGE_EVENT_NAMES

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


class TestConversions:
    def test_integers_out_of_range_or_not_numbers_are_none(self) -> None:
        """An integer column gets None for text, booleans, fractions and values beyond its range."""
        expected = [150, 150, 150, None, None, None, None]
        assert expected == [to_int(v) for v in (150, 150.0, "150", "many", True, 1.5, 2**63)]
        assert None is to_int(2**31, (-(2**31), 2**31 - 1))

    def test_floats_accept_numbers_and_numeric_text(self) -> None:
        """A float column takes numbers and numeric text; anything else is None."""
        expected = [245.67, 3.0, 1.5, None, None]
        assert expected == [to_float(v) for v in (245.67, 3, "1.5", "slow", [1])]

    def test_only_valid_addresses_become_inet(self) -> None:
        """Valid IPv4/IPv6 text is kept for the inet column; anything else, zones included, is None."""
        expected = ["10.0.0.1", "::1", None, None, None]
        assert expected == [to_inet(v) for v in ("10.0.0.1", "::1", "10.0.0.300", "fe80::1%eth0", 167772161)]


class TestSanitise:
    def test_clean_events_take_the_fast_path(self) -> None:
        """An event with nothing to clean is encoded once and returned as is."""
        event = {"message": "ok", "n": 1}
        data, used = dump(event)
        assert (orjson.dumps(event), True) == (data, used is event)

    def test_nul_surrogates_and_non_finite_numbers_are_cleaned(self) -> None:
        """NUL is removed, lone surrogates replaced, NaN nulled, big integers kept, keys made text."""
        event = {"m": "a\x00b", "s": "x\ud800y", "f": float("nan"), "big": 10**30, 1: [b"raw"]}
        data, used = dump(event)
        expected = {"m": "ab", "s": "x?y", "f": None, "big": 10**30, "1": ["raw"]}
        assert expected == used
        expected = b'{"m":"ab","s":"x?y","f":null,"big":1000000000000000000000000000000,"1":["raw"]}'
        assert expected == data

    def test_sanitise_copies(self) -> None:
        """Sanitising never changes the caller's event (other sinks receive the same dict)."""
        event = {"m": "a\x00b", "nested": {"k": "v\x00"}}
        sanitise(event)
        expected = {"m": "a\x00b", "nested": {"k": "v\x00"}}
        assert expected == event


def event(n: int, ts: str | None = "2026-03-09T23:59:59Z", **fields: object) -> Event:
    out: Event = {META_KEY: {"event_id": f"id-{n}", "source": "proxy", "ingested_at": "2026-03-10T11:00:00Z"}}
    if ts is not None:
        out["timestamp"] = ts
    out.update(fields)
    return out


class TestRowBuilder:
    def test_rows_follow_the_staging_column_order(self) -> None:
        """Each row has one value per staging column, in order, ending with the fallback flag."""
        rows = RowBuilder(400, 7).build([event(1, level="WARN")], NOW)
        [row] = rows.events
        assert len(STAGE_EVENT_NAMES) == len(row)
        named = dict(zip(STAGE_EVENT_NAMES, row, strict=True))
        expected = ("id-1", "WARN", "proxy", False)
        assert expected == (
            named["event_id"],
            named["level"],
            named["source"],
            named["ts_fallback"],
        )
        staging_only = [name for name in STAGE_EVENT_NAMES if name not in dict(EVENT_COLUMNS)]
        expected = ["ts_fallback"]
        assert expected == staging_only

    def test_partition_days_are_utc_and_bounded(self) -> None:
        """Days come from UTC time; days beyond the horizons are left to the DEFAULT partition."""
        rows = RowBuilder(30, 2).build(
            [
                event(1, "2026-03-10T01:00:00+03:00"),  # 2026-03-09 in UTC
                event(2, "2026-03-12T00:00:00Z"),
                event(3, "2026-03-13T00:00:00Z"),  # 3 days ahead: beyond 2
                event(4, "2025-01-01T00:00:00Z"),  # far in the past
            ],
            NOW,
        )
        assert {date(2026, 3, 9), date(2026, 3, 12)} == rows.days

    def test_missing_timestamp_falls_back_to_ingest_time(self) -> None:
        """Without a usable timestamp, ts is the ingest time and the row is flagged."""
        rows = RowBuilder(400, 7).build([event(1, None), event(2, "garbage")], NOW)
        ingested = datetime(2026, 3, 10, 11, tzinfo=UTC)
        assert [(ingested, True), (ingested, True)] == [(row[1], row[-1]) for row in rows.events]

    def test_events_without_id_get_a_content_id(self) -> None:
        """An event without metadata still gets a stable id, the same for the same content."""
        first = RowBuilder(400, 7).build([{"message": "x"}], NOW).events[0][0]
        again = RowBuilder(400, 7).build([{"message": "x"}], NOW).events[0][0]
        assert (first, True) == (again, first.startswith("h-"))

    def test_daemon_events_are_routed_by_type(self) -> None:
        """type=metric and type=alert go to their own row lists."""
        rows = RowBuilder(400, 7).build(
            [event(1), event(2, type="metric", count=3), event(3, type="alert", severity="warning")], NOW
        )
        expected = (1, 1, 1)
        assert expected == (len(rows.events), len(rows.metrics), len(rows.alerts))
        expected = 3
        assert expected == rows.metrics[0][5]
        expected = "warning"
        assert expected == rows.alerts[0][3]

    def test_offset_timezones_are_kept_exact(self) -> None:
        """A timestamp with an offset keeps its instant."""
        [row] = RowBuilder(400, 7).build([event(1, "2026-03-10T12:00:00-05:00")], NOW).events
        assert datetime(2026, 3, 10, 12, tzinfo=timezone(timedelta(hours=-5))) == row[1]


class TestConfig:
    def test_table_names_must_be_plain_identifiers(self) -> None:
        """A table name that would need quoting, or is too long for derived names, is refused."""
        for bad in ("Events", "logs; drop", "1abc", "x" * 41):
            with pytest.raises(ValidationError):
                PostgresSinkConfig.model_validate(
                    {"name": "pg", "type": "postgres", "dsn": "postgresql://h/db", "table": bad}
                )

    def test_a_ca_file_needs_a_verifying_sslmode(self) -> None:
        """ssl_ca_file only makes sense with sslmode verify-ca or verify-full."""
        with pytest.raises(ValidationError, match="verify-ca"):
            PostgresSinkConfig.model_validate(
                {
                    "name": "pg",
                    "type": "postgres",
                    "dsn": "postgresql://h/db",
                    "sslmode": "require",
                    "ssl_ca_file": "/ca",
                }
            )

    def test_password_is_hidden(self) -> None:
        """The password never shows in the config's repr or dump."""
        cfg = PostgresSinkConfig.model_validate(
            {"name": "pg", "type": "postgres", "dsn": "postgresql://h/db", "password": "s3cret"}
        )
        assert ("s3cret" in repr(cfg), "s3cret" in str(cfg.model_dump())) == (False, False)
