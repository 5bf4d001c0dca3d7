"""Alert delivery end to end against real local servers, through the AlertDispatcher."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from logflume.alerts import AlertDispatcher, AlertsConfig
from logflume.alerts.channels.pagerduty import dedup_key
from logflume.events import Batch
from logflume.pipeline.anomaly import AnomalyConfig, AnomalyStage, RuleConfig
from logflume.pipeline.anomaly.alert import alert_event
from tests.alerts.conftest import SMTP_PASSWORD, SMTP_USER, Receiver, SmtpServer
from tests.waiting import until

T0 = 1_705_314_600.0


def alert(
    rule: str = "auth_burst", state: str = "firing", channels: list[str] | None = None
) -> dict[str, Any]:
    return alert_event(
        rule=rule, kind="rule", severity="critical", dimensions={"ip_address": "10.0.0.7"}, state=state,
        started_at=T0, at=T0 + (0 if state == "firing" else 600), message="20 or more matching events.",
        value=20.0, baseline=None, threshold=20.0, channels=channels or [],
    )



def fast(extra: dict[str, Any]) -> dict[str, Any]:
    return {"timeout": "2s", "max_attempts": 3, "backoff_initial": "10ms", "backoff_max": "50ms", **extra}


class TestHttpChannels:
    async def test_webhook_receives_the_alert_as_json(self, http_receiver: Receiver) -> None:
        """A webhook channel POSTs the alert event (without daemon metadata) as JSON."""
        url = f"{http_receiver.base_url}/hook/webhook-basic"
        config = AlertsConfig.model_validate({"channels": {"hook": fast({"type": "webhook", "url": url})}})
        dispatcher = AlertDispatcher(config)
        await dispatcher.start()
        dispatcher.submit([alert(channels=["hook"])])
        await until(lambda: http_receiver.bodies("webhook-basic"))
        await dispatcher.stop(5)
        (body,) = http_receiver.bodies("webhook-basic")
        assert (
            body["rule"], body["state"], body["subject"], body["value"]
        ) == ("auth_burst", "firing", "10.0.0.7", 20.0)
        assert "logflume" not in body
        expected = {"sent": 1, "failed": 0, "dropped": 0, "retries": 0}
        assert expected == dispatcher.snapshot()["auth_burst"]["hook"]

    async def test_slack_payload(self, http_receiver: Receiver) -> None:
        """A Slack channel posts an incoming-webhook payload with text and a coloured attachment."""
        url = f"{http_receiver.base_url}/hook/slack"
        channel = fast({"type": "slack", "url": url, "username": "logflume"})
        dispatcher = AlertDispatcher(AlertsConfig.model_validate({"channels": {"slack": channel}}))
        await dispatcher.start()
        dispatcher.submit([alert(channels=["slack"]), alert(state="resolved", channels=["slack"])])
        await until(lambda: len(http_receiver.bodies("slack")) == 2)
        await dispatcher.stop(5)
        firing, resolved = http_receiver.bodies("slack")
        assert firing["text"].startswith("[FIRING] CRITICAL auth_burst (10.0.0.7)")
        assert (firing["attachments"][0]["color"], resolved["attachments"][0]["color"]) == ("danger", "good")
        assert firing["username"] == "logflume"

    async def test_pagerduty_trigger_then_resolve_share_dedup_key(self, http_receiver: Receiver) -> None:
        """PagerDuty gets a trigger then a resolve with the routing key and one dedup_key."""
        url = f"{http_receiver.base_url}/pagerduty/v2/enqueue"
        channel = fast({"type": "pagerduty", "routing_key": "R0UT1NGKEY", "url": url})
        dispatcher = AlertDispatcher(AlertsConfig.model_validate({"channels": {"pd": channel}}))
        await dispatcher.start()
        dispatcher.submit([alert(channels=["pd"]), alert(state="resolved", channels=["pd"])])
        await until(lambda: len(http_receiver.bodies("pagerduty")) == 2)
        await dispatcher.stop(5)
        trigger, resolve = http_receiver.bodies("pagerduty")
        assert (trigger["event_action"], resolve["event_action"]) == ("trigger", "resolve")
        assert (trigger["routing_key"], resolve["routing_key"]) == ("R0UT1NGKEY", "R0UT1NGKEY")
        assert dedup_key(alert()) == trigger["dedup_key"] == resolve["dedup_key"]
        assert trigger["payload"]["severity"] == "critical"

    async def test_client_error_is_not_retried(self, http_receiver: Receiver) -> None:
        """A 400 answer is permanent: one attempt, recorded as failed."""
        url = f"{http_receiver.base_url}/status/400/bad-request"
        config = AlertsConfig.model_validate({"channels": {"bad": fast({"type": "webhook", "url": url})}})
        dispatcher = AlertDispatcher(config)
        await dispatcher.start()
        dispatcher.submit([alert(channels=["bad"])])
        await until(lambda: dispatcher.stats[("auth_burst", "bad")].failed == 1)
        await dispatcher.stop(5)
        assert http_receiver.attempt_count("bad-request") == 1

    async def test_server_error_is_retried_then_failed(self, http_receiver: Receiver) -> None:
        """A 503 answer is retried up to max_attempts, then recorded as failed."""
        url = f"{http_receiver.base_url}/status/503/unavailable"
        config = AlertsConfig.model_validate({"channels": {"down": fast({"type": "webhook", "url": url})}})
        dispatcher = AlertDispatcher(config)
        await dispatcher.start()
        dispatcher.submit([alert(channels=["down"])])
        await until(lambda: dispatcher.stats[("auth_burst", "down")].failed == 1)
        await dispatcher.stop(5)
        assert http_receiver.attempt_count("unavailable") == 3
        assert dispatcher.stats[("auth_burst", "down")].retries == 2


class TestSlowChannel:
    async def test_timeout_retries_fails_and_never_blocks(
        self, http_receiver: Receiver, tmp_path: Any
    ) -> None:
        """A channel that never answers in time is retried then recorded as failed, while the
        pipeline keeps producing and the other channel keeps delivering."""
        channels = {
            "slow": {"type": "webhook", "url": f"{http_receiver.base_url}/slow/slow-hook", "timeout": "200ms",
                     "max_attempts": 2, "backoff_initial": "10ms", "backoff_max": "20ms"},
            "fast": fast({"type": "webhook", "url": f"{http_receiver.base_url}/hook/beside-slow"}),
        }
        dispatcher = AlertDispatcher(AlertsConfig.model_validate({"channels": channels}))
        await dispatcher.start()
        rule = RuleConfig(name="errors", condition="level == 'ERROR'", threshold=1, window_minutes=1,
                          channels=["slow", "fast"])
        stage = AnomalyStage(AnomalyConfig(rules=[rule], idle_after=None), tmp_path)
        # Every batch raises a new alert (one subject per batch) and is handed over at once.
        submitted = 0
        for i in range(5):
            event = {"timestamp": T0 + i * 300, "level": "ERROR", "request_id": f"r{i}"}
            batch = stage(Batch([event]), now=T0)
            dispatcher.submit(batch.alerts)
            submitted += len(batch.alerts)
            assert len([e for e in batch.events if e.get("type") == "alert" and e["state"] == "firing"]) == 1
        await until(lambda: len(http_receiver.bodies("beside-slow")) == submitted)
        await until(lambda: dispatcher.stats[("errors", "slow")].failed >= 1)
        await dispatcher.stop(0.1)
        stats = dispatcher.stats[("errors", "slow")]
        assert stats.sent == 0
        assert stats.retries >= 1
        assert submitted == stats.failed + stats.dropped
        assert submitted == dispatcher.stats[("errors", "fast")].sent


class TestEmail:
    async def test_plain_smtp(self, smtp_plain: SmtpServer) -> None:
        """The e-mail channel sends one message per alert to every recipient."""
        channel = fast({"type": "email", "host": "127.0.0.1", "port": smtp_plain.port, "starttls": False,
                        "from_addr": "logflume@example.org", "to": ["ops@example.org", "sre@example.org"]})
        dispatcher = AlertDispatcher(AlertsConfig.model_validate({"channels": {"mail": channel}}))
        await dispatcher.start()
        dispatcher.submit([alert(channels=["mail"])])
        await until(lambda: smtp_plain.handler.all())
        await dispatcher.stop(5)
        sender, recipients, content = smtp_plain.handler.all()[0]
        assert (sender, recipients) == ("logflume@example.org", ["ops@example.org", "sre@example.org"])
        assert "Subject: [logflume] [FIRING] CRITICAL auth_burst (10.0.0.7)" in content
        assert "threshold: 20.0" in content

    async def test_starttls_with_login_password_from_env(
        self, smtp_starttls: SmtpServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """STARTTLS and a login whose password comes from ${ENV} through the config loader."""
        from logflume.config import interpolate

        monkeypatch.setenv("SMTP_PASSWORD", SMTP_PASSWORD)
        import os

        password = interpolate("${SMTP_PASSWORD}", dict(os.environ))
        channel = fast({"type": "email", "host": "127.0.0.1", "port": smtp_starttls.port, "starttls": True,
                        "ca_file": smtp_starttls.ca_file, "username": SMTP_USER, "password": password,
                        "from_addr": "logflume@example.org", "to": ["ops@example.org"]})
        dispatcher = AlertDispatcher(AlertsConfig.model_validate({"channels": {"mail": channel}}))
        await dispatcher.start()
        dispatcher.submit([alert(channels=["mail"])])
        await until(lambda: smtp_starttls.handler.all())
        await dispatcher.stop(5)
        assert dispatcher.stats[("auth_burst", "mail")].sent == 1

    async def test_wrong_password_fails_without_retry(self, smtp_starttls: SmtpServer) -> None:
        """A refused login is permanent: recorded as failed after one attempt."""
        channel = fast({"type": "email", "host": "127.0.0.1", "port": smtp_starttls.port, "starttls": True,
                        "ca_file": smtp_starttls.ca_file, "username": SMTP_USER, "password": "wrong",
                        "from_addr": "logflume@example.org", "to": ["ops@example.org"]})
        dispatcher = AlertDispatcher(AlertsConfig.model_validate({"channels": {"mail": channel}}))
        await dispatcher.start()
        dispatcher.submit([alert(rule="login", channels=["mail"])])
        await until(lambda: dispatcher.stats[("login", "mail")].failed == 1)
        await dispatcher.stop(5)
        assert dispatcher.stats[("login", "mail")].retries == 0


class TestRouting:
    async def test_log_channel_and_default_channels(self, caplog: pytest.LogCaptureFixture) -> None:
        """An alert naming no channel goes to the default channels; the log channel logs it."""
        config = AlertsConfig.model_validate(
            {"channels": {"log": {"type": "log"}}, "default_channels": ["log"]}
        )
        dispatcher = AlertDispatcher(config)
        await dispatcher.start()
        with caplog.at_level(logging.WARNING, logger="logflume.alerts"):
            dispatcher.submit([alert()])
            await until(lambda: dispatcher.stats[("auth_burst", "log")].sent == 1)
        await dispatcher.stop(5)
        record = next(r for r in caplog.records if r.name == "logflume.alerts")
        assert (
            record.getMessage(), record.alert_rule, record.alert_subject  # type: ignore[attr-defined]
        ) == ("Alert.", "auth_burst", "10.0.0.7")

    async def test_full_queue_drops_and_counts(self, http_receiver: Receiver) -> None:
        """Beyond queue_size, alerts are dropped at once and counted, and submit never waits."""
        url = f"{http_receiver.base_url}/slow/queue-full"
        channel = {"type": "webhook", "url": url, "timeout": "5s", "max_attempts": 1, "queue_size": 2}
        dispatcher = AlertDispatcher(AlertsConfig.model_validate({"channels": {"q": channel}}))
        await dispatcher.start()
        dispatcher.submit([alert(rule=f"r{i}", channels=["q"]) for i in range(10)])
        # submit runs without yielding: two fit in the queue, eight are dropped on the spot.
        dropped = sum(s.dropped for (_, name), s in dispatcher.stats.items() if name == "q")
        assert dropped == 8
        await until(lambda: http_receiver.attempt_count("queue-full") == 1)
        await dispatcher.stop(0.1)

    async def test_rate_limit_holds_back_alerts_beyond_the_burst(self, http_receiver: Receiver) -> None:
        """With a burst of 2 and a refill of one a day, only 2 of 5 alerts go out; the rest wait."""
        url = f"{http_receiver.base_url}/hook/rate-limited"
        channel = fast({"type": "webhook", "url": url, "rate_limit": {"per_minute": 1 / 1440, "burst": 2}})
        dispatcher = AlertDispatcher(AlertsConfig.model_validate({"channels": {"rl": channel}}))
        await dispatcher.start()
        dispatcher.submit([alert(rule="rl", channels=["rl"]) for _ in range(5)])
        await until(lambda: dispatcher.stats[("rl", "rl")].sent == 2)
        await dispatcher.stop(0.1)
        assert (dispatcher.stats[("rl", "rl")].sent, dispatcher.stats[("rl", "rl")].dropped) == (2, 3)
        assert len(http_receiver.bodies("rate-limited")) == 2

    def test_unknown_default_channel_is_a_config_error(self) -> None:
        """default_channels must name configured channels."""
        with pytest.raises(ValueError, match="unknown channels: nope"):
            AlertsConfig.model_validate({"default_channels": ["nope"]})
