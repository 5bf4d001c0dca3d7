"""Sampling: per-level rates, deterministic per trace, whole traces kept or dropped."""

from __future__ import annotations

import binascii
from typing import Any

import pytest
from pydantic import ValidationError

from logflume.events import META_KEY, Batch
from logflume.pipeline.sample import SampleConfig, Sampler, unit_hash


def sample(events: list[dict[str, Any]], **config: Any) -> tuple[list[dict[str, Any]], Sampler]:
    sampler = Sampler(SampleConfig(**config))
    return sampler(Batch(events), 0).events, sampler


def trace(trace_id: str, *levels: str) -> list[dict[str, Any]]:
    return [{"trace_id": trace_id, "level": level, "span": i} for i, level in enumerate(levels)]


class TestRates:
    def test_seed_defaults(self) -> None:
        """By default DEBUG keeps about 1%, ERROR and unlisted levels all."""
        events = [
            {"level": level, "trace_id": f"t{i}"}
            for i in range(20_000)
            for level in ("DEBUG", "ERROR", "INFO")
        ]
        kept, sampler = sample(events)
        counts = {level: sum(1 for e in kept if e["level"] == level) for level in ("DEBUG", "ERROR", "INFO")}
        assert (150 <= counts["DEBUG"] <= 250, counts["ERROR"], counts["INFO"]) == (True, 20_000, 20_000)
        assert {"DEBUG": 20_000 - counts["DEBUG"]} == dict(sampler.dropped)

    @pytest.mark.parametrize("rate", [0.1, 0.5, 0.9])
    def test_kept_fraction_follows_the_rate(self, rate: float) -> None:
        """Over many sequential ids the kept fraction is close to the rate."""
        events = [{"level": "INFO", "request_id": f"req_{i:010d}"} for i in range(20_000)]
        kept, _ = sample(events, rates={"INFO": rate})
        assert abs(len(kept) / 20_000 - rate) < 0.02

    def test_default_rate_and_zero(self) -> None:
        """Unlisted levels (and events without a level) use default_rate; rate 0 drops all."""
        events = [{"level": "INFO", "trace_id": "a"}, {"trace_id": "b"}, {"level": "DEBUG", "trace_id": "c"}]
        kept, sampler = sample(events, rates={"debug": 1.0}, default_rate=0)
        assert (kept, dict(sampler.dropped)) == (
            [{"level": "DEBUG", "trace_id": "c"}],
            {"INFO": 1, "none": 1},
        )

    def test_dropped_counter_labels_are_bounded(self) -> None:
        """Unknown level names are counted together, so hostile input cannot grow the counters."""
        events = [{"level": f"LVL{i}", "trace_id": "a"} for i in range(100)] + [{"level": 5, "trace_id": "a"}]
        _, sampler = sample(events, default_rate=0)
        assert dict(sampler.dropped) == {"other": 100, "none": 1}

    def test_level_names_are_case_insensitive_in_config(self) -> None:
        """Rate keys are upper-cased to match normalised levels."""
        assert SampleConfig(rates={"debug": 0.5}).rates == {"DEBUG": 0.5}

    @pytest.mark.parametrize("rates", [{"DEBUG": 1.5}, {"INFO": -0.1}])
    def test_rates_outside_zero_one_rejected(self, rates: dict[str, float]) -> None:
        """Rates must be fractions between 0 and 1."""
        with pytest.raises(ValidationError, match="rates must be between 0 and 1"):
            SampleConfig(rates=rates)

    def test_unknown_keys_rejected(self) -> None:
        """An unknown option is a validation error."""
        with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
            SampleConfig.model_validate({"rate": 0.1})


class TestDeterminism:
    def test_whole_traces_are_kept_or_dropped(self) -> None:
        """All events of a trace at one level share one decision."""
        events = [e for i in range(500) for e in trace(f"trace_{i:06x}", "INFO", "INFO", "INFO")]
        kept, _ = sample(events, rates={"INFO": 0.3})
        per_trace: dict[str, int] = {}
        for event in kept:
            per_trace[event["trace_id"]] = per_trace.get(event["trace_id"], 0) + 1
        assert ({3}, True) == (set(per_trace.values()), 100 <= len(per_trace) <= 200)

    def test_a_trace_kept_at_a_low_rate_is_kept_at_higher_rates(self) -> None:
        """Kept DEBUG events of a trace mean its INFO events are kept too."""
        events = [e for i in range(2000) for e in trace(f"t{i}", "DEBUG", "INFO")]
        kept, _ = sample(events, rates={"DEBUG": 0.05, "INFO": 0.2})
        debug_traces = {e["trace_id"] for e in kept if e["level"] == "DEBUG"}
        info_traces = {e["trace_id"] for e in kept if e["level"] == "INFO"}
        assert (bool(debug_traces), debug_traces <= info_traces) == (True, True)

    def test_same_decision_on_every_run(self) -> None:
        """Two samplers (as after a restart) keep exactly the same events."""
        events = [{"level": "INFO", "trace_id": f"t{i}"} for i in range(1000)]
        first, _ = sample([dict(e) for e in events], rates={"INFO": 0.5})
        second, _ = sample([dict(e) for e in events], rates={"INFO": 0.5})
        assert first == second

    def test_hash_is_crc32_of_salt_and_key(self) -> None:
        """The number is CRC-32 of salt + key over 2**32: stable across platforms, versions and restarts."""
        expected = [binascii.crc32(b"trace_abcdef123456") / 2**32, binascii.crc32(b"eu-1" + b"t1") / 2**32]
        assert expected == [unit_hash(b"", "trace_abcdef123456"), unit_hash(b"eu-1", "t1")]

    def test_salt_changes_the_kept_set(self) -> None:
        """A different salt keeps a different set of traces."""
        events = [{"level": "INFO", "trace_id": f"t{i}"} for i in range(1000)]
        first, _ = sample([dict(e) for e in events], rates={"INFO": 0.5})
        second, _ = sample([dict(e) for e in events], rates={"INFO": 0.5}, salt="eu-1")
        assert first != second

    def test_key_falls_back_to_request_id_then_event_id(self) -> None:
        """Without trace_id the request_id decides, and without either the event id."""
        sampler = Sampler(SampleConfig(rates={"INFO": 0.5}))
        a = {"level": "INFO", "request_id": "req_1", META_KEY: {"event_id": "f-1"}}
        b = {"level": "INFO", "trace_id": "req_1"}
        c = {"level": "INFO", META_KEY: {"event_id": "req_1"}}
        d = {"level": "INFO", "trace_id": "", "request_id": None, META_KEY: {"event_id": "req_1"}}
        assert sampler._key(a) == sampler._key(b) == sampler._key(c) == sampler._key(d) == "req_1"

    def test_numeric_trace_ids(self) -> None:
        """A numeric trace id is used as its text."""
        sampler = Sampler(SampleConfig())
        assert sampler._key({"trace_id": 12345}) == "12345"


class TestRoutes:
    def test_routed_events_are_sampled_once_and_consistently(self) -> None:
        """Events routed to sinks are sampled with the same decision everywhere they go."""
        events = [{"level": "DEBUG", "trace_id": f"t{i}"} for i in range(400)]
        batch = Batch([], routes={"a": events[:], "b": events[:]})
        sampler = Sampler(SampleConfig(rates={"DEBUG": 0.5}))
        out = sampler(batch, 0)
        assert out.routes is not None
        assert (True, out.routes["a"], 400) == (
            0 < len(out.routes["a"]) < 400,
            out.routes["b"],
            len(out.routes["a"]) + sampler.dropped["DEBUG"],
        )
