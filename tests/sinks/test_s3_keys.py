"""S3 object keys, batch ids, encoding and config, without a server."""

from __future__ import annotations

import gzip
import json
import time
from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from logflume.events import META_KEY, Event
from logflume.sinks.s3.config import S3SinkConfig
from logflume.sinks.s3.encode import EncodedObject, compress, encode_lines
from logflume.sinks.s3.keys import KeyRenderer, batch_id, event_time

NOW = 1_773_144_000.0  # 2026-03-10T12:00:00Z


def event(n: int, source: str = "proxy", ts: str | None = "2024-01-15T10:30:15Z", **fields: object) -> Event:
    out: Event = {"n": n, META_KEY: {"event_id": f"id-{n}", "source": source}}
    if ts is not None:
        out["timestamp"] = ts
    out.update(fields)
    return out


def encode_objects(events: list[Event], max_bytes: int, level: int) -> list[EncodedObject]:
    """The sink's two steps at once: the gzip objects for ``events``."""
    return [compress(obj, level) for obj in encode_lines(events, max_bytes)]


class TestBatchId:
    def test_same_events_same_id(self) -> None:
        """The id depends on the first and last event ids and the count, so a replay repeats it."""
        events = [event(n) for n in range(10)]
        assert batch_id(events, b"a") == batch_id([dict(e) for e in events], b"b")

    def test_different_events_different_ids(self) -> None:
        """Another range, or the same ends with another count, gives another id."""
        ids = {
            batch_id([event(n) for n in range(10)], b""),
            batch_id([event(n) for n in range(10, 20)], b""),
            batch_id([event(0), event(5), event(9)], b""),
        }
        expected = 3
        assert expected == len(ids)

    def test_events_without_ids_are_named_by_content(self) -> None:
        """Without event ids the compressed body decides the id."""
        bare = [{"message": "x"}]
        assert (
            batch_id(bare, b"one") == batch_id(bare, b"one"),
            batch_id(bare, b"one") == batch_id(bare, b"two"),
        ) == (
            True,
            False,
        )


class TestKeys:
    def test_default_template_uses_the_first_events_time(self) -> None:
        """dt= and hour= come from the first event's timestamp, in UTC."""
        renderer = KeyRenderer(S3SinkConfig.model_fields["key"].default, "logs", "web-1", True)
        key = renderer.render("proxy", [event(1, ts="2024-01-15T12:30:00+02:00")], "abc", NOW)
        expected = "logs/proxy/dt=2024-01-15/hour=10/web-1-abc.json.gz"
        assert expected == key

    def test_write_time_or_undated_events_use_now(self) -> None:
        """key_time write, or a first event without a timestamp, renders the time of writing."""
        template = "{prefix}/dt=%Y-%m-%d/hour=%H/{batch_id}.gz"
        expected = ["p/dt=2026-03-10/hour=12/b.gz"] * 2
        assert expected == [
            KeyRenderer(template, "p", "h", False).render("s", [event(1)], "b", NOW),
            KeyRenderer(template, "p", "h", True).render("s", [event(1, ts=None)], "b", NOW),
        ]

    def test_values_cannot_add_levels_or_fields(self) -> None:
        """A "/" in a source becomes "_", a "%" stays literal, an empty prefix leaves no leading "/"."""
        renderer = KeyRenderer("{prefix}/{source}/%Y/{batch_id}", "", "h", True)
        expected = "a_b%Y/2024/x"
        assert expected == renderer.render("a/b%Y", [event(1)], "x", NOW)

    def test_event_time_reads_text_and_epochs(self) -> None:
        """@timestamp wins over timestamp; epoch milliseconds are recognised; without a time of
        its own an event is filed at its ingest time."""
        expected = [
            datetime(2024, 1, 15, 10, 30, 15, tzinfo=UTC),
            datetime(2024, 1, 15, 10, 30, 15, 123000, tzinfo=UTC),
            None,
            datetime(2024, 1, 15, 10, 30, tzinfo=UTC),
        ]
        assert expected == [
            event_time({"@timestamp": "2024-01-15T10:30:15Z", "timestamp": "2000-01-01T00:00:00Z"}),
            event_time({"timestamp": 1705314615123}),
            event_time({"timestamp": "soon"}),
            event_time({"timestamp": "²", META_KEY: {"ingested_at": "2024-01-15T10:30:00.000Z"}}),
        ]


class TestEncode:
    def test_one_object_per_source_in_order(self) -> None:
        """Events are grouped by source, keeping their order, and each object is gzip NDJSON."""
        events = [event(0, "a"), event(1, "b"), event(2, "a")]
        objects = encode_objects(events, 1 << 20, 6)
        expected = [("a", [0, 2]), ("b", [1])]
        assert expected == [
            (obj.source, [orjson.loads(line)["n"] for line in gzip.decompress(obj.body).splitlines()])
            for obj in objects
        ]

    def test_over_the_cap_splits_into_equal_parts(self) -> None:
        """A source just over the cap becomes two similar objects, not a full one and a crumb."""
        events = [event(n, pad="x" * 80) for n in range(100, 200)]  # lines of equal length
        line = len(orjson.dumps(events[0])) + 1
        objects = encode_objects(events, line * 60, 6)
        expected = [50, 50]
        assert expected == [obj.count for obj in objects]
        assert [obj.size for obj in objects] == [len(gzip.decompress(obj.body)) for obj in objects]

    def test_same_events_same_bytes(self) -> None:
        """gzip output is deterministic (no timestamp in the header), so a replay stores equal bytes."""
        events = [event(n) for n in range(50)]
        assert encode_objects(events, 1 << 20, 6)[0].body == encode_objects(events, 1 << 20, 6)[0].body

    def test_body_is_plain_gzip_of_the_ndjson(self) -> None:
        """The body is exactly what gzip.compress(mtime=0) makes of the NDJSON lines."""
        events = [event(n, "a" if n % 2 else "b") for n in range(40)]
        objects = encode_objects(events, 1 << 20, 6)
        expected = [
            ("b", gzip.compress(b"".join(orjson.dumps(e) + b"\n" for e in events[0::2]), 6, mtime=0)),
            ("a", gzip.compress(b"".join(orjson.dumps(e) + b"\n" for e in events[1::2]), 6, mtime=0)),
        ]
        assert expected == [(obj.source, obj.body) for obj in objects]

    def test_compress_leaves_the_lines_for_a_retry(self) -> None:
        """Compressing an object leaves its lines as they were (the runner sends them again if the
        upload fails); the object knows its uncompressed size."""
        [plain] = encode_lines([event(n) for n in range(10)], 1 << 20)
        before = bytes(plain.data)
        obj = compress(plain, 6)
        expected = (before, len(before), before)
        assert expected == (plain.data, obj.size, gzip.decompress(obj.body))

    @settings(deadline=None)  # a loaded machine must not fail a test about correctness
    @given(
        sizes=st.lists(st.tuples(st.sampled_from("ab"), st.integers(0, 300)), min_size=1, max_size=60),
        cap=st.integers(40, 2000),
    )
    def test_objects_keep_every_event_once_in_order_under_the_cap(
        self, sizes: list[tuple[str, int]], cap: int
    ) -> None:
        """Any mix of line sizes: each source's events appear once, in order, in objects under
        the cap (a single line over it goes alone), and each object's size is its real size."""
        events = [event(n, source, pad="x" * size) for n, (source, size) in enumerate(sizes)]
        objects = encode_objects(events, cap, 1)
        for source in "ab":
            expected = [e["n"] for e in events if e[META_KEY]["source"] == source]
            got = [
                orjson.loads(line)["n"]
                for obj in objects
                if obj.source == source
                for line in gzip.decompress(obj.body).splitlines()
            ]
            assert expected == got
        for obj in objects:
            lines = gzip.decompress(obj.body).splitlines(keepends=True)
            assert (obj.first["n"], obj.last["n"], obj.count) == (
                orjson.loads(lines[0])["n"],
                orjson.loads(lines[-1])["n"],
                len(lines),
            )
            assert obj.size == sum(len(line) for line in lines)
            assert obj.size <= cap or len(lines) == 1

    def test_values_orjson_refuses_take_the_slow_path(self) -> None:
        """An integer beyond 64 bits becomes text (as in every sink), a lone surrogate "?", a
        custom type its text."""
        [obj] = encode_objects([event(1, big=10**30, s="a\ud800", when=time)], 1 << 20, 6)
        decoded = json.loads(gzip.decompress(obj.body))
        assert (str(10**30), "a?", str(time)) == (decoded["big"], decoded["s"], decoded["when"])

    def test_events_nested_deeper_than_orjson_writes_are_kept(self) -> None:
        """An event nested 5,000 levels deep is written by the slow encoder, beside the others."""
        deep: dict[str, object] = {}
        node = deep
        for _ in range(5000):
            node["x"] = node = {}
        [obj] = encode_objects([event(1), event(2, deep=deep), event(3)], 1 << 20, 6)
        lines = gzip.decompress(obj.body).splitlines()
        assert (3, [1, 3]) == (len(lines), [orjson.loads(line)["n"] for line in (lines[0], lines[2])])
        assert lines[1].startswith(b'{"n":2,')
        assert lines[1].count(b'{"x":') == 5000


class TestConfig:
    def base(self, **fields: object) -> dict[str, object]:
        return {"name": "s3", "type": "s3", "bucket": "logs", **fields}

    @pytest.mark.parametrize(
        ("key", "message"),
        [("{prefix}/{unknown}/{batch_id}", "only"), ("{prefix}/%Y/{host}.gz", "batch_id")],
    )
    def test_bad_key_templates_are_refused(self, key: str, message: str) -> None:
        """Unknown fields, or a template without {batch_id}, fail validation."""
        with pytest.raises(ValidationError, match=message):
            S3SinkConfig.model_validate(self.base(key=key))

    def test_parts_must_be_at_least_5_mib(self) -> None:
        """S3 refuses multipart parts under 5 MiB (but the last), so the config does too."""
        with pytest.raises(ValidationError, match="part_size"):
            S3SinkConfig.model_validate(self.base(part_size="1MiB"))

    def test_keys_come_in_pairs(self) -> None:
        """An access key without its secret is an error."""
        with pytest.raises(ValidationError, match="both"):
            S3SinkConfig.model_validate(self.base(access_key_id="AKIA"))

    def test_defaults_favour_big_objects(self) -> None:
        """By default batches gather 8 MiB or wait 60 s, and the memory buffer holds several."""
        cfg = S3SinkConfig.model_validate(self.base())
        expected = (8 * 1024**2, 60.0, True)
        assert expected == (
            cfg.batch.max_bytes,
            cfg.batch.timeout,
            cfg.buffer.max_bytes > cfg.batch.max_bytes and cfg.buffer.max_events > cfg.batch.max_events,
        )

    def test_defaults_overlap_batches_and_parts(self) -> None:
        """By default two batches are encoded and uploaded at once, and four parts of a big object."""
        cfg = S3SinkConfig.model_validate(self.base())
        expected = (2, 4)
        assert expected == (cfg.concurrency, cfg.part_concurrency)

    def test_secrets_are_hidden(self) -> None:
        """The secret key never shows in the config's repr."""
        cfg = S3SinkConfig.model_validate(self.base(access_key_id="AKIA", secret_access_key="hush"))
        assert "hush" not in repr(cfg)


def test_now_constant_is_what_the_tests_assume() -> None:
    """NOW is 2026-03-10 12:00 UTC."""
    expected = "2026-03-10T12"
    assert expected == time.strftime("%Y-%m-%dT%H", time.gmtime(NOW))
