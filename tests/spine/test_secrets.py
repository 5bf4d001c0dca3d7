"""No secret leaves the daemon by a side door: not through the dead-letter file, the tap, the sinks,
the alerts or the daemon's own log (a real daemon, real files, the default redaction)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from logflume.generate import lines
from tests.daemonproc import Daemons, append_lines, read_jsonl, read_output, request_ids, write_config
from tests.fixtures.common import free_port
from tests.ops.helpers import reachable
from tests.waiting import wait_for

# One secret per way in, so a leak says where it came from.
SECRETS = {
    "message": "Zq9msgPw01",
    "json_string": "Zq9jsonSe02",
    "userinfo": "Zq9urlPw03",
    "query": "Zq9query04",
    "aws": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYZq9awsKey5",
    "broken_json": "Zq9broken06",
    "not_utf8": "Zq9latin07",
    "too_long": "Zq9long08",
    "audit_genuine": "Zq9audit09",
    "audit_tampered": "Zq9audit10",
}


def seed_hash(details: Any) -> str:
    return hashlib.sha256(json.dumps(details, sort_keys=True).encode()).hexdigest()


def audit_line(details: dict[str, Any], audit_id: str) -> bytes:
    entry = {
        "timestamp": "2026-11-27T10:00:01.000Z",
        "level": "INFO",
        "logger": "llm_proxy.audit",
        "message": "AUDIT: config_change",
        "event_type": "config_change",
        "details": details,
        "audit_id": audit_id,
        "hash": seed_hash(details),
    }
    return json.dumps(entry).encode() + b"\n"


def hostile_log() -> bytes:
    s = SECRETS
    messages = [
        f"login retried password={s['message']} for user_1",
        "upstream body " + json.dumps({"model": "gpt-4", "secret": s["json_string"]}),
        f"connecting to postgresql://logflume:{s['userinfo']}@db.internal:5432/logs",
        f"GET https://api.example.com/v1/models?api_key={s['query']}&page=2",
        f"aws configure AKIAIOSFODNN7EXAMPLE {s['aws']}",
    ]
    valid = [
        json.dumps({"level": "INFO", "message": message, "request_id": f"req_secret_{i}"}).encode() + b"\n"
        for i, message in enumerate(messages)
    ]
    genuine = {"user": "admin", "old_value": f"password={s['audit_genuine']}", "new_value": "***"}
    tampered = {"user": "admin", "old_value": f"password={s['audit_tampered']}", "new_value": "***"}
    forged = audit_line(tampered, "aud-2").replace(b'"user": "admin"', b'"user": "mallory"')
    invalid = [
        b'{"level": "INFO", "message": "db password=' + s["broken_json"].encode() + b'", "cut\n',
        b'{"message": "caf\xe9 token=' + s["not_utf8"].encode() + b'"}\n',
        b'{"message": "token=' + s["too_long"].encode() + b" " + b"x" * 8000 + b'"}\n',
    ]
    return b"".join([*valid, audit_line(genuine, "aud-1"), forged, *invalid, *lines(50, 12)])


def leaked(text: str | bytes) -> list[str]:
    data = text.encode() if isinstance(text, str) else text
    return sorted(name for name, secret in SECRETS.items() if secret.encode() in data)


def test_no_secret_leaves_by_any_door(tmp_path: Path, daemons: Daemons) -> None:
    """Secrets in messages, JSON strings, URLs, AWS key pairs, broken, non-UTF-8 and over-long lines
    and audit details reach no output: sinks, dead letters, the default tap, alerts and the own
    log; the tampered audit event raises one alert; the daemon runs on."""
    port = free_port()
    config = write_config(
        tmp_path,
        source={"max_line_bytes": "4KiB"},
        http={"address": f"127.0.0.1:{port}"},
        alerts={"default_channels": ["log"], "channels": {"log": {"type": "log"}}},
    )
    proc = daemons.start(config)
    wait_for(lambda: reachable(port) or not proc.alive(), 60, 0.1, "the endpoint")
    tap = subprocess.Popen(
        [sys.executable, "-m", "logflume", "tap", "-c", str(config), "--limit", "20"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    wait_for(lambda: '"Tap started"' in proc.logs() or tap.poll() is not None, 60, 0.1, "the tap")
    append_lines(tmp_path / "logs" / "app.log", hostile_log())
    tapped, tap_err = tap.communicate(timeout=60)
    want = {f"req_12_{seq:010d}" for seq in range(50)} | {f"req_secret_{i}" for i in range(5)}
    out = tmp_path / "out"
    wait_for(lambda: want <= set(request_ids(read_output(out))), 60, 0.2, "every valid line")
    dead_path = tmp_path / "state" / "dead-letter.jsonl"
    wait_for(lambda: len(list(read_jsonl(dead_path))) == 3, 60, 0.2, "three dead letters")
    alive = proc.alive()
    assert proc.stop() == 0
    events = read_output(out)
    alerts = [event for event in events if event.get("type") == "alert"]
    dead = list(read_jsonl(dead_path))
    assert (0, 20) == (tap.returncode, len(tapped.splitlines())), tap_err
    assert {
        "sinks": [],
        "dead letters": [],
        "tap": [],
        "own log": [],
    } == {
        "sinks": leaked(json.dumps(events)),
        "dead letters": leaked(json.dumps(dead)),
        "tap": leaked(tapped),
        "own log": leaked(proc.logs()),
    }
    assert (True, ["audit_integrity"], ["config_change/aud-2"]) == (
        alive,
        [alert["rule"] for alert in alerts],
        [alert["subject"] for alert in alerts],
    )
    assert "audit_integrity" in proc.logs()  # the log channel sent the alert
    assert [True] * 3 == ["[REDACTED:key_value]" in letter["raw"] for letter in dead]
