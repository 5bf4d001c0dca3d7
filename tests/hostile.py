"""Hostile values for property tests: anything a log line, or another path into the pipeline, can
put in a field. Deterministic settings (``HOSTILE``) so a run in CI is the same every time."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# Derandomized: the same examples on every run (no flaky CI); no example database on disk.
HOSTILE = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=300,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)

# The canonical event-time text, ASCII digits only (``\d`` would take any unicode digit).
CANONICAL = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?Z")

ODD_TEXT = [
    "",
    " ",
    "²",
    "١٢",
    "\uff11\uff12",
    "٢٠٢٤-01-15T10:30:15Z",
    "NaN",
    "nan",
    "Infinity",
    "-inf",
    "1e999",
    "-0",
    "0x10",
    "1_000",
    "9999-12-31T23:00:00-05:00",
    "0001-01-01T00:00:00+05:00",
    "9999-12-31T23:59:59.999999Z",
    "0001-01-01T00:00:00Z",
    "2026-02-30T10:00:00Z",
    "2024-01-15T24:00:00Z",
    "2024-01-15T10:30:15+25:00",
    "2024-01-15T10:30:15.Z",
    "2024-01-15T10:30:15.123456789123Z",
    "2024-01-15T10:30:15\x00Z",
    "2024-W03-1T10:30:15.000Z",
    "20240115",
    "1705314615",
    "1705314615123456789",
    "-1705314615",
    "\ud800",
    "\udc00oops",
    "\u202e\u0000\ufeff",
    "sk-proj-" + "A" * 40,
    "x" * 100_000,
]
EDGE_NUMBERS: list[Any] = [
    0,
    -0.0,
    1e11,
    1e14,
    1e17,
    99_999_999_999,
    2**31,
    2**63 - 1,
    2**63,
    2**64,
    -(2**63) - 1,
    10**400,
    -(10**400),
    1e308,
    -1e308,
    5e-324,
    float("nan"),
    float("inf"),
    float("-inf"),
    253402300799,
    253402300800,
    -62135596800,
    -62135596801,
]


def nested(depth: int) -> Any:
    """A list nested ``depth`` levels deep, with an object at the bottom."""
    value: Any = {"deep": True}
    for _ in range(depth):
        value = [value]
    return value


@st.composite
def time_texts(draw: st.DrawFn) -> str:
    """ISO 8601 text of any instant with any offset (some of them crossing year 1 or 9999 in UTC)."""
    moment = draw(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)))
    minutes = draw(st.integers(-23 * 60 - 59, 23 * 60 + 59))
    zone = draw(st.sampled_from([None, UTC, timezone(timedelta(minutes=minutes))]))
    text = moment.replace(tzinfo=zone).isoformat(sep=draw(st.sampled_from(["T", " "])))
    return text.replace("+00:00", "Z") if draw(st.booleans()) else text


def epoch_numbers() -> st.SearchStrategy[Any]:
    """Epoch numbers of every unit, and their text."""
    number = st.one_of(
        st.integers(-(10**19), 10**19),
        st.floats(-1e19, 1e19),
        st.sampled_from(EDGE_NUMBERS),
    )
    return st.one_of(number, number.map(lambda n: str(n)))


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-(2**1100), 2**1100),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(EDGE_NUMBERS),
    # More digits than int→str converts (built lazily: hypothesis cannot print it as a constant).
    st.builds(pow, st.just(10), st.just(5000)),
    st.text(max_size=30),
    st.text(alphabet=st.characters(categories=["Nd", "No"]), max_size=12),
    st.sampled_from(ODD_TEXT),
    time_texts(),
    epoch_numbers(),
)

# Any JSON type (and what Python adds: NaN, infinities, integers beyond 64 bits, lone surrogates),
# a little nested, or very deep.
values = st.one_of(
    st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
        ),
        max_leaves=8,
    ),
    st.sampled_from([100, 254, 256, 300, 999, 1023]).map(nested),
)
