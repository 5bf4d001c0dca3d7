"""Durations and sizes as written in config."""

from __future__ import annotations

import pytest

from logflume.units import parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("10s", 10.0), ("5m", 300.0), ("1h", 3600.0), ("2d", 172800.0), (3, 3.0)],
)
def test_durations(text: str | int, seconds: float) -> None:
    """Each unit converts to seconds."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "size"), [("100MB", 100_000_000), ("1MiB", 1048576), ("64KiB", 65536), (42, 42), ("1gb", 10**9)]
)
def test_sizes(text: str | int, size: int) -> None:
    """Decimal and binary units convert to bytes."""
    assert parse_size(text) == size


@pytest.mark.parametrize("bad", ["10 parsecs", "-1s", "", True])
def test_bad_durations(bad: object) -> None:
    """Nonsense durations are rejected."""
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


@pytest.mark.parametrize("bad", ["10QB", "lots", False])
def test_bad_sizes(bad: object) -> None:
    """Nonsense sizes are rejected."""
    with pytest.raises(ValueError, match="size"):
        parse_size(bad)


@pytest.mark.parametrize(
    "bad",
    ["9" * 400 + "TB", "9" * 21 + "B", 2**60, "1025TiB"],
    ids=["400-digits", "21-digits", "int", "PiB+"],
)
def test_sizes_beyond_any_setting(bad: object) -> None:
    """Sizes no run could use are a ValueError naming the limit, never an OverflowError."""
    with pytest.raises(ValueError, match="size"):
        parse_size(bad)


@pytest.mark.parametrize(
    "bad", ["9" * 400 + "s", float("inf"), float("nan"), "3651d"], ids=["400-digits", "inf", "nan", "3651d"]
)
def test_durations_beyond_any_setting(bad: object) -> None:
    """Durations that are not finite or exceed ten years are a ValueError, never an OverflowError."""
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


def test_fractional_sizes_are_exact() -> None:
    """A fractional size converts exactly (no float rounding): 1.5 GiB is 1,610,612,736 bytes."""
    assert parse_size("1.5GiB") == 1_610_612_736
