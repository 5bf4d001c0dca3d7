"""What a reload changes, worked out from the running and the new config (no I/O)."""

from __future__ import annotations

from typing import Any

import pytest

from logflume.app.reload import effective_config, plan_reload
from logflume.config import Config, parse_config
from logflume.errors import ConfigError
from logflume.ops.config import HttpConfig, split_address


def config(**overrides: Any) -> Config:
    data: dict[str, Any] = {
        "state_dir": "/var/lib/logflume",
        "sources": [{"name": "proxy", "include": ["/logs/*.log"]}],
        "sinks": [{"name": "a", "type": "file", "path": "/out/a.jsonl"}],
    }
    data.update(overrides)
    return Config.model_validate(data)


class TestPlan:
    def test_same_config_keeps_everything(self) -> None:
        """Nothing changed: every sink and source is kept, nothing starts or stops."""
        plan = plan_reload(config(), config())
        assert (
            plan.sinks_keep,
            plan.sinks_start,
            plan.sinks_stop,
            plan.sources_keep,
            plan.sources_start,
            plan.sources_stop,
        ) == (["a"], [], [], ["proxy"], [], [])

    def test_sinks_compared_by_value(self) -> None:
        """A changed sink is stopped and started again; a new one started; a missing one stopped."""
        old = config(
            sinks=[
                {"name": "a", "type": "file", "path": "/out/a.jsonl"},
                {"name": "b", "type": "file", "path": "/out/b.jsonl"},
            ]
        )
        new = config(
            sinks=[
                {"name": "a", "type": "file", "path": "/out/a.jsonl", "batch": {"max_events": 10}},
                {"name": "c", "type": "file", "path": "/out/c.jsonl"},
            ]
        )
        plan = plan_reload(old, new)
        assert (plan.sinks_keep, plan.sinks_start, plan.sinks_stop) == ([], ["a", "c"], ["a", "b"])

    def test_restart_only_settings_are_reported_and_kept(self) -> None:
        """state_dir and http change only at a restart: reported, and the running values stay in effect."""
        old = config()
        new = config(state_dir="/elsewhere", http={"address": "127.0.0.1:9999"}, shutdown_timeout="5s")
        plan = plan_reload(old, new)
        running = effective_config(old, new)
        assert plan.restart_only == ["state_dir", "http"]
        assert (old.state_dir, old.http, 5.0) == (running.state_dir, running.http, running.shutdown_timeout)


class TestHttpConfig:
    def test_default_is_loopback(self) -> None:
        """Without configuration the endpoint listens on 127.0.0.1:9466 only."""
        assert (HttpConfig().host, HttpConfig().port, HttpConfig().enabled) == ("127.0.0.1", 9466, True)

    @pytest.mark.parametrize(
        ("address", "expected"), [("0.0.0.0:80", ("0.0.0.0", 80)), ("[::1]:9466", ("::1", 9466))]
    )
    def test_addresses(self, address: str, expected: tuple[str, int]) -> None:
        """host:port and [v6]:port split into their parts."""
        assert expected == split_address(address)

    def test_bad_address_is_a_config_error(self) -> None:
        """A port that is not a number is reported at http.address."""
        text = (
            "state_dir: /s\nsources: [{name: p, include: [/l/*.log]}]\n"
            "sinks: [{name: a, type: file, path: /o}]\n"
        )
        with pytest.raises(ConfigError) as info:
            parse_config(text + "http: {address: 'localhost:http'}\n", env={})
        assert [issue.path for issue in info.value.issues] == ["http.address"]
