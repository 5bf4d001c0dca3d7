"""Enrichments derived from the event: performance category, business unit, cost, host name."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from pydantic import ValidationError

from logflume.events import Batch
from logflume.pipeline.enrich import EnrichConfig, Enricher, build_enrichments


def enrich(events: list[dict[str, Any]], **config: Any) -> list[dict[str, Any]]:
    settings = EnrichConfig.model_validate(config)
    return Enricher(build_enrichments(settings))(Batch(events), 0).events


class TestPerformanceCategory:
    @pytest.mark.parametrize(
        ("ms", "category"),
        [(0, "excellent"), (99.99, "excellent"), (100, "good"), (499, "good"), (500, "acceptable"),
         (999.9, "acceptable"), (1000, "slow"), (4999, "slow"), (5000, "very_slow"), (120_000, "very_slow")],
    )  # fmt: skip
    def test_seed_thresholds_by_default(self, ms: float, category: str) -> None:
        """The default thresholds are the seed's: <100, <500, <1000, <5000, else very_slow."""
        assert category == enrich([{"response_time_ms": ms}])[0]["performance_category"]

    @pytest.mark.parametrize("value", ["fast", None, True, [100], float("nan")])
    def test_non_numbers_get_no_category(self, value: Any) -> None:
        """Strings, booleans, nulls, lists and NaN add no category."""
        assert "performance_category" not in enrich([{"response_time_ms": value}])[0]

    def test_missing_field_adds_nothing(self) -> None:
        """An event without a response time is unchanged."""
        assert enrich([{"message": "x"}]) == [{"message": "x"}]

    def test_custom_thresholds_fields(self) -> None:
        """Thresholds, source and target fields are configurable."""
        out = enrich(
            [{"timing": {"ms": 30}}, {"timing": {"ms": 300}}],
            performance={
                "field": "timing.ms",
                "target": "perf",
                "thresholds": [{"below": 50, "category": "fast"}],
                "otherwise": "meh",
            },
        )
        assert [e["perf"] for e in out] == ["fast", "meh"]

    def test_thresholds_must_ascend(self) -> None:
        """Thresholds out of order are rejected naming the values."""
        with pytest.raises(ValidationError, match=r"strictly ascending, got \[500.0, 100.0\]"):
            EnrichConfig.model_validate(
                {
                    "performance": {
                        "thresholds": [{"below": 500, "category": "a"}, {"below": 100, "category": "b"}]
                    }
                }
            )

    def test_null_turns_it_off(self) -> None:
        """performance: null disables the default enrichment."""
        assert build_enrichments(EnrichConfig.model_validate({"performance": None})) == []


class TestBusinessUnit:
    CONFIG = {"business_unit": {"prefixes": {"/api/chat": "conversational", "/api/chat/admin": "platform",
                                              "/api/embeddings": "search"}}}  # fmt: skip

    @pytest.mark.parametrize(
        ("endpoint", "unit"),
        [("/api/chat/completions", "conversational"), ("/api/chat/admin/keys", "platform"),
         ("/api/embeddings", "search"), ("/api/chatty", "conversational")],
    )  # fmt: skip
    def test_longest_prefix_wins(self, endpoint: str, unit: str) -> None:
        """The longest matching prefix decides the unit."""
        assert unit == enrich([{"endpoint": endpoint}], **self.CONFIG)[0]["business_unit"]

    @pytest.mark.parametrize("endpoint", ["/health", "", None, 42, ["/api/chat"]])
    def test_unknown_endpoints_add_nothing(self, endpoint: Any) -> None:
        """No matching prefix (and no default), or a non-string endpoint, leaves the field absent."""
        assert "business_unit" not in enrich([{"endpoint": endpoint}], **self.CONFIG)[0]

    def test_default_unit(self) -> None:
        """A configured default applies to string endpoints no prefix matches."""
        config = {"business_unit": {"prefixes": {"/api": "api"}, "default": "other"}}
        assert [
            e["business_unit"] for e in enrich([{"endpoint": "/api/x"}, {"endpoint": "/"}], **config)
        ] == ["api", "other"]


class TestCost:
    CONFIG = {
        "cost": {
            "prices": {
                "gpt-4": {"input": 0.03, "output": 0.06, "total": 0.045},
                "gpt-4o*": {"input": 0.005, "output": 0.015},
                "gpt-4o-mini*": {"input": 0.00015, "output": 0.0006},
            }
        }
    }

    @pytest.mark.parametrize(
        ("event", "usd"),
        [
            ({"model": "gpt-4", "prompt_tokens": 1000, "completion_tokens": 500}, 0.06),
            ({"model": "gpt-4", "input_tokens": 2000, "output_tokens": 0}, 0.06),
            ({"model": "gpt-4", "usage": {"prompt_tokens": 100, "completion_tokens": 100}}, 0.009),
            ({"model": "gpt-4", "prompt_tokens": 1000}, 0.03),
            ({"model": "gpt-4", "tokens": 150}, 0.00675),
            ({"model": "gpt-4o-2024-08-06", "prompt_tokens": 1000, "completion_tokens": 1000}, 0.02),
            ({"model": "gpt-4o-mini-2024-07-18", "prompt_tokens": 1000, "completion_tokens": 1000}, 0.00075),
        ],
    )
    def test_prices_per_thousand_tokens(self, event: dict[str, Any], usd: float) -> None:
        """Cost is input and output tokens times their price per 1K; exact names, then longest prefix."""
        assert usd == enrich([event], **self.CONFIG)[0]["cost_usd"]

    @pytest.mark.parametrize(
        "event",
        [
            {"model": "claude-3", "prompt_tokens": 10},  # unknown model
            {"model": "gpt-4o", "tokens": 150},  # only a total, and no total price
            {"model": "gpt-4"},  # no tokens
            {"prompt_tokens": 10},  # no model
            {"model": "gpt-4", "prompt_tokens": "ten"},  # not a count
            {"model": "gpt-4", "prompt_tokens": -5},
            {"model": ["gpt-4"], "prompt_tokens": 10},
            {"model": "gpt-4-turbo", "prompt_tokens": 10},  # "gpt-4" is exact, not a prefix
        ],
    )
    def test_unknown_values_leave_cost_absent(self, event: dict[str, Any]) -> None:
        """Unknown models, missing or odd token counts add no cost and raise nothing."""
        assert "cost_usd" not in enrich([event], **self.CONFIG)[0]

    def test_star_only_at_the_end(self) -> None:
        """A '*' inside a model name is rejected."""
        with pytest.raises(ValidationError, match="'\\*' may only end a non-empty prefix"):
            EnrichConfig.model_validate({"cost": {"prices": {"gpt*4": {"input": 1, "output": 1}}}})

    def test_negative_price_rejected(self) -> None:
        """Prices cannot be negative."""
        with pytest.raises(ValidationError, match="greater than or equal to 0"):
            EnrichConfig.model_validate({"cost": {"prices": {"m": {"input": -1, "output": 1}}}})


class TestHostName:
    def test_machine_host_name_by_default(self) -> None:
        """host: {} writes this machine's name, keeping a host the log already has."""
        out = enrich([{}, {"host": "app-1"}], host={})
        assert [socket.gethostname(), "app-1"] == [e["host"] for e in out]

    def test_configured_name_and_overwrite(self) -> None:
        """A configured name can overwrite the log's own host field."""
        out = enrich([{"host": "app-1"}], host={"name": "collector-7", "overwrite": True, "target": "host"})
        assert out[0]["host"] == "collector-7"


class TestConfig:
    def test_two_enrichments_cannot_share_a_target(self) -> None:
        """Two enrichments writing the same field are rejected."""
        with pytest.raises(ValidationError, match="two enrichments write the same field: geo"):
            EnrichConfig.model_validate({"geo": {"database": "/x.mmdb"}, "host": {"target": "geo"}})

    def test_unknown_keys_rejected(self) -> None:
        """Unknown options anywhere in enrich are validation errors."""
        with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
            EnrichConfig.model_validate({"business_unit": {"prefixes": {"/": "x"}, "prefix": "/"}})

    def test_only_performance_by_default(self) -> None:
        """With no enrich config only the performance category is built."""
        assert [part.name for part in build_enrichments(EnrichConfig())] == ["performance"]
