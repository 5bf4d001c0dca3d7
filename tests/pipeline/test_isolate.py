"""The safety net under every stage: a stage that raises on a batch is rerun event by event, and
only the events it still raises on are dead-lettered (with the stage and the reason).

The stages here that raise are test doubles of pure logic (a stage raising on a marked event);
the real stages are total, which tests/pipeline/test_hostile.py checks, and the daemon test in
tests/spine/test_hostile_lines.py runs the real thing.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import orjson
import pytest

from logflume.app import metered_call
from logflume.events import META_KEY, Batch, Event
from logflume.pipeline.filter.config import FilterConfig
from logflume.pipeline.filter.stage import FilterStage
from logflume.pipeline.isolate import StageCounters, StageGuard
from tests.hostile import nested


def event(n: int, **fields: Any) -> Event:
    meta = {"event_id": f"fp-{n:x}", "source": "proxy", "file": "/l/app.log", "offset": n}
    return {"n": n, **fields, META_KEY: meta}


class Picky:
    """Raises on events marked ``boom`` (after doing its work on the ones before, like a real
    stage that fails part-way), and adds ``seen`` to each event it passes."""

    name = "picky"

    def __call__(self, batch: Batch, now: float) -> Batch:
        routed = [item for events in (batch.routes or {}).values() for item in events]
        for item in [*batch.events, *routed]:
            if item.get("boom"):
                raise ValueError(f"cannot take {item['boom']!r}")
            item["seen"] = item.get("seen", 0) + 1
        batch.events.append({"made": "here"})  # output of its own, like a window closing
        return batch


class Clumsy:
    """Fails on any batch of more than one event (a bug no single event causes)."""

    name = "clumsy"

    def __call__(self, batch: Batch, now: float) -> Batch:
        if len(batch.events) > 1:
            raise RuntimeError("batch logic broke")
        return batch


def run(stage: Any, batch: Batch, counters: StageCounters | None = None) -> Batch:
    return metered_call(stage, counters or StageCounters(), batch, 0.0, StageGuard())


class TestIsolation:
    def test_culprits_are_dead_lettered_and_the_rest_carries_on(self) -> None:
        """Events a stage raises on become dead letters naming the stage, the exception and the
        event's origin, with its content (without the daemon's metadata) as raw; the others pass."""
        out = run(Picky(), Batch([event(1), event(2, boom="x"), event(3), event(4, boom=7)], acks=["ack"]))
        assert [1, 3] == [e["n"] for e in out.events if "n" in e]
        assert ["ack"] == out.acks
        assert [
            ("proxy", "/l/app.log", 2, "stage picky: ValueError: cannot take 'x'", {"n": 2, "boom": "x"}),
            ("proxy", "/l/app.log", 4, "stage picky: ValueError: cannot take 7", {"n": 4, "boom": 7}),
        ] == [(d.source, d.file, d.offset, d.reason, json.loads(d.raw)) for d in out.dead]

    def test_a_retry_starts_from_the_batch_as_it_was(self) -> None:
        """Output the failed call already made is undone: each event is processed and each piece
        of the stage's own output appears once per call that succeeded."""
        out = run(Picky(), Batch([event(1), event(2), event(3, boom=True)], dead=[]))
        passed = [e for e in out.events if "n" in e]
        assert ([1, 2], 2) == ([e["n"] for e in passed], sum(1 for e in out.events if e.get("made")))
        # The failed call had counted event 1 and 2 once already: the retry counts them again
        # (what the module docstring says a stateful stage can double count).
        assert [2, 2] == [e["seen"] for e in passed]

    def test_batch_failure_without_a_culprit_delivers_everything(self) -> None:
        """A stage failing on the batch but on no single event: every event is delivered."""
        counters = StageCounters()
        out = run(Clumsy(), Batch([event(1), event(2), event(3)]), counters)
        assert ([1, 2, 3], []) == ([e["n"] for e in out.events], out.dead)
        assert (1, 3, 3, 0) == (
            counters.failed_batches,
            counters.events_in,
            counters.events_out,
            counters.dead_letters,
        )

    def test_counters(self) -> None:
        """A failed batch counts once; each dead letter counts as the stage's."""
        counters = StageCounters()
        run(Picky(), Batch([event(1, boom=1), event(2), event(3, boom=3)]), counters)
        assert (1, 1, 3, 2, 2) == (
            counters.batches,
            counters.failed_batches,
            counters.events_in,
            counters.events_out,  # event 2, and the stage's own output
            counters.dead_letters,
        )

    def test_routes_survive_the_retry(self) -> None:
        """Events a filter routed before the failing stage keep their routes; a culprit routed to
        two sinks is dead-lettered once."""
        rules = {"rules": [{"when": 'logger == "security"', "action": "route", "sinks": ["a", "b"]}]}
        security = {"logger": "security"}
        events = [event(1), event(2, **security), event(3, **security, boom=1), event(4, boom=1)]
        batch = FilterStage(FilterConfig.model_validate(rules))(Batch(events), 0.0)
        out = run(Picky(), batch)
        routes = out.routes or {}
        assert {"a": [2], "b": [2]} == {sink: [e["n"] for e in routed] for sink, routed in routes.items()}
        assert [1] == [e["n"] for e in out.events if "n" in e]
        assert [3, 4] == sorted(d.offset for d in out.dead)

    @pytest.mark.parametrize(
        "value",
        [nested(300), nested(1000), 10**400, float("nan"), "\ud800", {1: 2}],
        ids=["nested-300", "nested-1000", "int-400-digits", "nan", "lone-surrogate", "int-key"],
    )
    def test_raw_is_json_whatever_the_event_holds(self, value: Any) -> None:
        """Values orjson refuses (deep nesting, huge integers, lone surrogates) still give a dead
        letter whose raw is valid JSON text."""
        out = run(Picky(), Batch([event(1, boom=1, value=value)]))
        assert [1] == [orjson.loads(d.raw)["n"] for d in out.dead]

    def test_log_says_what_failed_not_what_the_event_held(self, caplog: pytest.LogCaptureFixture) -> None:
        """One error line per stage (rate-limited) with the stage, counts and exception types;
        neither the event's content nor the exception's message (which may quote it)."""
        secret = "sk-proj-" + "S" * 40
        guard = StageGuard()
        with caplog.at_level(logging.ERROR, logger="logflume.pipeline"):
            for _ in range(3):
                metered_call(Picky(), StageCounters(), Batch([event(1, boom=secret)]), 0.0, guard)
        records = [r for r in caplog.records if r.name == "logflume.pipeline"]
        assert 1 == len(records)
        record: Any = records[0]
        assert ("picky", "ValueError", 1, ["ValueError"]) == (
            record.stage,
            record.error_type,
            record.dead_lettered,
            record.error_types,
        )
        assert secret not in caplog.text
        assert (3, 3) == (guard.failed_batches["picky"], guard.failed_events["picky"])
