"""A job: one chunk through parse, the stateless stages and the encoder, as a worker process runs it.

The job is pure (no I/O), so these run it in process; tests/workers run the same jobs in real
worker processes and compare.
"""

from __future__ import annotations

import dataclasses
import time
from array import array
from typing import Any

import orjson

from logflume import lines
from logflume.events import Ack, Batch, Event, RawChunk
from logflume.generate import lines as sample_lines
from logflume.pipeline.aggregate import AggregateConfig, AggregateStage
from logflume.pipeline.aggregate.front import AggregateInput
from logflume.pipeline.build import build_stateless
from logflume.pipeline.config import PipelineConfig
from logflume.pipeline.job import PARSE, ChunkWork, Job, ParseSettings
from logflume.pipeline.parse import Parser
from logflume.pipeline.stage import Chain

NOW = 1_800_000_000.0


def pipeline(**sections: Any) -> PipelineConfig:
    return PipelineConfig.model_validate(sections)


def work(data: bytes, source: str = "proxy", taps: dict[str, int] | None = None) -> ChunkWork:
    return ChunkWork(source, "f" * 16, "/logs/app.log", 100, data, NOW, taps or {})


def in_process(config: PipelineConfig, data: bytes) -> Batch:
    """What the daemon ran before worker processes: parse, then the stateless stages one by one."""
    chunk = RawChunk("proxy", "f" * 16, "/logs/app.log", 100, data, Ack("", 0, lambda _: None))
    events, dead = Parser()(chunk, NOW)
    return Chain(build_stateless(config))(Batch(events, [], dead), NOW)


class Exploding:
    """A stage raising on events marked ``boom`` (a bug no input should cause)."""

    name = "normalise"

    def __call__(self, batch: Batch, now: float) -> Batch:
        if any(event.get("boom") for event in batch.events):
            raise ValueError("bad batch")
        return batch


class TestRun:
    def test_lines_are_the_stages_output_encoded(self) -> None:
        """The main stream's lines are exactly the events the stages would have passed on, encoded."""
        data = b"".join(sample_lines(200, seed=3))
        config = pipeline()
        result = Job(config, [ParseSettings("proxy")]).run(work(data))
        assert lines.encode(in_process(config, data).events) == result.lines

    def test_blocks_are_cut_at_the_sinks_smallest_batch(self) -> None:
        """Asked for blocks of at most 64 events, 200 events come as 64, 64, 64 and 8: the same
        lines, end to end, as one block."""
        data = b"".join(sample_lines(200, seed=3))
        job = Job(pipeline(), [ParseSettings("proxy")])
        whole = job.run(work(data)).lines
        cut = job.run(dataclasses.replace(work(data), block_events=64)).lines
        assert [64, 64, 64, 8] == [len(block) for block in cut]
        assert whole == [lines.join("proxy", cut)]

    def test_counters_and_dead_letters(self) -> None:
        """Parse counts lines in and events out; a bad line is a dead letter at its own offset."""
        data = b'{"a":1}\nnot json\n\n{"b":2}\n'
        result = Job(pipeline(), [ParseSettings("proxy")]).run(work(data))
        parse = result.parse
        assert parse is not None
        assert (4, 1, 2, 1) == (parse.lines, parse.blank, parse.events, parse.invalid)
        assert [(108, "invalid JSON")] == [(d.offset, d.reason.split(":")[0]) for d in result.dead]
        assert 2 == result.parsed

    def test_stage_counts_come_back_as_what_the_chunk_added(self) -> None:
        """A stage's own counts travel back as this chunk's increments, not as running totals, so
        the daemon can add up results from any process."""
        job = Job(pipeline(), [ParseSettings("proxy")])
        secret = b'{"n":1,"password":"hunter2"}\n'
        first = job.run(work(secret * 3))
        second = job.run(work(secret * 2 + b'{"n":2}\n'))
        wanted = ("redact", "redactions")
        redacted = [
            {key[2]: value for key, value in (r.reported or {}).items() if key[:2] == wanted}
            for r in (first, second)
        ]
        assert [{(("rule", "secret_field"),): 3.0}, {(("rule", "secret_field"),): 2.0}] == redacted

    def test_routes_leave_the_main_stream(self) -> None:
        """Events a filter routes come back as that sink's lines and are not in the main stream."""
        rules = {"rules": [{"when": 'logger == "security"', "action": "route", "sinks": ["audit"]}]}
        data = b'{"n":1,"logger":"api"}\n{"n":2,"logger":"security"}\n'
        result = Job(pipeline(filter=rules), [ParseSettings("proxy")]).run(work(data))
        routed = lines.decode((result.routes or {})["audit"])
        assert ([1], [2]) == ([e["n"] for e in lines.decode(result.lines)], [e["n"] for e in routed])

    def test_a_stage_raising_dead_letters_only_its_culprits(self) -> None:
        """Under the same safety net as in the daemon: the event a stage raises on is dead-lettered."""
        job = Job(pipeline(), [ParseSettings("proxy")])
        job.stages[1] = Exploding()
        result = job.run(work(b'{"n":1}\n{"n":2,"boom":true}\n{"n":3}\n'))
        assert [1, 3] == [e["n"] for e in lines.decode(result.lines)]
        assert ["stage normalise: ValueError: bad batch"] == [d.reason for d in result.dead]
        assert 1 == result.counts["normalise"].failed_batches

    def test_taps_get_the_events_after_their_stage(self) -> None:
        """A tapped stage's events come back encoded as they were right after it, at most the limit."""
        data = b'{"n":1,"password":"hunter2"}\n{"n":2}\n{"n":3}\n'
        result = Job(pipeline(), [ParseSettings("proxy")]).run(work(data, taps={PARSE: 2, "redact": 5}))
        parsed, redacted = result.taps[PARSE], result.taps["redact"]
        assert (2, 3, 3) == (len(parsed[0]), parsed[1], len(redacted[0]))
        assert b"hunter2" in parsed[0][0]
        assert b"hunter2" not in redacted[0][0]

    def test_sources_parse_with_their_own_settings(self) -> None:
        """A source added later parses with its settings (here: non-JSON lines wrapped)."""
        job = Job(pipeline(), [ParseSettings("proxy")])
        job.add_source(ParseSettings("plain", wrap_invalid=True))
        result = job.run(work(b"hello\n", source="plain"))
        assert (["hello"], []) == ([e["message"] for e in lines.decode(result.lines)], result.dead)

    def test_new_stages_apply_to_later_chunks(self) -> None:
        """After :meth:`Job.use`, the next chunk runs through the new stages."""
        job = Job(pipeline(), [ParseSettings("proxy")])
        job.use(pipeline(filter={"rules": [{"when": "n == 2", "action": "drop"}]}))
        result = job.run(work(b'{"n":1}\n{"n":2}\n'))
        assert [1] == [e["n"] for e in lines.decode(result.lines)]

    def test_audit_alerts_come_back_and_go_out_as_the_daemons_events(self) -> None:
        """An audit alert is in the result's alerts and in the lines, filed under the daemon."""
        line = {"logger": "llm_proxy.audit", "event_type": "x", "details": {"a": 1}, "hash": "0" * 64}
        result = Job(pipeline(), [ParseSettings("proxy")]).run(work(orjson.dumps(line) + b"\n"))
        assert ["audit_integrity"] == [alert["rule"] for alert in result.alerts]
        assert ["proxy", "logflume"] == [block.source for block in result.lines]


class TestWindowedFronts:
    def test_aggregate_from_the_front_equals_the_stage_on_the_events(self) -> None:
        """Windows filled from what a job took are the windows the stage fills from the events."""
        data = b"".join(sample_lines(3000, seed=4))
        config = pipeline(aggregate={"windows": ["1m"], "group_by": [["provider", "model"]]})
        result = Job(config, [ParseSettings("proxy")]).run(work(data))
        assert result.aggregate is not None
        aggregate = AggregateConfig.model_validate({"windows": ["1m"], "group_by": [["provider", "model"]]})
        direct, taken = AggregateStage(aggregate), AggregateStage(aggregate)
        later = time.time() + 10**9  # every window closed
        events: list[Event] = lines.decode(result.lines)
        expected = [*direct(Batch(events), NOW).events[len(events) :], *direct(Batch([]), later).events]
        got = [
            *taken.take(result.aggregate, Batch([]), NOW).events,
            *taken.take(AggregateInput(), Batch([]), later).events,
        ]
        assert expected == got
        assert 0 < len(got)

    def test_no_front_without_windowed_stages(self) -> None:
        """Without aggregate or anomaly a job takes nothing for them."""
        result = Job(pipeline(), [ParseSettings("proxy")]).run(work(b'{"n":1}\n'))
        assert (None, None) == (result.aggregate, result.anomaly)


class TestEncodings:
    """Sinks' encodings made beside the lines: only those asked for and known, never at the cost
    of the chunk."""

    class Counting:
        key = "count:"

        def __call__(self, events: list[Event], block: lines.Lines, now: float) -> lines.Encoded:
            assert len(events) == len(block)
            data = bytearray()
            ends: array[int] = array("q")
            for event in events:
                data += f"{event.get('request_id')}\n".encode()
                ends.append(len(data))
            return lines.Encoded(data, ends, frozenset({str(now)}))

    class Raising:
        key = "raise:"

        def __call__(self, events: list[Event], block: lines.Lines, now: float) -> lines.Encoded:
            raise RuntimeError("an encoder bug")

    def make(self, key: str) -> Any:
        return {"count:": self.Counting(), "raise:": self.Raising()}.get(key)

    def test_each_block_gets_the_encodings_asked_for_and_known(self) -> None:
        data = b"".join(sample_lines(50, seed=5))
        job = Job(pipeline(), [ParseSettings("proxy")], self.make)
        asked = dataclasses.replace(work(data), encodings=("count:", "unknown:"), block_events=20)
        result = job.run(asked)
        assert [len(block) for block in result.lines] == [20, 20, 10]
        for block in result.lines:
            assert block.encoded is not None
            assert set(block.encoded) == {"count:"}
            ids = bytes(block.encoded["count:"].data).decode().split()
            assert ids == [str(event.get("request_id")) for event in block.events()]
        assert job.run(work(data)).lines[0].encoded is None  # not asked: none made

    def test_an_encoder_that_raises_leaves_the_block_to_the_sink(self, caplog: Any) -> None:
        data = b"".join(sample_lines(30, seed=6))
        job = Job(pipeline(), [ParseSettings("proxy")], self.make)
        result = job.run(dataclasses.replace(work(data), encodings=("raise:", "count:")))
        expected = Job(pipeline(), [ParseSettings("proxy")]).run(work(data))
        assert [bytes(b.data) for b in result.lines] == [bytes(b.data) for b in expected.lines]
        assert all(block.encoded is not None and set(block.encoded) == {"count:"} for block in result.lines)
        assert "Block encoder failed" in caplog.text
