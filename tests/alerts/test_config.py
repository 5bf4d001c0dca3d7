"""The alerts: section and its links to the anomaly rules, validated with the config loader."""

from __future__ import annotations

import pytest

from logflume.config import parse_config
from logflume.errors import ConfigError

BASE = """
state_dir: /tmp/logflume-test
sources: [{name: proxy, include: [/tmp/logflume-test/*.log]}]
sinks: [{name: out, type: file, path: /tmp/logflume-test/out.jsonl}]
pipeline:
  anomaly:
    rules:
      - {name: auth, condition: "status_code == 401", group_by: ip_address, threshold: 20,
         channels: [CHANNEL]}
alerts:
  default_channels: [ops]
  channels:
    ops: {type: slack, url: "${SLACK_URL}"}
    mail: {type: email, host: 127.0.0.1, port: 2525, starttls: false, password: "${SMTP_PASSWORD}",
           from_addr: a@example.org, to: [b@example.org]}
"""


class TestAlertsConfig:
    def test_secrets_come_from_the_environment_and_stay_hidden(self) -> None:
        """${ENV} fills webhook URL and password; the models never print them."""
        env = {"SLACK_URL": "https://hooks.example/T000/B000/XXXX", "SMTP_PASSWORD": "pa55"}
        config = parse_config(BASE.replace("CHANNEL", "ops"), env=env)
        slack = config.alerts.channels["ops"]
        assert slack.url.get_secret_value() == "https://hooks.example/T000/B000/XXXX"  # type: ignore[union-attr]
        assert "XXXX" not in repr(config.alerts)
        assert "pa55" not in repr(config.alerts)

    def test_rule_naming_an_unknown_channel_is_refused(self) -> None:
        """A rule whose channel is not configured fails validation, naming the rule and channel."""
        env = {"SLACK_URL": "https://hooks.example/x", "SMTP_PASSWORD": "p"}
        with pytest.raises(ConfigError, match="anomaly 'auth' names unknown alert channels: pager"):
            parse_config(BASE.replace("CHANNEL", "pager"), env=env)

    def test_tls_and_starttls_are_exclusive(self) -> None:
        """An e-mail channel cannot ask for implicit TLS and STARTTLS at once."""
        env = {"SLACK_URL": "https://hooks.example/x", "SMTP_PASSWORD": "p"}
        text = BASE.replace("CHANNEL", "ops").replace("starttls: false", "starttls: true, tls: true")
        with pytest.raises(ConfigError, match="tls"):
            parse_config(text, env=env)
