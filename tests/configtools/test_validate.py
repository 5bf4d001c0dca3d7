"""`logflume validate`: every problem of a file in one run, in plain words, and literal secrets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from logflume.config import check_config, parse_config
from logflume.errors import ConfigError
from tests.daemonproc import Daemons, write_config
from tests.waiting import wait_for

HEAD = """\
state_dir: ./state
sources:
  - name: proxy
    include: ["./logs/*.log"]
sinks:
  - name: local
    type: file
    path: ./out.jsonl
"""


def validate(
    tmp_path: Path, text: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return subprocess.run(
        [sys.executable, "-m", "logflume", "validate", "-c", str(path)],
        capture_output=True,
        text=True,
        env=env if env is not None else {"PATH": "/usr/bin:/bin"},
        check=False,
    )


def problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, env=env or {})
    return [str(issue) for issue in info.value.issues]


class TestEveryProblemInOneRun:
    def test_problems_at_every_depth(self, tmp_path: Path) -> None:
        """Problems at the top, deep in sources, sinks and alerts, an unset variable and wrong names
        across sections are all listed by one run, in file order, each with its path and line."""
        text = """\
state_dir: ./state
queue_chunk: 4
sources:
  - name: proxy
    include: ["./logs/*.log"]
    scan_interval: often
    mapping:
      fields:
        status_code: {from: status, type: integer}
sinks:
  - name: local
    type: file
    path: "${OUT_DIR}/x.jsonl"
    batch:
      max_event: 10
  - name: local
    type: file
    path: ./second.jsonl
  - name: es
    type: elasticsearch
    hosts: [http://127.0.0.1:9200]
    username: bob
    template: {shards: lots}
pipeline:
  filter:
    rules:
      - {when: 'level == "DEBUG"', action: route, sinks: [nowhere]}
alerts:
  channels:
    ops: {type: log, timeout: soon}
"""
        result = validate(tmp_path, text)
        assert 2 == result.returncode
        assert [
            f"invalid config {tmp_path / 'c.yaml'}: 9 problems",
            "  queue_chunk (line 2): unknown key; did you mean `queue_chunks`?",
            "  sources[0].scan_interval (line 6): invalid duration 'often': use a number with ms, s, m, h "
            "or d",
            "  sources[0].mapping.fields.status_code.type (line 9): expected 'auto', 'string', 'int', "
            "'float', 'bool', 'timestamp', 'duration', 'path' or 'status_level', got 'integer'; did you mean "
            "`int`?",
            "  sinks[0].path (line 13): environment variable OUT_DIR is not set",
            "  sinks[0].batch.max_event (line 15): unknown key; did you mean `max_events`?",
            "  sinks[2] (line 19): username and password go together",
            "  sinks[2].template.shards (line 23): expected a whole number, got 'lots'",
            "  alerts.channels.ops.timeout (line 30): invalid duration 'soon': use a number with ms, s, m, h "
            "or d",
            "  sinks: duplicate name 'local'; pipeline.filter routes to unknown sinks: nowhere",
        ] == result.stderr.splitlines()

    def test_indexes_stay_those_of_the_file(self) -> None:
        """A problem found after an earlier list item was set aside names the item's index in the file."""
        text = HEAD.replace("    path: ./out.jsonl\n", "") + (
            "  - name: ok\n    type: file\n    path: ./ok.jsonl\n"
            "  - name: es\n    type: elasticsearch\n    hosts: [http://127.0.0.1:9200]\n    username: bob\n"
            "    template: {shards: lots}\n"
        )
        assert [
            "sinks[0].path (line 6): required key is missing",  # so the whole sink is set aside
            "sinks[2] (line 11): username and password go together",
            "sinks[2].template.shards (line 15): expected a whole number, got 'lots'",
        ] == problems(text)

    def test_set_aside_sink_is_not_an_unknown_route(self) -> None:
        """A route to a sink whose own config is wrong is not also reported as a route to an unknown sink."""
        text = HEAD + (
            "  - {name: search, type: elasticsearch, hosts: [nonsense]}\n"
            "pipeline:\n  filter:\n    rules:\n"
            "      - {when: 'level == \"ERROR\"', action: route, sinks: [search]}\n"
        )
        assert ["sinks[1].hosts (line 9): 'nonsense': use a URL such as https://es1:9200"] == problems(text)

    def test_check_after_a_bad_value_of_its_own_is_not_reported(self) -> None:
        """A rule whose `from` is wrong is reported once, not also as a rule without a source."""
        text = HEAD.replace(
            '    include: ["./logs/*.log"]\n',
            '    include: ["./logs/*.log"]\n    mapping:\n      fields:\n        x: {from: 5}\n',
        )
        assert ["sources[0].mapping.fields.x.from (line 7): expected text or a list, got 5"] == problems(text)

    def test_unset_variable_does_not_hide_other_problems(self) -> None:
        """An unset ${VAR} is reported together with the file's other problems."""
        text = HEAD.replace("./out.jsonl", "${OUT}/x.jsonl") + "queue_chunks: many\n"
        assert [
            "sinks[0].path (line 8): environment variable OUT is not set",
            "queue_chunks (line 9): expected a whole number, got 'many'",
        ] == problems(text)


class TestPlainWords:
    @pytest.mark.parametrize(
        ("extra", "expected"),
        [
            ("queue_chunks: abc\n", "queue_chunks (line 9): expected a whole number, got 'abc'"),
            ("queue_chunks: 1.5\n", "queue_chunks (line 9): expected a whole number, got 1.5"),
            ("queue_chunks: 0\n", "queue_chunks (line 9): must be greater than 0, got 0"),
            ("http: {enabled: maybe}\n", "http.enabled (line 9): expected true or false, got 'maybe'"),
            ("log: {level: WARN}\n", "log.level (line 9): expected 'DEBUG', 'INFO', 'WARNING', 'ERROR' or "
             "'CRITICAL', got 'WARN'; did you mean `WARNING`?"),
            ("log: [INFO]\n", "log (line 9): expected a mapping of keys, got a list"),
            ("log: {levels: []}\n", "log.levels (line 9): expected a mapping of keys, got a list"),
            ("shutdown_timeout: {s: 1}\n",
             "shutdown_timeout (line 9): expected a duration such as '10s', got a mapping"),
            ("shutdown_timeout:\n",
             "shutdown_timeout (line 9): expected a duration such as '10s', got nothing"),
            ("sinks: [{name: x, path: y}]\n",  # the second `sinks` counts, as for the loader
             "sinks[0].type (line 9): required key is missing (one of 'file', 'elasticsearch', 'postgres' "
             "or 's3')"),
        ],
    )  # fmt: skip
    def test_type_and_value_problems(self, extra: str, expected: str) -> None:
        """Wrong types and values are told in words, with what was given (a near miss gets a suggestion)."""
        assert [expected] == problems(HEAD + extra)[-1:]

    def test_unknown_key_suggests_the_close_one(self) -> None:
        """An unknown key is answered with the key of its section it is closest to."""
        text = HEAD + "    bacth: {max_events: 10}\n"
        assert ["sinks[0].bacth (line 9): unknown key; did you mean `batch`?"] == problems(text)

    def test_unknown_key_named_like_a_sink_type(self) -> None:
        """An unknown key of a sink named like a sink type is still reported at its own path."""
        text = HEAD + "    s3: {bucket: x}\n"
        assert ["sinks[0].s3 (line 9): unknown key"] == problems(text)

    def test_unknown_key_without_a_close_one(self) -> None:
        """An unknown key nothing resembles gets no suggestion."""
        assert ["zzz (line 9): unknown key"] == problems(HEAD + "zzz: 1\n")

    def test_unknown_sink_type_suggests_the_close_one(self) -> None:
        """A misspelt sink type names the types and the one meant, at the `type` key."""
        text = HEAD.replace("type: file", "type: elastic")
        assert [
            "sinks[0].type (line 7): unknown type 'elastic': expected one of 'file', 'elasticsearch', "
            "'postgres', 's3'; did you mean `elasticsearch`?"
        ] == problems(text)

    def test_missing_key(self) -> None:
        """A missing required key is reported at its own path."""
        assert ["sinks[0].path (line 6): required key is missing"] == problems(
            HEAD.replace("    path: ./out.jsonl\n", "")
        )

    def test_secret_values_are_not_repeated(self) -> None:
        """A secret of the wrong type is reported without its value."""
        text = HEAD + "pipeline:\n  redact:\n    hash_key: [s3cr3t-value]\n"
        messages = problems(text)
        assert (["pipeline.redact.hash_key (line 11): expected text, got a list"], False) == (
            messages, any("s3cr3t" in m for m in messages)
        )  # fmt: skip


class TestLiteralSecrets:
    def test_literal_password_warns_and_is_valid(self, tmp_path: Path) -> None:
        """A password written into the file is a warning on stderr naming its key and line; exit 0."""
        text = (
            HEAD + "  - name: db\n    type: postgres\n    dsn: postgresql://db/logs\n    password: hunter2\n"
        )
        result = validate(tmp_path, text)
        assert (0, [f"warning: {tmp_path / 'c.yaml'}: sinks[1].password (line 12): a secret written into the "
                    "file: give it as ${ENV_VAR} or ${file:/path} instead"]) == (
            result.returncode, result.stderr.splitlines()
        )  # fmt: skip

    def test_secret_from_the_environment_is_fine(self, tmp_path: Path) -> None:
        """A password taken from ${ENV} or ${file:...} gives no warning."""
        secret = tmp_path / "pw"
        secret.write_text("hunter2\n")
        text = HEAD + (
            "  - {name: db, type: postgres, dsn: postgresql://db/logs, password: '${PGPASSWORD}'}\n"
            f"  - {{name: db2, type: postgres, dsn: postgresql://db/logs, password: '${{file:{secret}}}'}}\n"
        )
        result = validate(tmp_path, text, env={"PATH": "/usr/bin:/bin", "PGPASSWORD": "hunter2"})
        assert (0, "") == (result.returncode, result.stderr)

    @pytest.mark.parametrize(
        ("value", "paths"),
        [("${PGPASSWORD:-hunter2}", ["sinks[1].password"]), ("${PGPASSWORD:-}", []), ("${PGPASSWORD}", [])],
    )
    def test_literal_default_of_a_secret_warns(self, value: str, paths: list[str]) -> None:
        """A secret's ${VAR:-default} with a literal default warns; the variable alone does not."""
        text = HEAD + f"  - {{name: db, type: postgres, dsn: postgresql://db/logs, password: '{value}'}}\n"
        warnings = check_config(text, env={"PGPASSWORD": "x"}).warnings
        assert paths == [warning.path for warning in warnings]

    @pytest.mark.parametrize(
        ("extra", "path", "kind"),
        [
            ("    dsn: postgresql://app:hunter2@db/logs\n", "sinks[1].dsn", "a password written into a URL"),
            ("    dsn: postgresql://app:${PGPASSWORD}@db/logs\n", None, None),
        ],
    )
    def test_password_in_a_url(self, extra: str, path: str | None, kind: str | None) -> None:
        """A password inside a URL warns, unless it is a ${VAR} reference."""
        text = HEAD + "  - name: db\n    type: postgres\n" + extra
        warnings = check_config(text, env={"PGPASSWORD": "x"}).warnings
        assert ([path] if path else [], [kind] if kind else []) == (
            [w.path for w in warnings], [w.message.split(":")[0] for w in warnings]
        )  # fmt: skip

    def test_secret_shaped_text_anywhere(self) -> None:
        """A bearer token in a webhook header is found by the redaction rules and warned about."""
        text = HEAD + (
            "alerts:\n  channels:\n    hook:\n      type: webhook\n      url: https://hooks.example.com/x\n"
            "      headers: {Authorization: Bearer abcdefghijklmnop1234}\n"
        )
        warnings = check_config(text, env={}).warnings
        assert [("alerts.channels.hook.headers.Authorization", 14)] == [(w.path, w.line) for w in warnings]

    def test_shipped_configs_have_no_literal_secrets(self) -> None:
        """The default and example configs take every secret from the environment."""
        root = Path(__file__).resolve().parents[2] / "config"
        env = {name: "x" for name in ("SLACK_WEBHOOK_URL", "PAGERDUTY_ROUTING_KEY", "SMTP_PASSWORD",
                                      "ES_API_KEY", "PGPASSWORD", "OPENSEARCH_PASSWORD")}  # fmt: skip
        files = [
            root / "default.yaml",
            root / "logflume.example.yaml",
            *sorted((root / "examples").glob("*.yaml")),
        ]
        assert {f.name: [] for f in files} == {
            f.name: check_config(f.read_text(), str(f), env).warnings for f in files
        }

    def test_run_logs_the_warning(self, tmp_path: Path, daemons: Daemons) -> None:
        """`logflume run` starts with a literal secret and logs a warning naming the key, not the secret."""
        config = write_config(tmp_path, pipeline={"redact": {"mode": "hash", "hash_key": "k3y-in-the-file"}})
        proc = daemons.start(config)

        def records() -> dict[str, dict[str, object]]:
            lines = [orjson.loads(line) for line in proc.logs().splitlines() if line.startswith("{")]
            return {str(record["message"]): record for record in lines}

        wait_for(lambda: "Daemon started" in records(), what="the daemon to start")
        warning = records()["Config file warning."]
        assert ("pipeline.redact.hash_key", False) == (warning["key"], "k3y-in-the-file" in proc.logs())
        assert 0 == proc.stop()
