"""Property: a secret planted anywhere in an event never comes out of the default chain.

Hypothesis builds arbitrary JSON-like events, plants generated secrets (API keys, AWS key ids and
the secret key after one, JWTs, bearer tokens, key-value forms such as ``password=…`` or
``api_key: …``, JSON documents logged as strings, URL userinfo and query parameters, values of
secret-named fields, keys that are secrets) in messages, nested values, lists and keys, runs the
whole default chain, serialises everything it emits with orjson and searches the bytes for each
secret.
"""

from __future__ import annotations

import json
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
from logflume.pipeline.redact.rules import BUILTIN_RULES
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
# Characters a password written without quotes may hold (it ends at a space, a quote, & , or ;).
BARE = ALNUM + "!#$%()*+-./:<=>?@^_~|"
# Inside quotes a space is part of the value too.
QUOTED = BARE + " "
# Key names ending in a secret word, and the separators each may take.
ANY_SEP_KEYS = [
    "password", "PASSWORD", "db_password", "passwd", "Pwd", "secret", "client_secret", "token",
    "access_token", "api_key", "API-KEY", "x-api-key", "apiKey", "AWS_SECRET_ACCESS_KEY",
    "session_id", "credentials",
]  # fmt: skip
EQ_ONLY_KEYS = ["auth", "passphrase", "signature", "X-Amz-Signature"]


def _values(alphabet: str) -> st.SearchStrategy[str]:
    # Words saying "no secret here" (null, undefined, redacted, ***) are left alone by design; a
    # digit and a lower-case letter keep a value from being a piece of what the chain adds
    # itself (@timestamp, an ISO time).
    return _chars(alphabet, 8, 30).filter(
        lambda v: v.lower() not in ("undefined", "redacted")
        and v.strip() == v
        and any(c.isdigit() for c in v)
        and any(c.islower() for c in v)
    )


aws_pairs = st.builds(
    lambda key_id, sep, secret: (f"{key_id}{sep}{secret}", secret),
    aws_keys.map(lambda pair: pair[0]),
    st.sampled_from([" ", ":", ",", " | ", '", "']),
    _chars(ALNUM + "/+", 40, 40),
)
key_values = st.one_of(
    st.builds(
        lambda key, sep, value: (f"{key}{sep}{value}", value),
        st.sampled_from(ANY_SEP_KEYS),
        st.sampled_from(["=", ": ", ":", " = ", "\t:\t"]),
        _values(BARE).filter(lambda v: v[0] not in "{["),
    ),
    st.builds(
        lambda key, value: (f"{key}={value}", value),
        st.sampled_from(EQ_ONLY_KEYS),
        _values(BARE).filter(lambda v: v[0] not in "{["),
    ),
    st.builds(
        lambda key, sep, quote, value: (f"{key}{sep}{quote}{value}{quote}", value),
        st.sampled_from(ANY_SEP_KEYS + EQ_ONLY_KEYS),
        st.sampled_from(["=", " = "]),
        st.sampled_from(['"', "'"]),
        _values(QUOTED),
    ),
)
json_documents = st.builds(
    lambda key, value, other: (json.dumps({"user": other, key: value, "n": 1}), value),
    st.sampled_from(ANY_SEP_KEYS + EQ_ONLY_KEYS),
    _values(QUOTED),
    st.text(max_size=12),
)
url_userinfo = st.builds(
    lambda scheme, user, password, host: (f"{scheme}://{user}:{password}@{host}/db", password),
    st.sampled_from(["postgresql", "https", "redis", "amqp"]),
    _chars(ALNUM, 1, 12),
    _values(ALNUM + "!$%*+-.~@"),
    st.sampled_from(["db.internal", "10.0.0.7:5432", "example.com"]),
)
query_parameters = st.builds(
    lambda key, value: (f"https://api.example.com/v1/chat?model=x&{key}={value}&page=2", value),
    st.sampled_from(["api_key", "token", "access_token", "auth", "signature", "X-Amz-Signature"]),
    _values(ALNUM + "%-._~"),
)
text_secrets = st.one_of(
    api_keys, aws_keys, jwts, bearers, aws_pairs, key_values, json_documents, url_userinfo, query_parameters
)

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
            name = draw(st.sampled_from([name for name in SECRET_NAMES if name not in target] or ["pwd"]))
            target[name] = {"inner": [value]} if nested else value
            secrets.append(value)
            continue
        text, secret = draw(text_secrets)
        secrets.append(secret)
        if how == "key":
            assume(text not in target)
            target[text] = draw(json_values)
            continue
        line = f"{draw(filler_text)} {text} {draw(filler_text)}"
        # A new key: overwriting an earlier plant would leave its secret out of the event.
        key = draw(filler_text)
        assume(key not in target)
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
            {"redact": {"rules": list(BUILTIN_RULES)}}
        ),
        Path("/nonexistent"),
    )
    out = chain(Batch([{"message": text, text: [text, {"password": text}]}]), 0)
    assert len(out.events) == 1
