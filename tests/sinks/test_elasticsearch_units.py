"""The Elasticsearch sink's pure parts: config checks, index naming, bulk bodies, outcome classification.

What a node answers is tested against real nodes in test_elasticsearch*.py; here are the answers a
healthy test node cannot be made to give on demand (per-item 429) and the decisions made offline.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from logflume.config import parse_config
from logflume.errors import FatalSinkError, RetryableSinkError
from logflume.events import META_KEY, Event
from logflume.lines import Lines
from logflume.sinks.base import LinesResult
from logflume.sinks.elasticsearch.bulk import BulkEncoder, BulkRequest, classify, classify_lines
from logflume.sinks.elasticsearch.clients import classify_status, shard_timeout
from logflume.sinks.elasticsearch.config import ElasticsearchSinkConfig
from logflume.sinks.elasticsearch.naming import IndexNamer
from logflume.sinks.encoders import make_encoder
from logflume.sinks.registry import SINK_TYPES

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def config(**fields: Any) -> ElasticsearchSinkConfig:
    return ElasticsearchSinkConfig.model_validate(
        {"name": "es", "type": "elasticsearch", "hosts": ["http://127.0.0.1:9200"], **fields}
    )


def event(n: int, **fields: Any) -> Event:
    meta = {"event_id": f"fp-{n:x}", "ingested_at": "2026-02-01T00:00:00Z"}
    return {"message": f"m{n}", META_KEY: meta, **fields}


def decode(body: bytes) -> list[Any]:
    return [orjson.loads(line) for line in body.splitlines()]


class TestConfig:
    def test_defaults(self) -> None:
        """A sink needs only hosts: daily llm-proxy-logs indices, template named after the sink."""
        cfg = config()
        expected = ("llm-proxy-logs-%Y-%m-%d", "elasticsearch", True)
        assert expected == (cfg.index, cfg.flavor, cfg.template.install)
        assert (cfg.template_name(), cfg.template_pattern()) == ("es", "llm-proxy-logs-*")

    def test_data_stream_pattern_is_its_name(self) -> None:
        """A data stream without strftime fields is matched by its exact name."""
        assert config(index="logs-proxy", data_stream=True).template_pattern() == "logs-proxy"

    @pytest.mark.parametrize("index", ["Logs-%Y", "_logs", "logs proxy", "logs*", "logs-%q"])
    def test_invalid_index_names(self, index: str) -> None:
        """Index names the cluster would refuse are config errors."""
        with pytest.raises(ValidationError, match="index"):
            config(index=index)

    def test_one_auth_scheme(self) -> None:
        """Basic auth, API key and bearer token exclude each other; user and password go together."""
        with pytest.raises(ValidationError, match="one of"):
            config(username="u", password="p", api_key="k")
        with pytest.raises(ValidationError, match="go together"):
            config(username="u")

    def test_hosts_are_urls(self) -> None:
        """A host without scheme is refused with an example."""
        with pytest.raises(ValidationError, match="https://es1:9200"):
            config(hosts=["es1:9200"])

    def test_registered_and_loaded_from_yaml(self) -> None:
        """The type key is registered and a YAML sink takes its password from the environment,
        without showing it in the config's repr."""
        text = (
            "state_dir: ./state\nsources:\n  - name: proxy\n    include: ['./logs/*.log']\n"
            "sinks:\n  - name: search\n    type: elasticsearch\n    hosts: [https://es:9200]\n"
            "    username: logflume\n    password: ${ES_PASSWORD}\n"
        )
        loaded = parse_config(text, env={"ES_PASSWORD": "s3cret-pw"})
        sink = loaded.sinks[0]
        assert SINK_TYPES["elasticsearch"][0] is ElasticsearchSinkConfig
        assert isinstance(sink, ElasticsearchSinkConfig)
        assert sink.password is not None
        assert sink.password.get_secret_value() == "s3cret-pw"
        assert "s3cret-pw" not in repr(loaded)

    def test_shard_timeout_in_milliseconds(self) -> None:
        """shard_timeout is sent as the bulk timeout parameter in milliseconds; unset sends none."""
        assert (shard_timeout(config(shard_timeout="1.5s")), shard_timeout(config())) == ("1500ms", None)


class TestNaming:
    @pytest.mark.parametrize(
        ("own", "expected"),
        [
            (1768473015123, ("logs-2026-01-15", "2026-01-15T10:30:15.123Z")),
            (1768473015, ("logs-2026-01-15", "2026-01-15T10:30:15.000Z")),
            ("2026-01-15T23:30:00-02:00", ("logs-2026-01-16", "2026-01-16T01:30:00.000Z")),
            ("yesterday", ("logs-2026-01-15", "2026-01-15T10:30:00.000Z")),
        ],
    )
    def test_own_timestamp_in_another_form_is_replaced(self, own: Any, expected: tuple[str, str]) -> None:
        """An own @timestamp that is not canonical text is written as the instant the index is
        named by (an epoch number by the daemon's magnitude rule, not as the node's milliseconds);
        one that is no time gives way to ``timestamp``."""
        fields = {"@timestamp": own, "timestamp": "2026-01-15T10:30Z"}
        assert expected == IndexNamer("logs-%Y-%m-%d").resolve(event(1, **fields), NOW)

    def test_own_timestamp_picks_the_index_and_is_copied(self) -> None:
        """``timestamp`` (in UTC) names the index and becomes @timestamp in strict ISO form."""
        namer = IndexNamer("logs-%Y-%m-%d")
        assert namer.resolve(
            event(1, timestamp="2026-01-15T23:30:00-02:00"), NOW
        ) == ("logs-2026-01-16", "2026-01-16T01:30:00.000Z")

    def test_existing_at_timestamp_wins_and_is_kept(self) -> None:
        """An event's own @timestamp names the index and is not replaced."""
        namer = IndexNamer("logs-%Y-%m-%d")
        own = {"@timestamp": "2026-01-10T00:00:00Z", "timestamp": "2026-01-15"}
        resolved = namer.resolve(event(1, **own), NOW)
        assert resolved == ("logs-2026-01-10", None)

    def test_fallbacks(self) -> None:
        """Without a parseable time of its own an event is filed at its ingest time, and without
        that at the time of writing."""
        namer = IndexNamer("logs-%Y-%m-%d")
        ingested = namer.resolve(event(1, timestamp="garbage"), NOW)
        bare = namer.resolve({"message": "x"}, NOW)
        assert ingested == ("logs-2026-02-01", "2026-02-01T00:00:00.000Z")
        assert bare == ("logs-2026-03-01", "2026-03-01T12:00:00.000Z")

    def test_invalid_calendar_date_falls_back(self) -> None:
        """A timestamp shaped right but not a real date is not trusted: ingest time is used."""
        namer = IndexNamer("logs-%Y-%m-%d")
        assert namer.resolve(
            event(1, timestamp="2026-02-30T10:00:00Z"), NOW
        ) == ("logs-2026-02-01", "2026-02-01T00:00:00.000Z")

    def test_hourly_indices(self) -> None:
        """An hourly template names indices by the hour of each canonical timestamp."""
        namer = IndexNamer("logs-%Y.%m.%d-%H")
        stamps = ["2026-01-15T09:59:59.999Z", "2026-01-15T10:00:00Z"]
        names = [namer.resolve(event(n, timestamp=stamp), NOW)[0] for n, stamp in enumerate(stamps)]
        assert names == ["logs-2026.01.15-09", "logs-2026.01.15-10"]

    def test_static_name(self) -> None:
        """A template without strftime fields is one index for every event."""
        namer = IndexNamer("proxy-logs")
        expected = ("proxy-logs", "2026-01-15T10:30:00.000Z")
        assert expected == namer.resolve(event(1, timestamp="2026-01-15T10:30Z"), NOW)


class TestBulkEncoder:
    def test_create_actions_with_event_ids(self) -> None:
        """Each event becomes a create action with _id = event_id, followed by the document with
        @timestamp added (a UTC timestamp copied as it is); the events themselves are not changed."""
        events = [event(1, timestamp="2026-01-15T10:30:00Z"), event(2, timestamp="2026-01-16T10:30:00Z")]
        before = orjson.dumps(events)
        request = BulkEncoder(IndexNamer("logs-%Y-%m-%d")).encode(events, NOW)

        lines = decode(request.body)
        assert [
            {"create": {"_index": "logs-2026-01-15", "_id": "fp-1"}},
            {**events[0], "@timestamp": "2026-01-15T10:30:00Z"},
            {"create": {"_index": "logs-2026-01-16", "_id": "fp-2"}},
            {**events[1], "@timestamp": "2026-01-16T10:30:00Z"},
        ] == lines
        assert request.body.endswith(b"\n")
        assert before == orjson.dumps(events)
        assert events == request.events

    def test_event_without_id_gets_a_server_id(self) -> None:
        """An event without metadata is sent without _id (the server assigns one)."""
        bare = {"message": "x", "@timestamp": "2026-01-01T00:00:00Z"}
        request = BulkEncoder(IndexNamer("logs")).encode([bare], NOW)
        assert decode(request.body)[0] == {"create": {"_index": "logs"}}

    def test_unencodable_event_is_rejected_alone(self) -> None:
        """An event JSON cannot express is rejected with the reason; the others are sent."""
        bad = event(2, tags={1, 2})
        request = BulkEncoder(IndexNamer("logs")).encode([event(1), bad, event(3)], NOW)
        assert [event(1), event(3)] == request.events
        assert [bad] == [e for e, _ in request.unencodable]
        assert "cannot encode as JSON" in request.unencodable[0][1]
        assert len(decode(request.body)) == 4


class TestBlockEncoder:
    """The encoder run in worker processes makes, from each event and its line, exactly the bulk
    items :meth:`BulkEncoder.encode` makes of the event, so the sink only joins them."""

    CASES: list[Event] = [
        event(1, timestamp="2026-01-15T10:30:00Z"),  # @timestamp spliced in from timestamp
        event(2, **{"@timestamp": "2026-01-16T08:00:00.000Z"}),  # its own canonical one: as it is
        event(3, **{"@timestamp": 1768550400}),  # an epoch number: replaced in a copy
        event(4, **{"@timestamp": "not a time"}, timestamp="2026-01-17T00:00:00Z"),
        event(5),  # no time of its own: filed by ingest time
        {"message": "no metadata", "@timestamp": "2026-01-18T00:00:00Z"},  # no _id
        {},  # nothing at all: filed by the time of writing
        event(6, text="line\nbreak \u2028 \x00 \"quoted\""),
    ]

    def test_items_are_what_encode_sends(self) -> None:
        encoder = BulkEncoder(IndexNamer("logs-%Y-%m-%d"))
        block = Lines.of("proxy", self.CASES)
        encoded = encoder(self.CASES, block, NOW.timestamp())
        expected = encoder.encode(self.CASES, NOW)
        assert bytes(encoded.data) == expected.body
        assert len(encoded.ends) == len(self.CASES)
        assert encoded.names == frozenset(expected.indices)
        # Item i is event i's action and document, nothing else.
        first = decode(bytes(encoded.data[: encoded.ends[0]]))
        assert first == decode(expected.body)[:2]

    def test_the_key_names_the_index_template(self) -> None:
        assert BulkEncoder(IndexNamer("a-%Y")).key != BulkEncoder(IndexNamer("b-%Y")).key
        assert make_encoder(BulkEncoder(IndexNamer("a-%Y")).key) is not None
        assert make_encoder("unknown:thing") is None


class TestClassifyLines:
    def blocks(self) -> list[Lines]:
        encoder = BulkEncoder(IndexNamer("logs"))
        out = []
        for first in (0, 3):
            events = [event(n) for n in range(first, first + 3)]
            block = Lines.of("proxy", events)
            block.encoded = {encoder.key: encoder(events, block, NOW.timestamp())}
            out.append(block)
        return out

    def test_retries_keep_their_items_and_refused_events_come_back_whole(self) -> None:
        """Items answered 429/5xx come back as parts of their blocks, bulk items included; refused
        ones as their events (decoded from the lines) with the node's reason."""
        statuses = [201, 429, 400, 409, 503, 201]
        response = {
            "errors": True,
            "items": [{"create": {"status": s, "error": {"type": "t", "reason": "r"}}} for s in statuses],
        }
        blocks = self.blocks()
        result = classify_lines(response, blocks)
        assert [[e["message"] for e in block.events()] for block in result.retry] == [["m1"], ["m4"]]
        key = BulkEncoder(IndexNamer("logs")).key
        for block in result.retry:
            assert block.encoded is not None
            action, document = decode(bytes(block.encoded[key].data))
            assert action["create"]["_id"] == block.events()[0][META_KEY]["event_id"]
            assert {k: v for k, v in document.items() if k != "@timestamp"} == block.events()[0]
        assert [(event(2), "400 t: r")] == result.rejected

    def test_no_errors_means_all_accepted_and_a_mismatch_is_retried(self) -> None:
        assert classify_lines({"errors": False}, self.blocks()) == LinesResult()
        with pytest.raises(RetryableSinkError, match="1 items for 6 actions"):
            classify_lines({"errors": True, "items": [{"create": {"status": 400}}]}, self.blocks())


class TestClassify:
    def request(self, count: int) -> BulkRequest:
        return BulkRequest(b"", [event(n) for n in range(count)])

    def test_no_errors_means_all_accepted(self) -> None:
        """``errors: false`` accepts every item without reading them."""
        result = classify({"errors": False, "items": []}, self.request(3))
        assert (result.retry, result.rejected) == ([], [])

    def test_items_are_sorted_into_delivered_retry_and_rejected(self) -> None:
        """201 and 409 (already stored by an earlier attempt) are delivered; 429 and 5xx are retried;
        400 is rejected with type, reason and cause."""
        error = {
            "type": "document_parsing_exception",
            "reason": "failed to parse field [n] of type [integer]",
            "caused_by": {"type": "number_format_exception", "reason": 'For input string: "x"'},
        }
        response = {
            "errors": True,
            "items": [
                {"create": {"status": 201}},
                {"create": {"status": 409, "error": {"type": "version_conflict_engine_exception"}}},
                {"create": {"status": 429, "error": {"type": "es_rejected_execution_exception"}}},
                {"create": {"status": 503, "error": {"type": "unavailable_shards_exception"}}},
                {"create": {"status": 400, "error": error}},
            ],
        }
        request = self.request(5)
        result = classify(response, request)
        assert [request.events[2], request.events[3]] == result.retry
        assert [
            (
                request.events[4],
                "400 document_parsing_exception: failed to parse field [n] of type [integer] "
                '(caused by number_format_exception: For input string: "x")',
            )
        ] == result.rejected

    def test_unencodable_events_are_reported_as_rejected(self) -> None:
        """Events dropped while encoding come back as rejected even when the bulk succeeded."""
        request = self.request(1)
        request.unencodable.append((event(9), "cannot encode as JSON: x"))
        assert [(event(9), "cannot encode as JSON: x")] == classify({"errors": False}, request).rejected

    def test_an_answer_that_does_not_match_is_retried(self) -> None:
        """An answer with a different number of items cannot be matched: the batch is retried
        (create keeps replays single)."""
        with pytest.raises(RetryableSinkError, match="1 items for 2 actions"):
            classify({"errors": True, "items": [{"create": {"status": 400}}]}, self.request(2))

    @pytest.mark.parametrize(
        ("status", "kind"),
        [(429, RetryableSinkError), (500, RetryableSinkError), (503, RetryableSinkError),
         (400, FatalSinkError), (401, FatalSinkError), (403, FatalSinkError), (404, FatalSinkError)],
    )
    def test_whole_request_status(self, status: int, kind: type[Exception]) -> None:
        """A whole request answered 429 or 5xx is retried; other 4xx are fatal."""
        error = classify_status(status, "bulk", "detail")
        assert (kind, f"bulk: HTTP {status}: detail") == (type(error), str(error))
