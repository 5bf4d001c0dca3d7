"""The shared table of filter conditions: each case lists equivalent forms of one condition (a
config mapping and/or a one-line expression), some events, and which of them match.

Used by tests/pipeline/test_filter.py and reusable by the ``logflume query`` tests: every form of a
case must give exactly ``expected`` through ``compile_condition``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FilterCase:
    name: str
    forms: tuple[str | dict[str, Any], ...]  # equivalent conditions: expressions and/or mappings
    events: tuple[dict[str, Any], ...]
    expected: tuple[bool, ...]  # one per event


def _e(**fields: Any) -> dict[str, Any]:
    return fields


CASES: tuple[FilterCase, ...] = (
    FilterCase(
        "seed error filter",
        (
            {"level": "ERROR", "response_time_ms": {"operator": "gt", "value": 5000}},
            'level == "ERROR" and response_time_ms > 5000',
        ),
        (
            _e(level="ERROR", response_time_ms=6000.5),
            _e(level="ERROR", response_time_ms=5000),
            _e(level="WARNING", response_time_ms=9000),
            _e(level="ERROR"),
        ),
        (True, False, False, False),
    ),
    FilterCase(
        "seed slow requests",
        (
            {
                "endpoint": "/api/chat/completions",
                "response_time_ms": {"operator": "gt", "value": 2000},
                "status_code": 200,
            },
            'endpoint == "/api/chat/completions" and response_time_ms > 2000 and status_code == 200',
        ),
        (
            _e(endpoint="/api/chat/completions", response_time_ms=2500, status_code=200),
            _e(endpoint="/api/chat/completions", response_time_ms=2500, status_code=500),
            _e(endpoint="/api/embeddings", response_time_ms=2500, status_code=200),
            _e(endpoint="/api/chat/completions", response_time_ms=1999.9, status_code=200),
            _e(endpoint="/api/chat/completions", response_time_ms=2500, status_code="200"),
        ),
        (True, False, False, False, False),
    ),
    FilterCase(
        "seed security filter",
        (
            {"level": "WARNING", "message": {"operator": "contains", "value": "unauthorized"}},
            "level == 'WARNING' and message contains 'unauthorized'",
        ),
        (
            _e(level="WARNING", message="unauthorized access to /admin"),
            _e(level="WARNING", message="Unauthorized"),
            _e(level="ERROR", message="unauthorized"),
            _e(level="WARNING"),
        ),
        (True, False, False, False),
    ),
    FilterCase(
        "nested path",
        ({"extra_data.stream": True}, "extra_data.stream == true"),
        (
            _e(extra_data={"stream": True}),
            _e(extra_data={"stream": False}),
            _e(extra_data="stream"),
            _e(other=1),
            {"extra_data.stream": True},  # a flat key spelt with dots
        ),
        (True, False, False, False, True),
    ),
    FilterCase(
        "deeper nested comparison",
        ({"usage.tokens.prompt": {"operator": "gte", "value": 100}}, "usage.tokens.prompt >= 100"),
        (
            _e(usage={"tokens": {"prompt": 100}}),
            _e(usage={"tokens": {"prompt": 99}}),
            _e(usage={"tokens": None}),
            _e(usage=[1, 2]),
        ),
        (True, False, False, False),
    ),
    FilterCase(
        "in",
        (
            {"provider": {"operator": "in", "value": ["openai", "anthropic"]}},
            'provider in ["openai", "anthropic"]',
        ),
        (
            _e(provider="openai"),
            _e(provider="anthropic"),
            _e(provider="google"),
            _e(),
            _e(provider=["openai"]),
        ),
        (True, True, False, False, False),
    ),
    FilterCase(
        "in with numbers: 500 and 500.0 are one value, true is not 1",
        ({"status_code": {"operator": "in", "value": [500, 502]}}, "status_code in [500, 502]"),
        (_e(status_code=500), _e(status_code=502.0), _e(status_code=200), _e(status_code=True)),
        (True, True, False, False),
    ),
    FilterCase(
        "not in (a missing field is not in the list)",
        ({"not": {"provider": {"operator": "in", "value": ["openai"]}}}, 'provider not in ["openai"]'),
        (_e(provider="openai"), _e(provider="google"), _e()),
        (False, True, True),
    ),
    FilterCase(
        "not",
        ({"not": {"level": "DEBUG"}}, 'not level == "DEBUG"', 'not (level == "DEBUG")'),
        (_e(level="DEBUG"), _e(level="INFO"), _e()),
        (False, True, True),
    ),
    FilterCase(
        "any group",
        (
            {"any": [{"status_code": {"operator": "gte", "value": 500}}, {"level": "ERROR"}]},
            'status_code >= 500 or level == "ERROR"',
        ),
        (_e(status_code=503, level="INFO"), _e(status_code=200, level="ERROR"), _e(status_code=200), _e()),
        (True, True, False, False),
    ),
    FilterCase(
        "all group with a nested any, and precedence of and over or",
        (
            {"all": [{"level": "ERROR"}, {"any": [{"provider": "openai"}, {"provider": "anthropic"}]}]},
            'level == "ERROR" and (provider == "openai" or provider == "anthropic")',
        ),
        (
            _e(level="ERROR", provider="openai"),
            _e(level="ERROR", provider="anthropic"),
            _e(level="ERROR", provider="google"),
            _e(level="INFO", provider="openai"),
        ),
        (True, True, False, False),
    ),
    FilterCase(
        "or binds looser than and",
        ('level == "ERROR" and provider == "openai" or provider == "anthropic"',),
        (
            _e(level="INFO", provider="anthropic"),
            _e(level="INFO", provider="openai"),
            _e(level="ERROR", provider="openai"),
        ),
        (True, False, True),
    ),
    FilterCase(
        "regex (RE2), on strings and numbers",
        ({"message": {"operator": "regex", "value": r"time(d)?\s?out"}}, r'message ~ "time(d)?\s?out"'),
        (_e(message="upstream timeout"), _e(message="timed out"), _e(message="ok"), _e(message=None)),
        (True, True, False, False),
    ),
    FilterCase(
        "regex on a number's text",
        ({"status_code": {"operator": "regex", "value": "^5"}}, 'status_code ~ "^5"'),
        (_e(status_code=503), _e(status_code=200), _e()),
        (True, False, False),
    ),
    FilterCase(
        "case-insensitive regex",
        ('message ~ "(?i)TIMEOUT"', {"message": {"operator": "regex", "value": "(?i)timeout"}}),
        (_e(message="Upstream Timeout"), _e(message="fine")),
        (True, False),
    ),
    FilterCase(
        "negated regex",
        ('message !~ "timeout"',),
        (_e(message="upstream timeout"), _e(message="fine"), _e()),
        (False, True, True),
    ),
    FilterCase(
        "missing field matches no comparison, and not makes it match",
        ("response_time_ms < 100", {"response_time_ms": {"operator": "lt", "value": 100}}),
        (_e(response_time_ms=50), _e(response_time_ms=150), _e(), _e(response_time_ms=None)),
        (True, False, False, False),
    ),
    FilterCase(
        "negated comparison on a missing field",
        ("not response_time_ms < 100",),
        (_e(response_time_ms=50), _e()),
        (False, True),
    ),
    FilterCase(
        "exists",
        (
            {"error_code": {"operator": "exists", "value": True}},
            "error_code exists",
            {"error_code": {"operator": "exists"}},
        ),
        (_e(error_code="rate_limited"), _e(error_code=None), _e()),
        (True, True, False),
    ),
    FilterCase(
        "not exists",
        ({"error_code": {"operator": "exists", "value": False}}, "not error_code exists"),
        (_e(error_code="x"), _e()),
        (False, True),
    ),
    FilterCase(
        "different types never match an ordering",
        ("response_time_ms > 5000",),
        (_e(response_time_ms="slow"), _e(response_time_ms=[9000]), _e(response_time_ms=9000)),
        (False, False, True),
    ),
    FilterCase(
        "strings compare in order (ISO timestamps)",
        ('timestamp >= "2024-01-15T10:00:00Z"',),
        (_e(timestamp="2024-01-15T10:30:15.123Z"), _e(timestamp="2024-01-14T23:59:59Z")),
        (True, False),
    ),
    FilterCase(
        "booleans and null compare by identity",
        ({"cache_hit": True}, "cache_hit == true"),
        (_e(cache_hit=True), _e(cache_hit=1), _e(cache_hit="true"), _e()),
        (True, False, False, False),
    ),
    FilterCase(
        "equality with null",
        ("user_id == null",),
        (_e(user_id=None), _e(user_id="u1"), _e()),
        (True, False, False),
    ),
    FilterCase(
        "not equal (a missing field is not 'different')",
        ({"status_code": {"operator": "ne", "value": 200}}, "status_code != 200"),
        (_e(status_code=500), _e(status_code=200), _e()),
        (True, False, False),
    ),
    FilterCase(
        "contains on a list is membership",
        ('tags contains "beta"', {"tags": {"operator": "contains", "value": "beta"}}),
        (_e(tags=["alpha", "beta"]), _e(tags=["alphabet"]), _e(tags={"beta": 1})),
        (True, False, False),
    ),
    FilterCase(
        "contains on a number looks at its text (the seed's str(value))",
        ('status_code contains "50"', {"status_code": {"operator": "contains", "value": "50"}}),
        (_e(status_code=503), _e(status_code=200)),
        (True, False),
    ),
    FilterCase(
        "keywords are case-insensitive; backquoted field names",
        ('level == "ERROR" AND NOT `x-provider` == "openai"',),
        (_e(level="ERROR", **{"x-provider": "google"}), _e(level="ERROR", **{"x-provider": "openai"})),
        (True, False),
    ),
    FilterCase(
        "less-than-or-equal and negative numbers",
        ("balance <= -1.5", {"balance": {"operator": "lte", "value": -1.5}}),
        (_e(balance=-2), _e(balance=-1.5), _e(balance=0)),
        (True, True, False),
    ),
)

# Expressions paired with the exact mapping they parse to: the CLI and the config share one form.
PARSED: tuple[tuple[str, dict[str, Any]], ...] = (
    ('level == "ERROR"', {"level": {"operator": "eq", "value": "ERROR"}}),
    (
        'level == "ERROR" and response_time_ms > 5000',
        {
            "all": [
                {"level": {"operator": "eq", "value": "ERROR"}},
                {"response_time_ms": {"operator": "gt", "value": 5000}},
            ]
        },
    ),
    (
        'a == 1 or b == 2 or not c in ["x"]',
        {
            "any": [
                {"a": {"operator": "eq", "value": 1}},
                {"b": {"operator": "eq", "value": 2}},
                {"not": {"c": {"operator": "in", "value": ["x"]}}},
            ]
        },
    ),
    ('message ~ "\\d+ ms"', {"message": {"operator": "regex", "value": "\\d+ ms"}}),
    ("x >= 1.5e3", {"x": {"operator": "gte", "value": 1500.0}}),
)
