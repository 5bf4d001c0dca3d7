"""The audit stage: the proxy's audit events are checked against their hash; a mismatch raises an alert."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from logflume.config import parse_config
from logflume.errors import ConfigError
from logflume.events import META_KEY, Batch
from logflume.pipeline.audit import AuditConfig, AuditVerifier
from logflume.pipeline.build import build_chain
from logflume.pipeline.config import PipelineConfig

SECRET = "hunter2-Zq9x"


def seed_hash(details: Any) -> str:
    """The seed's AuditLogger.create_audit_hash, written out as the guide has it."""
    content = json.dumps(details, sort_keys=True)
    return hashlib.sha256(content.encode()).hexdigest()


def audit_event(details: Any, offset: int = 0, **fields: Any) -> dict[str, Any]:
    event = {
        "timestamp": "2024-01-15T10:30:15.123Z",
        "level": "INFO",
        "logger": "llm_proxy.audit",
        "message": "AUDIT: config_change",
        "event_type": "config_change",
        "details": details,
        "audit_id": "7f1c2a9e-3b4d-4e5f-8a6b-1c2d3e4f5a6b",
        "hash": seed_hash(details),
        META_KEY: {"event_id": f"fp-{offset:x}", "source": "proxy", "file": "/x.log", "offset": offset},
    }
    event.update(fields)
    return event


DETAILS = {
    "user": "admin",
    "config_section": "providers.openai",
    "old_value": f"api_key={SECRET}",
    "new_value": "api_key=***",
    "timestamp": "2024-01-15T10:30:15.123456",
    "ratio": 0.1,
    "note": "caf\u00e9 \u2713 \U0001f600",
}


def run(*events: dict[str, Any], now: float = 1705314615.0) -> Batch:
    return AuditVerifier(AuditConfig())(Batch(list(events)), now)


class TestVerification:
    def test_genuine_events_pass_unchanged(self) -> None:
        """Audit events whose hash matches (non-ASCII, floats, nesting) pass as they were, no alert."""
        events = [audit_event(DETAILS), audit_event({"a": [1, {"b": None}], "z": True}, 9)]
        out = run(*copy.deepcopy(events))
        assert (events, []) == (out.events, out.alerts)

    def test_tampered_details_raise_one_alert(self) -> None:
        """Details changed after hashing: the event passes on, and one audit_integrity alert in the
        alert contract names it by type, audit id and event id."""
        event = audit_event(DETAILS, 0x2A)
        event["details"] = {**DETAILS, "user": "mallory"}
        out = run(event)
        (alert,) = out.alerts
        keys = ("type", "rule", "severity", "state", "subject", "audited_event_id")
        fields = {key: alert[key] for key in keys}
        assert {
            "type": "alert",
            "rule": "audit_integrity",
            "severity": "critical",
            "state": "firing",
            "subject": "config_change/7f1c2a9e-3b4d-4e5f-8a6b-1c2d3e4f5a6b",
            "audited_event_id": "fp-2a",
        } == fields
        assert ([event, alert], "2024-01-15T10:30:15.000Z") == (out.events, alert["started_at"])

    @pytest.mark.parametrize(
        "change",
        [
            {"hash": "0" * 64},
            {"hash": 12345},
            {"hash": None},
            {"details": "not the details that were hashed"},
        ],
    )
    def test_each_kind_of_mismatch(self, change: dict[str, Any]) -> None:
        """A wrong, non-string or missing hash value, or replaced details, each raise one alert."""
        event = audit_event(DETAILS)
        event.update(change)
        out = run(event)
        assert ["audit_integrity"] == [alert["rule"] for alert in out.alerts]

    def test_alert_copies_no_value_of_the_event(self) -> None:
        """The alert holds none of the details (the secret among them), nor free text passed off as
        an identifier."""
        event = audit_event(DETAILS, event_type=f"password={SECRET}", audit_id=SECRET + " x")
        event["details"]["extra"] = "tampered"
        (alert,) = run(event).alerts
        assert (SECRET not in json.dumps(alert), "-/-") == (True, alert["subject"])

    def test_alert_id_follows_the_line(self) -> None:
        """The same tampered line read again later raises an alert with the same id (sinks keep one)."""
        event = audit_event(DETAILS, 7)
        event["hash"] = "0" * 64
        first = run(copy.deepcopy(event), now=1705314615.0).alerts[0]
        again = run(copy.deepcopy(event), now=1705400000.0).alerts[0]
        assert first[META_KEY]["event_id"] == again[META_KEY]["event_id"]

    def test_other_events_are_not_audit_events(self) -> None:
        """Events without both hash and details are left alone: a `hash` field alone is not audit."""
        events = [{"message": "x", "hash": "abc"}, {"details": {"a": 1}}, {"message": "plain"}]
        out = run(*copy.deepcopy(events))
        assert (events, []) == (out.events, out.alerts)

    def test_details_too_deep_to_hash(self) -> None:
        """Details nested beyond what json.dumps can hash raise an alert instead of an exception."""
        details: dict[str, Any] = {}
        inner = details
        for _ in range(5_000):
            inner["d"] = {}
            inner = inner["d"]
        event = audit_event({})
        event["details"] = details
        assert ["audit_integrity"] == [alert["rule"] for alert in run(event).alerts]


class TestInTheChain:
    def test_runs_before_redaction(self, tmp_path: Path) -> None:
        """In the default chain a genuine audit event whose details hold a secret is verified (the
        hash is checked before redaction changes the details) and then redacted."""
        chain = build_chain(PipelineConfig(), tmp_path)
        out = chain(Batch([audit_event(DETAILS)]), 1705314615.0)
        assert ([], "api_key=[REDACTED:key_value]") == (out.alerts, out.events[0]["details"]["old_value"])
        assert "audit" == chain.stages[0].name

    def test_off(self, tmp_path: Path) -> None:
        """verify_hash: false leaves a pass-through slot: tampered events raise nothing."""
        chain = build_chain(PipelineConfig.model_validate({"audit": {"verify_hash": False}}), tmp_path)
        out = chain(Batch([audit_event(DETAILS, hash="0" * 64)]), 1705314615.0)
        assert [] == out.alerts

    def test_channels_must_exist(self) -> None:
        """An audit channel that is not configured is a config error."""
        text = (
            "state_dir: ./s\nsources: [{name: p, include: [x]}]\nsinks: [{name: o, type: file, path: o}]\n"
            "pipeline: {audit: {channels: [pager]}}\n"
        )
        with pytest.raises(ConfigError, match=r"pipeline\.audit names unknown alert channels: pager"):
            parse_config(text)
