"""The filter stage: drop, keep and route rules over whole batches, and their config."""

from __future__ import annotations

from typing import Any

import pytest

from logflume.config import parse_config
from logflume.errors import ConfigError
from logflume.events import Ack, Batch, DeadLetter
from logflume.pipeline.filter.config import FilterConfig
from logflume.pipeline.filter.stage import FilterStage

MINIMAL = """\
state_dir: ./state
sources:
  - name: proxy
    include: ["./logs/*.log"]
sinks:
  - name: local
    type: file
    path: "./out/{source}/%Y-%m-%d.jsonl"
  - name: security
    type: file
    path: "./out/security.jsonl"
"""


def stage(*rules: dict[str, Any]) -> FilterStage:
    return FilterStage(FilterConfig.model_validate({"rules": list(rules)}))


def events(*levels: str) -> list[dict[str, Any]]:
    return [{"level": level, "n": index} for index, level in enumerate(levels)]


class TestActions:
    def test_drop_removes_matching_events(self) -> None:
        """A drop rule removes the events that match and keeps the rest in order."""
        result = stage({"when": 'level == "DEBUG"', "action": "drop"})(
            Batch(events("DEBUG", "INFO", "DEBUG")), 0
        )
        assert result.events == [{"level": "INFO", "n": 1}]

    def test_keep_removes_the_others(self) -> None:
        """A keep rule keeps only the events that match."""
        result = stage({"when": {"level": "ERROR"}, "action": "keep"})(Batch(events("INFO", "ERROR")), 0)
        assert result.events == [{"level": "ERROR", "n": 1}]

    def test_rules_apply_in_order(self) -> None:
        """Rules run in order, each on what the previous left."""
        filt = stage(
            {"when": 'level in ["ERROR", "WARNING"]', "action": "keep"},
            {"when": 'level == "WARNING"', "action": "drop", "name": "no-warnings"},
        )
        result = filt(Batch(events("INFO", "WARNING", "ERROR")), 0)
        assert ([e["n"] for e in result.events], dict(filt.stats.dropped)) == (
            [2],
            {"rules[0]": 1, "no-warnings": 1},
        )

    def test_batch_bookkeeping_is_kept(self) -> None:
        """Acks, dead letters and alerts pass through untouched."""
        ack = Ack("k", 10, lambda a: None)
        dead = DeadLetter("s", "f", 0, "bad", "x")
        alert = {"type": "alert"}
        result = stage({"when": "level exists", "action": "drop"})(
            Batch(events("INFO"), acks=[ack], dead=[dead], alerts=[alert]), 0
        )
        assert ([], [ack], [dead], [alert]) == (result.events, result.acks, result.dead, result.alerts)


class TestRouting:
    def test_routed_events_go_only_to_their_sinks(self) -> None:
        """A routed event reaches only the named sinks; other sinks get the remaining events."""
        filt = stage({"when": 'level == "ERROR"', "action": "route", "sinks": ["security"]})
        result = filt(Batch(events("INFO", "ERROR", "INFO")), 0)
        assert (
            [e["n"] for e in result.events_for("local")],
            [e["n"] for e in result.events_for("security")],
            [e["n"] for e in result.events],
        ) == (
            [0, 2],
            [1],
            [0, 2],
        )

    def test_named_sink_gets_an_empty_list_when_nothing_routes(self) -> None:
        """A sink named by a route receives only routed events, so none in a batch means an empty list."""
        filt = stage({"when": 'level == "ERROR"', "action": "route", "sinks": ["security"]})
        result = filt(Batch(events("INFO")), 0)
        assert (result.events_for("security"), len(result.events_for("local"))) == ([], 1)

    def test_route_to_several_sinks_and_later_rules(self) -> None:
        """An event routed to two sinks reaches both; later rules see only unrouted events."""
        filt = stage(
            {"when": 'level == "ERROR"', "action": "route", "sinks": ["a", "b"]},
            {"when": 'level == "WARNING"', "action": "route", "sinks": ["b"]},
            {"when": "level exists", "action": "drop"},
        )
        result = filt(Batch(events("ERROR", "WARNING", "INFO")), 0)
        assert (
            {name: [e["n"] for e in routed] for name, routed in (result.routes or {}).items()},
            result.events,
            dict(filt.stats.routed),
        ) == ({"a": [0], "b": [0, 1]}, [], {"a": 1, "b": 2})

    def test_no_route_rules_leave_routes_unset(self) -> None:
        """Without route rules every sink receives batch.events."""
        result = stage({"when": 'level == "DEBUG"', "action": "drop"})(Batch(events("INFO")), 0)
        assert result.routes is None


class TestConfig:
    def test_route_needs_sinks(self) -> None:
        """A route rule without sinks is rejected, and sinks on a drop rule too."""
        with pytest.raises(ValueError, match="action 'route' needs a non-empty 'sinks' list"):
            FilterConfig.model_validate({"rules": [{"when": "a == 1", "action": "route"}]})
        with pytest.raises(ValueError, match="'sinks' is only for action 'route'"):
            FilterConfig.model_validate({"rules": [{"when": "a == 1", "action": "drop", "sinks": ["x"]}]})

    def test_bad_condition_is_reported_at_its_key_path(self) -> None:
        """A bad operator in a config file is reported at its key path, with its place in the condition."""
        text = MINIMAL + (
            "pipeline:\n  filter:\n    rules:\n"
            "      - when: {level: ERROR, response_time_ms: {operator: greater, value: 5}}\n"
            "        action: keep\n"
        )
        with pytest.raises(ConfigError) as info:
            parse_config(text, env={})
        assert [str(issue) for issue in info.value.issues] == [
            "pipeline.filter.rules[0].when (line 15): response_time_ms.operator: unknown "
            "operator 'greater' (expected one of: eq, ne, gt, gte, lt, lte, contains, regex, in, exists)"
        ]

    def test_bad_regex_in_expression_is_reported(self) -> None:
        """An expression with an invalid RE2 pattern fails validation with RE2's reason."""
        text = (
            MINIMAL + "pipeline:\n  filter:\n    rules:\n      - {when: 'message ~ \"(a\"', action: drop}\n"
        )
        with pytest.raises(ConfigError) as info:
            parse_config(text, env={})
        assert "invalid regular expression '(a': missing )" in str(info.value)

    def test_unknown_rule_key_is_rejected(self) -> None:
        """An unknown key in a rule is reported by its path."""
        text = (
            MINIMAL + "pipeline:\n  filter:\n    rules:\n      - {when: 'a == 1', action: drop, unless: x}\n"
        )
        with pytest.raises(ConfigError) as info:
            parse_config(text, env={})
        assert [str(i) for i in info.value.issues] == [
            "pipeline.filter.rules[0].unless (line 15): unknown key"
        ]

    def test_unknown_action_is_rejected(self) -> None:
        """An action other than drop, keep or route is rejected naming the choices."""
        text = MINIMAL + "pipeline:\n  filter:\n    rules:\n      - {when: 'a == 1', action: discard}\n"
        with pytest.raises(ConfigError) as info:
            parse_config(text, env={})
        assert "pipeline.filter.rules[0].action" in str(info.value)
        assert "'drop', 'keep' or 'route'" in str(info.value)

    def test_valid_rules_load(self) -> None:
        """A config with mapping and expression rules validates."""
        text = MINIMAL + (
            "pipeline:\n  filter:\n    rules:\n"
            "      - {when: {level: DEBUG}, action: drop}\n"
            '      - {when: \'level == "ERROR" and message contains "unauthorized"\', action: route, '
            "sinks: [security]}\n"
        )
        config = parse_config(text, env={})
        assert {"security"} == config.pipeline.filter.route_sinks()

    def test_route_to_unknown_sink_is_rejected(self) -> None:
        """A route naming a sink that is not configured fails validation instead of losing events."""
        text = (
            MINIMAL
            + "pipeline:\n  filter:\n    rules:\n      - {when: 'a == 1', action: route, sinks: [nowhere]}\n"
        )
        with pytest.raises(ConfigError) as info:
            parse_config(text, env={})
        assert "pipeline.filter routes to unknown sinks: nowhere" in str(info.value)
