"""Property: a secret planted anywhere in an event never comes out of the default chain.

Hypothesis builds arbitrary JSON-like events, plants generated secrets (API keys, AWS key ids,
JWTs, bearer tokens, values of secret-named fields, keys that are secrets) in messages, nested
values, lists and keys, runs the whole default chain, serialises everything it emits with orjson
and searches the bytes for each secret.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from logflume.events import META_KEY, Batch
from logflume.pipeline.build import build_chain
from logflume.pipeline.config import PipelineConfig
from logflume.pipeline.stage import Chain

ALNUM = string.ascii_letters + string.digits
URLSAFE = ALNUM + "_-"


def _chars(alphabet: str, low: int, high: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, min_size=low, max_size=high)


# Each strategy yields (text to plant, secret that must not come out).
api_keys = st.builds(
    lambda prefix, body: (prefix + body, prefix + body),
    st.sampled_from(["sk-", "sk-proj-", "sk-ant-api03-", "sk-svcacct-"]),
    _chars(URLSAFE, 20, 60),
)
aws_keys = st.builds(
    lambda p, body: (p + body, p + body),
    st.sampled_from(["AKIA", "ASIA"]),
    _chars(string.ascii_uppercase + string.digits, 16, 16),
)
jwts = st.builds(
    lambda h, p, s: (f"eyJ{h}.eyJ{p}.{s}", f"eyJ{h}.eyJ{p}.{s}"),
    _chars(URLSAFE, 5, 40),
    _chars(URLSAFE, 5, 80),
    _chars(URLSAFE, 0, 40),
)
bearers = st.builds(
    lambda scheme, token: (f"{scheme} {token}", token),
    st.sampled_from(["Bearer", "bearer", "BEARER"]),
    _chars(ALNUM + "._~+/-", 16, 60),
)
text_secrets = st.one_of(api_keys, aws_keys, jwts, bearers)

SECRET_NAMES = [
    "password",
    "api_key",
    "X-Api-Key",
    "clientSecret",
    "access_token",
    "Authorization",
    "db_passwd",
]
filler_text = st.text(max_size=30).filter(lambda t: t != META_KEY)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    filler_text,
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(filler_text, inner, max_size=4)),
    max_leaves=12,
)


@st.composite
def planted(draw: st.DrawFn) -> tuple[dict[str, Any], list[str]]:
    """An event with 1-4 secrets planted at random places, and the secrets to look for."""
    event: dict[str, Any] = draw(st.dictionaries(filler_text, json_values, max_size=6))
    secrets: list[str] = []
    for _ in range(draw(st.integers(1, 4))):
        # Descend to a random object in the event (creating one when the path ends elsewhere).
        target: dict[str, Any] = event
        for _ in range(draw(st.integers(0, 3))):
            key = draw(filler_text)
            child = target.get(key)
            if isinstance(child, list):
                holder: dict[str, Any] = {}
                child.insert(draw(st.integers(0, len(child))), holder)
                target = holder
            elif isinstance(child, dict):
                target = child
            else:
                target[key] = {}
                target = target[key]
        how = draw(st.sampled_from(["text", "list", "field", "key"]))
        if how == "field":
            value = "pw-" + draw(_chars(ALNUM, 16, 24))
            nested = draw(st.booleans())
            target[draw(st.sampled_from(SECRET_NAMES))] = {"inner": [value]} if nested else value
            secrets.append(value)
            continue
        text, secret = draw(text_secrets)
        secrets.append(secret)
        if how == "key":
            target[text] = draw(json_values)
            continue
        line = f"{draw(filler_text)} {text} {draw(filler_text)}"
        key = draw(filler_text)
        if how == "list":
            target[key] = [draw(scalars), line]
        else:
            target[key] = line
    return event, secrets


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    return build_chain(PipelineConfig(), tmp_path_factory.mktemp("state"))


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=planted())
def test_planted_secrets_never_leave_the_chain(chain: Chain, case: tuple[dict[str, Any], list[str]]) -> None:
    """No planted secret appears anywhere in what the default chain emits (events, routes, alerts)."""
    event, secrets = case
    # Hypothesis likes to reuse values: a filler string equal to a token is not a planted secret.
    planted_text = orjson.dumps(event, option=orjson.OPT_NON_STR_KEYS)
    assume(all(planted_text.count(secret.encode()) == secrets.count(secret) for secret in secrets))
    event[META_KEY] = {
        "event_id": "fp-0",
        "source": "proxy",
        "file": "/x.log",
        "offset": 0,
        "ingested_at": "2024-01-15T10:30:15.000Z",
    }
    out = chain(Batch([event]), 1705314615.0)
    emitted = orjson.dumps([out.events, out.alerts, out.routes or {}], option=orjson.OPT_NON_STR_KEYS)
    assert [secret for secret in secrets if secret.encode() in emitted] == []


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=200))
def test_arbitrary_text_never_crashes(text: str) -> None:
    """Any string, as a value or a key, passes the redactor without an exception."""
    chain = build_chain(
        PipelineConfig.model_validate(
            {"redact": {"rules": ["bearer", "basic_auth", "jwt", "api_key", "email", "card"]}}
        ),
        Path("/nonexistent"),
    )
    out = chain(Batch([{"message": text, text: [text, {"password": text}]}]), 0)
    assert len(out.events) == 1
