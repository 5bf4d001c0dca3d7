"""The redact stage's batch check: it only spares work, and never changes what is replaced.

A redactor that has seen a log's keys checks whole batches column by column and walks only the
events that may hold something to redact. Hypothesis builds batches of events sharing keys, with
values of changing kinds, planted secrets, clean text that holds hints, new, secret-named and
secret-holding keys, nested objects and lists, and compares such a redactor with one that walks
every event.
"""

from __future__ import annotations

import copy
import re
from collections import Counter
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from logflume.events import META_KEY, Batch
from logflume.pipeline.redact import RedactConfig, Redactor
from logflume.pipeline.redact.columns import BatchCheck

OPENAI = "sk-abcdefghijklmnopqrstuvwxyz0123456789ABCD"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyXzEiLCJleHAiOjE3MDB9.c2lnbmF0dXJlLXZhbHVlLWhlcmU"
SECRET_TEXTS = [
    f"calling upstream with {OPENAI}",
    f"Authorization: Bearer {'t0ken' * 4}",
    f"token={JWT}",
    "AKIAIOSFODNN7EXAMPLE",
    "Basic dXNlcjpodW50ZXIy",
    "ghp_" + "a1B2c3D4e5" * 4,
    "login failed password=hunter2 for bob",
    'doc {"user": "bob", "secret": "s3cr3t"}',
    "postgres://bob:pw123456@db/logs",
    "GET /v1?api_key=abcd1234&page=2",
    "AKIAIOSFODNN7EXAMPLE wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "credentials: user:pass",
]
# Hold a hint ("k-", "Basic", "bearer", "yJ", "xox", "AIza"…) but no secret.
HINTED_TEXTS = [
    "task-runner-7",
    "Basic information about plans",
    "bearer of good news",
    "eyJnot-a-jwt",
    "xoxo and hugs",
    "AIzaShort",
    "stack_trace follows",
    # The key-value and userinfo hints ("=", a colon after a key word's letter, "@") in clean text.
    "prompt_tokens=150 max_tokens=100",
    "Security event: authentication",
    "secret: null",
    "https://example.com/a?b=1",
    "user@example.com",
    "[REDACTED: password=",
]
CLEAN_TEXTS = ["Chat completion request processed", "2024-01-15T10:30:15.123Z", "req_0001", "", "INFO"]
KEYS = ["message", "user", "worker", "extra", "items", "n", "ok", "ctx", META_KEY]
ODD_KEYS = ["password", "api_key", "X-Api-Key", OPENAI, f"{JWT} password", "tokens"]

texts = st.sampled_from(SECRET_TEXTS + HINTED_TEXTS + CLEAN_TEXTS) | st.text(max_size=12)
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    texts,
    texts,
)
values = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS + ODD_KEYS), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def batches(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Events that mostly share their keys, as lines of one log do."""
    keys = draw(st.lists(st.sampled_from(KEYS[:-1]), min_size=1, max_size=5, unique=True))
    events = []
    for _ in range(draw(st.integers(1, 10))):
        event = {key: draw(values) for key in keys if draw(st.integers(0, 9))}
        if draw(st.integers(0, 3)):
            event[META_KEY] = {"event_id": f"{OPENAI}-0", "file": "/logs/task-runner.log"}
        # A key after the metadata, as normalise's @timestamp is.
        if not draw(st.integers(0, 3)):
            event[draw(st.sampled_from(KEYS + ODD_KEYS))] = draw(values)
        events.append(event)
    return events


def _walking_every_event(config: RedactConfig) -> Redactor:
    stage = Redactor(config)
    stage._batch_check = None  # the full walk for every event: the behaviour to preserve
    return stage


@settings(max_examples=400, deadline=None)
@given(seen=batches(), batch=batches())
def test_same_events_and_counts_as_walking_every_event(
    seen: list[dict[str, Any]], batch: list[dict[str, Any]]
) -> None:
    """After earlier batches (keys known, clean hinted text remembered), a batch comes out as if
    every event had been walked (to the order of keys), with the same replacement counts."""
    config = RedactConfig()
    checked = Redactor(config)
    checked(Batch(copy.deepcopy(seen)), 0)
    checked(Batch(copy.deepcopy(batch)), 0)
    before = Counter(checked.stats)
    out = checked(Batch(copy.deepcopy(batch)), 0).events
    walker = _walking_every_event(config)
    expected = walker(Batch(copy.deepcopy(batch)), 0).events
    assert (orjson.dumps(expected), walker.stats) == (orjson.dumps(out), checked.stats - before)


class TestBatchCheck:
    def _check(self, clean: set[str]) -> BatchCheck:
        # One hint, "k-", standing for sk- keys; a string is a secret when it holds "sk-".
        return BatchCheck(clean, [("k", re.compile("k-").search)], lambda text: "sk-" in text)

    def test_clean_events_are_not_walked(self) -> None:
        """Events whose keys are known clean and whose strings hold no hint need no walk."""
        events = [{"m": "hello", "n": 1, "x": {"y": ["a", None]}}, {"m": "bye", "n": 2.5, "x": {"y": []}}]
        assert [] == self._check({"m", "n", "x", "y"})(events)

    def test_events_with_a_secret_or_an_unknown_key_are_walked(self) -> None:
        """An event holding a secret at any depth, or a key not known clean, is marked by its index."""
        events = [
            {"m": "hello", "x": {"y": ["a"]}},
            {"m": "hello", "x": {"y": ["a", "key sk-123"]}},
            {"m": "hello", "z": {"y": ["a"]}},
            {"m": "hello", "x": {"y": ["a"]}},
        ]
        assert [1, 2] == self._check({"m", "x", "y"})(events)

    def test_clean_text_holding_a_hint_is_not_walked(self) -> None:
        """A string with a hint that the rules leave alone does not mark its event."""
        events = [{"worker": "back-end"}, {"worker": "back-end"}, {"worker": "sk-live"}]
        assert [2] == self._check({"worker"})(events)

    def test_metadata_is_exempt_only_at_the_top(self) -> None:
        """The metadata key is not scanned at the top level, but is an ordinary key deeper down."""
        meta = {"event_id": "sk-1"}
        check = self._check({"m", "ctx", META_KEY})
        assert ([], [0]) == (
            check([{"m": "a", META_KEY: meta}]),
            check([{"m": "a", "ctx": {META_KEY: meta}}]),
        )

    def test_same_size_other_keys(self) -> None:
        """Objects with as many keys but other ones are told apart, even where the metadata key
        of one stands in the place of another's key."""
        events = [{"m": "a", META_KEY: {}}, {"m": "a", "password": "x"}, {"m": "a", "n": 1}]
        assert [1] == self._check({"m", "n"})(events)


def test_custom_rule_whose_literal_starts_with_a_special_character() -> None:
    """A custom literal starting with a regex metacharacter still finds its secret in the batch."""
    config = RedactConfig(
        custom=[{"name": "dollar_token", "pattern": r"\$tok_[a-z]{8}", "literals": ["$tok_"]}]
    )
    stage = Redactor(config)
    stage(Batch([{"m": "nothing here"}]), 0)
    out = stage(Batch([{"m": "nothing here"}, {"m": "use $tok_abcdefgh now"}]), 0).events
    assert [{"m": "nothing here"}, {"m": "use [REDACTED:dollar_token] now"}] == out
