"""Threshold rules: sliding windows by event time, pattern and condition matching, group_by."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from logflume.events import META_KEY, Batch, Event
from logflume.pipeline.anomaly import AnomalyConfig, AnomalyStage, RuleConfig
from logflume.pipeline.anomaly.matching import json_line, pattern_prefilter

T0 = 1_705_314_600.0


def event(t: float, **fields: Any) -> Event:
    meta = {"event_id": f"e{t}", "source": "proxy"}
    return {"timestamp": T0 + t, "level": "INFO", **fields, META_KEY: meta}


def stage_with(tmp_path: Path, **rule: Any) -> AnomalyStage:
    config = AnomalyConfig(rules=[RuleConfig(**{"name": "r", "threshold": 3, "window_minutes": 1, **rule})],
                           idle_after=None, allowed_lateness=0)
    return AnomalyStage(config, tmp_path)


def alerts_of(stage: AnomalyStage, events: list[Event], now: float = 0.0) -> list[tuple[str, str]]:
    out = stage(Batch(events), now)
    assert out.alerts == [e for e in out.events if e.get("type") == "alert"]
    return [(a["state"], a["subject"]) for a in out.alerts]


class TestSlidingWindow:
    def test_fires_once_threshold_reached_within_window(self, tmp_path: Path) -> None:
        """Three matches within 60 s fire once; more matches while firing add nothing."""
        stage = stage_with(tmp_path, condition="level == 'ERROR'")
        assert alerts_of(stage, [event(0, level="ERROR"), event(30, level="ERROR")]) == []
        assert alerts_of(stage, [event(59, level="ERROR")]) == [("firing", "all")]
        assert alerts_of(stage, [event(61, level="ERROR"), event(62, level="ERROR")]) == []

    def test_matches_spread_wider_than_window_do_not_fire(self, tmp_path: Path) -> None:
        """Three matches spread over more than the window never fire (the window slides)."""
        stage = stage_with(tmp_path, condition="level == 'ERROR'")
        events = [event(t, level="ERROR") for t in (0, 40, 80, 120, 160)]
        assert alerts_of(stage, events) == []

    def test_out_of_order_events_count_by_event_time(self, tmp_path: Path) -> None:
        """Late-arriving events are placed by their own time."""
        stage = stage_with(tmp_path, condition="level == 'ERROR'")
        assert alerts_of(stage, [event(100, level="ERROR"), event(0, level="ERROR")]) == []
        assert alerts_of(stage, [event(50, level="ERROR"), event(99, level="ERROR")]) == [("firing", "all")]

    def test_resolves_after_a_quiet_window_then_fires_again(self, tmp_path: Path) -> None:
        """A firing rule resolves once a whole window passes below threshold; a new burst fires anew."""
        stage = stage_with(tmp_path, condition="level == 'ERROR'")
        assert alerts_of(stage, [event(t, level="ERROR") for t in (0, 1, 2)]) == [("firing", "all")]
        assert alerts_of(stage, [event(100)]) == []
        resolved = stage(Batch([event(125)]), 0.0).alerts
        assert [(a["state"], a["subject"]) for a in resolved] == [("resolved", "all")]
        assert resolved[0]["started_at"] == "2024-01-15T10:30:02.000Z"
        assert alerts_of(stage, [event(t, level="ERROR") for t in (300, 301, 302)]) == [("firing", "all")]

    def test_cooldown_suppresses_refiring(self, tmp_path: Path) -> None:
        """Within the cooldown after resolving, the same subject does not fire again."""
        stage = stage_with(tmp_path, condition="level == 'ERROR'", cooldown="1h")
        alerts_of(stage, [event(t, level="ERROR") for t in (0, 1, 2)])
        assert alerts_of(stage, [event(200)]) == [("resolved", "all")]
        assert alerts_of(stage, [event(t, level="ERROR") for t in (300, 301, 302)]) == []


class TestMatching:
    def test_seed_pattern_matches_parsed_event(self, tmp_path: Path) -> None:
        """The seed's '"level": "ERROR"' pattern matches events although they are already parsed."""
        stage = stage_with(tmp_path, pattern='"level": "ERROR"')
        events = [event(t, level="ERROR") for t in (0, 1)] + [event(2), event(3, level="ERROR")]
        assert alerts_of(stage, events) == [("firing", "all")]

    def test_pattern_and_condition_both_required(self, tmp_path: Path) -> None:
        """A rule with pattern and condition counts events that match both (seed's slow_requests)."""
        stage = stage_with(tmp_path, pattern=r'"response_time_ms": \d+', condition="response_time_ms > 5000")
        events = [event(0, response_time_ms=6000), event(1, response_time_ms=100), event(2, slow=6000)]
        assert alerts_of(stage, events) == []
        slow = [event(3, response_time_ms=7000), event(4, response_time_ms=5001)]
        assert alerts_of(stage, slow) == [("firing", "all")]

    def test_pattern_sees_nested_fields_but_not_metadata(self) -> None:
        """The JSON line includes nested objects and leaves out the daemon's metadata."""
        line = json_line(event(0, details={"success": False, "ip": "1.2.3.4"}))
        assert b'"details": {"success": false, "ip": "1.2.3.4"}' in line
        assert META_KEY.encode() not in line

    def test_group_by_counts_each_subject_separately(self, tmp_path: Path) -> None:
        """group_by ip_address: a burst from one IP fires for that IP only."""
        stage = stage_with(tmp_path, condition="status_code == 401", group_by="ip_address")
        spread = [event(i, status_code=401, ip_address=f"10.0.0.{i}") for i in range(10)]
        burst = [event(20 + i, status_code=401, ip_address="6.6.6.6") for i in range(3)]
        alerts = stage(Batch(spread + burst), 0.0).alerts
        assert [(a["state"], a["subject"]) for a in alerts] == [("firing", "6.6.6.6")]
        assert alerts[0]["dimensions"] == {"ip_address": "6.6.6.6"}

    def test_prefilter_rejects_only_what_pattern_cannot_match(self) -> None:
        """The prefilter read from '"level": "(ERROR|WARNING)"' rejects other top-level levels only."""
        prefilter = pattern_prefilter('"level": "(ERROR|WARNING)".*"security"')
        assert prefilter is not None
        verdicts = [prefilter(e) for e in ({"level": "ERROR"}, {"level": "WARNING"}, {"level": "INFO"}, {})]
        assert verdicts == [True, True, False, True]
        assert pattern_prefilter('a|"level": "ERROR"') is None

    def test_alert_carries_no_event_content(self, tmp_path: Path) -> None:
        """Alerts name rule, subject and figures; no field of the matching events is copied."""
        stage = stage_with(tmp_path, condition="level == 'ERROR'", threshold=1)
        (alert,) = stage(Batch([event(0, level="ERROR", message="token=abc123 failed")]), 0.0).alerts
        assert "abc123" not in str(alert)
        figures = (alert["rule"], alert["severity"], alert["value"], alert["threshold"])
        assert figures == ("r", "warning", 1.0, 1.0)

    def test_invalid_condition_is_a_config_error(self) -> None:
        """A rule whose condition does not compile is rejected when the config is validated."""
        with pytest.raises(ValidationError, match="invalid expression"):
            RuleConfig(name="bad", condition="level ==", threshold=1)


class TestState:
    def test_firing_state_survives_restart(self, tmp_path: Path) -> None:
        """Saved and restored, a firing rule does not fire again and resolves normally."""
        stage = stage_with(tmp_path, condition="level == 'ERROR'")
        alerts_of(stage, [event(t, level="ERROR") for t in (0, 1, 2)])
        stage.save_state()
        restarted = stage_with(tmp_path, condition="level == 'ERROR'")
        assert alerts_of(restarted, [event(3, level="ERROR")]) == []
        assert alerts_of(restarted, [event(200)]) == [("resolved", "all")]
