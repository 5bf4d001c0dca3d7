"""The one event-time parser and formatter: total over any value, one rule for epoch numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logflume import eventtime
from tests.hostile import CANONICAL, HOSTILE, epoch_numbers, time_texts, values

LOWEST = datetime(1, 1, 1, tzinfo=UTC)
HIGHEST = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


class TestTotal:
    @HOSTILE
    @given(value=st.one_of(values, time_texts(), epoch_numbers()))
    def test_any_value_is_a_utc_time_in_range_or_none(self, value: Any) -> None:
        """Every function reading a value returns a UTC time within the years 1-9999, or None,
        and they agree on which; none raises."""
        moment = eventtime.parse(value)
        seconds = eventtime.seconds(value)
        text = eventtime.canonical(value)
        assert (moment is None) == (seconds is None) == (text is None)
        if moment is not None:
            assert (UTC, True) == (moment.tzinfo, LOWEST <= moment <= HIGHEST)
            assert pytest.approx((moment - eventtime.EPOCH).total_seconds(), abs=1e-6) == seconds
            assert moment == eventtime.parse(text)

    @pytest.mark.parametrize(
        "value",
        [
            "²", "١٢", "\uff11\uff12", "٢٠٢٤-01-15T10:30:15Z", True, False, None, [1], {"t": 1}, float("nan"),
            float("inf"), 10**400, 1e300, "9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+05:00",
            "2026-02-30T10:00:00Z", "2024-01-15T10:30:15\x00Z", "x" * 65, "nan", "1_000", " ", "",
        ],
    )  # fmt: skip
    def test_hostile_values_are_no_time(self, value: Any) -> None:
        """Unicode digits, booleans, containers, NaN/inf, huge numbers, offsets crossing year 1 or
        9999, impossible dates, NUL bytes, over-long and numeric-looking text are no time."""
        readings = (eventtime.parse(value), eventtime.seconds(value), eventtime.canonical(value))
        assert (None, None, None) == readings


class TestIso:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("2024-01-15T10:30:15.123Z", datetime(2024, 1, 15, 10, 30, 15, 123000, tzinfo=UTC)),
            ("2024-01-15T12:30:15+02:00", datetime(2024, 1, 15, 10, 30, 15, tzinfo=UTC)),
            ("2024-01-15 10:30:15", datetime(2024, 1, 15, 10, 30, 15, tzinfo=UTC)),
            ("2024-01-15T10:30:15.123456789Z", datetime(2024, 1, 15, 10, 30, 15, 123456, tzinfo=UTC)),
            (" 2024-01-15T10:30:15Z ", datetime(2024, 1, 15, 10, 30, 15, tzinfo=UTC)),
            ("9999-12-31T23:00:00+05:00", datetime(9999, 12, 31, 18, 0, tzinfo=UTC)),
        ],
    )
    def test_forms(self, text: str, expected: datetime) -> None:
        """Z, offsets, no zone (UTC), a space separator, fraction digits beyond six (cut) all read."""
        assert expected == eventtime.parse(text)

    @HOSTILE
    @given(moment=st.datetimes(timezones=st.just(UTC)), offset=st.integers(-1439, 1439))
    def test_any_offset_means_its_utc_instant(self, moment: datetime, offset: int) -> None:
        """Text with any offset reads as the same UTC instant, or None when that falls outside the
        years 1-9999."""
        zone = timezone(timedelta(minutes=offset))
        try:
            local = moment.astimezone(zone)
        except OverflowError:
            return  # not expressible with that offset at all
        expected = moment if LOWEST <= moment <= HIGHEST else None
        assert expected == eventtime.parse(local.isoformat())


class TestEpochRule:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (1705314615, "2024-01-15T10:30:15.000Z"),
            (1705314615.25, "2024-01-15T10:30:15.250Z"),
            (99_999_999_999, "5138-11-16T09:46:39.000Z"),
            (100_000_000_000, "1973-03-03T09:46:40.000Z"),
            (1705314615123, "2024-01-15T10:30:15.123Z"),
            (1705314615123456, "2024-01-15T10:30:15.123456Z"),
            (1705314615123456789, "2024-01-15T10:30:15.123456Z"),
            ("1705314615123", "2024-01-15T10:30:15.123Z"),
            ("1.705314615e9", "2024-01-15T10:30:15.000Z"),
            (-1, "1969-12-31T23:59:59.000Z"),
            (5e10, "3554-06-09T16:53:20.000Z"),
        ],
    )
    def test_magnitude_tells_the_unit(self, value: Any, expected: str) -> None:
        """Below 1e11 seconds, below 1e14 ms, below 1e17 µs, else ns; numbers and their text alike."""
        assert expected == eventtime.canonical(value)

    @HOSTILE
    @given(moment=st.datetimes(min_value=datetime(1973, 3, 4), max_value=datetime(5138, 11, 15)))
    def test_every_unit_of_one_instant_reads_the_same(self, moment: datetime) -> None:
        """An instant since March 1973 written in s, ms, µs or ns (as a number or text) is read as
        that instant, to the unit's precision."""
        instant = moment.replace(tzinfo=UTC)
        micros = (instant - eventtime.EPOCH) // timedelta(microseconds=1)
        readings = [
            eventtime.parse(micros // 1_000_000),
            eventtime.parse(micros // 1000),
            eventtime.parse(micros),
            eventtime.parse(micros * 1000),
            eventtime.parse(str(micros * 1000)),
        ]
        expected = [
            instant.replace(microsecond=0),
            instant.replace(microsecond=instant.microsecond // 1000 * 1000),
            instant,
            instant,
            instant,
        ]
        assert expected == readings


class TestFormat:
    @HOSTILE
    @given(moment=st.datetimes(timezones=st.just(UTC)))
    def test_canonical_text_round_trips(self, moment: datetime) -> None:
        """The canonical text of any instant is in canonical layout, is kept as it is, and reads
        back as the same instant."""
        text = eventtime.format_utc(moment)
        assert (True, True, text, moment) == (
            CANONICAL.fullmatch(text) is not None,
            eventtime.looks_canonical(text),
            eventtime.canonical(text),
            eventtime.parse(text),
        )

    @HOSTILE
    @given(text=st.one_of(st.text(max_size=32), time_texts(), st.from_regex(CANONICAL, fullmatch=True)))
    def test_kept_text_is_truly_canonical(self, text: str) -> None:
        """Text kept as it is (looks_canonical and it parses) matches the strict canonical pattern."""
        if eventtime.canonical(text) == text:
            assert CANONICAL.fullmatch(text) is not None

    @pytest.mark.parametrize(
        "base", ["2024-01-15T10:30:15Z", "2024-01-15T10:30:15.123Z", "2024-01-15T10:30:15.123456789Z"]
    )
    def test_no_one_character_change_slips_through(self, base: str) -> None:
        """Every text one character away from canonical text (replaced, inserted or removed; any
        ASCII character and a few unicode digits) is kept as it is only if truly canonical."""
        alphabet = [chr(code) for code in range(128)] + ["²", "\u0661", "\uff10", "\u00e9"]
        slipped = []
        for pos in range(len(base)):
            head, tail = base[:pos], base[pos + 1 :]
            for char in alphabet:
                for text in (head + char + tail, head + char + base[pos:], head + tail):
                    if eventtime.canonical(text) == text and not CANONICAL.fullmatch(text):
                        slipped.append(text)
        assert [] == slipped

    @pytest.mark.parametrize(
        ("seconds", "expected"),
        [
            (1705314615.5, "2024-01-15T10:30:15.500Z"),
            (1e20, "9999-12-31T23:59:59.000Z"),
            (-1e20, "0001-01-01T00:00:00.000Z"),
            (float("nan"), "0001-01-01T00:00:00.000Z"),
            (float("inf"), "9999-12-31T23:59:59.000Z"),
        ],
    )
    def test_computed_times_are_clamped(self, seconds: float, expected: str) -> None:
        """Times the daemon computes (window ends) are written within the years 1-9999, never raise."""
        assert expected == eventtime.format_seconds(seconds)

    def test_early_years_are_zero_padded(self) -> None:
        """Years below 1000 keep four digits (strftime's %Y would not)."""
        assert "0999-01-01T00:00:00.000Z" == eventtime.format_utc(datetime(999, 1, 1, tzinfo=UTC))


class TestEvents:
    def test_first_field_that_parses_wins(self) -> None:
        """@timestamp, else timestamp: the first that is a time; None when neither is."""
        assert [
            datetime(2024, 1, 15, 10, 30, 15, tzinfo=UTC),
            datetime(2024, 1, 15, 10, 30, 15, tzinfo=UTC),
            None,
        ] == [
            eventtime.of_event({"@timestamp": "2024-01-15T10:30:15Z", "timestamp": "2000-01-01T00:00:00Z"}),
            eventtime.of_event({"@timestamp": "²", "timestamp": 1705314615}),
            eventtime.of_event({"@timestamp": [], "timestamp": "soon"}),
        ]

    def test_ingest_time_from_metadata(self) -> None:
        """The metadata's ingested_at is read by the same rule; odd metadata is no time."""
        expected = [datetime(2024, 1, 15, 10, 30, tzinfo=UTC), None, None]
        assert expected == [
            eventtime.ingested({"logflume": {"ingested_at": "2024-01-15T10:30:00.000Z"}}),
            eventtime.ingested({"logflume": "x"}),
            eventtime.ingested({}),
        ]
