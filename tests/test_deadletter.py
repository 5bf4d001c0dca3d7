"""The dead-letter file's raw field: redacted by default, kept or omitted when configured."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import orjson
import pytest

from logflume.deadletter import DeadLetterFile, RawMode
from logflume.events import DeadLetter
from logflume.pipeline.redact import RedactConfig, text_scrubber

SECRET = "hunter2-Zq9"
TOKEN = "sk-abcdefghijklmnopqrstuvwxyz0123456789ABCD"


def write(tmp_path: Path, raw: RawMode, *letters: DeadLetter, **redact: Any) -> list[dict[str, Any]]:
    scrub = text_scrubber(RedactConfig(**redact)) if raw == "redacted" else None
    dead = DeadLetterFile(tmp_path / "dead.jsonl", raw=raw, scrub=scrub)
    dead.write(list(letters))
    dead.close()
    return [orjson.loads(line) for line in (tmp_path / "dead.jsonl").read_bytes().splitlines()]


def letter(raw: bytes | str, reason: str = "invalid JSON: unexpected end") -> DeadLetter:
    return DeadLetter("proxy", "/logs/app.log", 0, reason, raw)


class TestRedacted:
    def test_secrets_in_a_broken_line_are_replaced(self, tmp_path: Path) -> None:
        """A line with a syntax error keeps its text, without the secrets the rules find."""
        line = f'{{"message": "login password={SECRET}", "key": "{TOKEN}", "cut'.encode()
        (record,) = write(tmp_path, "redacted", letter(line))
        expected = '{"message": "login password=[REDACTED:key_value]", "key": "[REDACTED:api_key]", "cut'
        assert (expected, "invalid JSON: unexpected end") == (record["raw"], record["reason"])

    def test_secret_named_keys_lose_their_values(self, tmp_path: Path) -> None:
        """Values of secret-named JSON keys are replaced as the stage replaces secret fields, also
        with escaped quotes (JSON inside a string)."""
        line = f'{{"cookie": "sid={SECRET}", "doc": "{{\\"authorization\\": \\"{SECRET}\\"}}", "n": 1'
        (record,) = write(tmp_path, "redacted", letter(line))
        assert SECRET not in record["raw"]
        assert 2 == record["raw"].count("[REDACTED:secret_field]")

    def test_invalid_utf8_is_lossy_text_without_secrets(self, tmp_path: Path) -> None:
        """A line that is not UTF-8 is stored as lossy text with its secrets replaced, and says so;
        nothing in it decodes back to the secret."""
        line = b'{"message": "caf\xe9 token=' + SECRET.encode() + b'"}'
        (record,) = write(tmp_path, "redacted", letter(line, "invalid UTF-8 at byte 16"))
        expected = '{"message": "caf\ufffd token=[REDACTED:key_value]"}'
        assert (expected, "invalid UTF-8 at byte 16 (raw is lossy UTF-8 text)") == (
            record["raw"],
            record["reason"],
        )

    def test_hash_mode_markers(self, tmp_path: Path) -> None:
        """The redact config's mode applies: hash mode writes keyed markers."""
        (record,) = write(tmp_path, "redacted", letter(f"password={SECRET}"), mode="hash", hash_key="k")
        assert record["raw"].startswith("password=[REDACTED:key_value:")

    def test_needs_a_scrubber(self, tmp_path: Path) -> None:
        """Redacted mode without a scrubber is a programming error, refused at construction."""
        with pytest.raises(ValueError, match="needs a scrubber"):
            DeadLetterFile(tmp_path / "dead.jsonl", raw="redacted", scrub=None)


class TestKeepAndOmit:
    def test_keep_stores_the_line_as_read(self, tmp_path: Path) -> None:
        """keep: UTF-8 lines as text, other bytes as base64 (secrets and all: an explicit choice)."""
        latin = b'{"m": "caf\xe9 password=' + SECRET.encode() + b'"}'
        text, binary = write(
            tmp_path, "keep", letter(f"password={SECRET}".encode()), letter(latin, "invalid UTF-8 at byte 10")
        )
        assert (f"password={SECRET}", latin, "invalid UTF-8 at byte 10 (raw is base64)") == (
            text["raw"],
            base64.b64decode(binary["raw"]),
            binary["reason"],
        )

    def test_omit_stores_null(self, tmp_path: Path) -> None:
        """omit: raw is null, the rest of the record is kept."""
        (record,) = write(tmp_path, "omit", letter(f"password={SECRET}"))
        kept = (record["raw"], record["reason"], record["offset"])
        assert (None, "invalid JSON: unexpected end", 0) == kept
