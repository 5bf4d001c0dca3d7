"""Auth and TLS of the Elasticsearch sink against a real secure node (HTTPS, users, tokens).

Only the Elasticsearch flavour: the OpenSearch integ-test distribution has no security plugin.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

from logflume.errors import FatalSinkError, RetryableSinkError
from logflume.sinks.elasticsearch.config import ElasticsearchSinkConfig
from logflume.sinks.elasticsearch.sink import ElasticsearchSink
from tests.searchnode.api import NodeApi
from tests.searchnode.helpers import drop, make_events, new_prefix, sink_config
from tests.searchnode.node import ES_ADMIN, ES_VIEWER, SearchNode
from tests.sinks.ready import ready


@pytest.fixture
def secure(es_secure_node: SearchNode) -> SearchNode:
    es_secure_node.start()
    return es_secure_node


@pytest.fixture
async def prefix(secure: SearchNode) -> AsyncIterator[str]:
    name = new_prefix()
    yield name
    await drop(secure, name)


def secure_config(node: SearchNode, prefix: str, **fields: Any) -> ElasticsearchSinkConfig:
    """A sink for the secure node, trusting its CA unless ``tls`` is given."""
    fields.setdefault("tls", {"ca_file": str(node.ca_file)})
    return sink_config(node, prefix, **fields)


async def write_once(config: ElasticsearchSinkConfig, count: int = 10) -> None:
    sink = ElasticsearchSink(config)
    try:
        await ready(sink)
        result = await sink.write(make_events("auth", count))
    finally:
        await sink.close()
    assert (result.retry, result.rejected) == ([], [])


class TestCredentials:
    async def test_basic_auth_over_https_writes(self, secure: SearchNode, prefix: str) -> None:
        """Username and password over HTTPS (the node's CA in ca_file): the template is installed
        and the events are stored."""
        await write_once(secure_config(secure, prefix, username=ES_ADMIN[0], password=ES_ADMIN[1]))

        async with NodeApi.of(secure) as api:
            counts = await api.event_id_counts(f"{prefix}-*")
        assert Counter({f"auth-{n}": 1 for n in range(10)}) == counts

    async def test_a_wrong_password_is_fatal(self, secure: SearchNode, prefix: str) -> None:
        """The node answers 401: open(), check() and write() raise FatalSinkError (retrying the same
        credentials cannot help), and the message does not contain the password."""
        config = secure_config(secure, prefix, username=ES_ADMIN[0], password="wrong-pass-123")
        sink = ElasticsearchSink(config)
        try:
            with pytest.raises(FatalSinkError, match="HTTP 401") as opened:
                await ready(sink)
            with pytest.raises(FatalSinkError, match="HTTP 401"):
                await sink.check()
            with pytest.raises(FatalSinkError, match="HTTP 401"):
                await sink.write(make_events("auth", 1))
        finally:
            await sink.close()
        assert "wrong-pass-123" not in str(opened.value)

    async def test_a_user_without_write_privilege_is_fatal(self, secure: SearchNode, prefix: str) -> None:
        """A read-only user is refused with 403 for the template at prepare() and for the whole bulk
        request at write(): FatalSinkError both times."""
        viewer = {"username": ES_VIEWER[0], "password": ES_VIEWER[1]}
        sink = ElasticsearchSink(secure_config(secure, prefix, **viewer))
        no_template = ElasticsearchSink(secure_config(secure, prefix, **viewer, template={"install": False}))
        try:
            with pytest.raises(FatalSinkError, match=f"index template {prefix}: HTTP 403"):
                await ready(sink)
            await ready(no_template)
            with pytest.raises(FatalSinkError, match="bulk: HTTP 403"):
                await no_template.write(make_events("auth", 1))
        finally:
            await sink.close()
            await no_template.close()

    async def test_a_bearer_token_writes(self, secure: SearchNode, prefix: str) -> None:
        """A token from the node's token service authenticates as bearer_token; a made-up token is
        refused with 401 (FatalSinkError)."""
        async with NodeApi.of(secure) as api:
            grant = await api.post("/_security/oauth2/token", {"grant_type": "client_credentials"})
        await write_once(secure_config(secure, prefix, bearer_token=grant["access_token"]))
        async with NodeApi.of(secure) as api:
            counts = await api.event_id_counts(f"{prefix}-*")

        invented = ElasticsearchSink(secure_config(secure, prefix, bearer_token="bm90LWEtdG9rZW4="))
        try:
            with pytest.raises(FatalSinkError, match="HTTP 401"):
                await ready(invented)
        finally:
            await invented.close()
        assert Counter({f"auth-{n}": 1 for n in range(10)}) == counts

    async def test_an_api_key_is_sent_in_the_apikey_scheme(self, secure: SearchNode, prefix: str) -> None:
        """An API key unknown to the node is refused with 401 (FatalSinkError): the key reached the
        node's API-key authenticator. (Creating real keys needs a module this distribution lacks.)"""
        sink = ElasticsearchSink(secure_config(secure, prefix, api_key="no-such-id:no-such-secret"))
        try:
            with pytest.raises(FatalSinkError, match="HTTP 401") as refused:
                await ready(sink)
        finally:
            await sink.close()
        assert "no-such-secret" not in str(refused.value)


class TestTls:
    async def test_an_untrusted_certificate_is_refused(self, secure: SearchNode, prefix: str) -> None:
        """Without the node's CA the certificate does not verify: the connection fails before any
        request (RetryableSinkError, like any connection failure), and nothing is sent."""
        sink = ElasticsearchSink(
            secure_config(secure, prefix, username=ES_ADMIN[0], password=ES_ADMIN[1], tls={"verify": True})
        )
        try:
            with pytest.raises(RetryableSinkError, match=r"(?i)certificate"):
                await ready(sink)
        finally:
            await sink.close()

    async def test_verify_false_accepts_any_certificate(self, secure: SearchNode, prefix: str) -> None:
        """tls.verify: false talks to a node whose certificate is not trusted (for labs only)."""
        await write_once(
            secure_config(secure, prefix, username=ES_ADMIN[0], password=ES_ADMIN[1], tls={"verify": False})
        )


class TestSecrets:
    async def test_secrets_are_never_logged(
        self, secure: SearchNode, prefix: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Neither the config's repr nor any log record (message or fields) of a successful and a
        refused session contains the password."""
        caplog.set_level(logging.DEBUG)
        good = secure_config(secure, prefix, username=ES_ADMIN[0], password=ES_ADMIN[1])
        bad = secure_config(secure, prefix, username=ES_ADMIN[0], password="leaky-secret-999")
        await write_once(good)
        with pytest.raises(FatalSinkError):
            await write_once(bad)

        logged = "\n".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
        assert ES_ADMIN[1] not in repr(good)
        assert "Search sink connected" in logged
        assert ES_ADMIN[1] not in logged
        assert "leaky-secret-999" not in logged
