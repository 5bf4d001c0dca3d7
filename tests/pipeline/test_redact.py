"""Redaction of secrets in values, keys and secret-named fields."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from logflume.events import META_KEY, Batch
from logflume.pipeline.build import build_chain
from logflume.pipeline.config import PipelineConfig
from logflume.pipeline.redact import RedactConfig, Redactor, text_scrubber
from logflume.pipeline.redact.rules import luhn_valid

OPENAI = "sk-abcdefghijklmnopqrstuvwxyz0123456789ABCD"
PROJECT = "sk-proj-Ab3dEf6hIj9lMn2pQr5tUv8xYz1_-aBcDeFgHiJ"
ANTHROPIC = "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz012345"
AWS = "AKIAIOSFODNN7EXAMPLE"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyXzEiLCJleHAiOjE3MDB9.c2lnbmF0dXJlLXZhbHVlLWhlcmU"


def redact(event: dict[str, Any], **config: Any) -> tuple[dict[str, Any], Redactor]:
    stage = Redactor(RedactConfig(**config))
    return stage(Batch([event]), 0).events[0], stage


class TestValueRules:
    @pytest.mark.parametrize(
        ("secret", "rule"),
        [
            (OPENAI, "api_key"), (PROJECT, "api_key"), (ANTHROPIC, "api_key"), (AWS, "api_key"),
            ("ASIAY34FZKBOKMUTVV7A", "api_key"), ("ghp_" + "a1B2c3D4e5" * 4, "api_key"),
            ("AIza" + "SyA-1234567890abcdefghijklmnopqrstu", "api_key"),
            ("xoxb-1234567890-abcdefghij", "api_key"),
            ("sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc", "api_key"), (JWT, "jwt"),
        ],
    )  # fmt: skip
    def test_secrets_in_text_are_replaced(self, secret: str, rule: str) -> None:
        """A secret inside a message is replaced by its rule's marker, the rest of the text kept."""
        out, stage = redact({"message": f"calling upstream with key={secret}, retrying"})
        assert (f"calling upstream with key=[REDACTED:{rule}], retrying", {rule: 1}) == (
            out["message"],
            stage.stats,
        )

    def test_bearer_keeps_the_scheme(self) -> None:
        """Only the token after 'Bearer' is replaced, in any of its usual spellings."""
        out, _ = redact(
            {
                "a": "Bearer abc.DEF-123_xyz~+/==",
                "b": "header BEARER 0123456789abcdef",
                "c": "bearer\tq1w2e3r4t5",
            }
        )
        assert out == {
            "a": "Bearer [REDACTED:bearer]",
            "b": "header BEARER [REDACTED:bearer]",
            "c": "bearer\t[REDACTED:bearer]",
        }

    def test_basic_auth_only_when_it_decodes_to_credentials(self) -> None:
        """'Basic <base64 of user:pass>' is redacted; prose such as 'Basic information' is not."""
        out, stage = redact({"h": "Basic dXNlcjpodW50ZXIy", "m": "Basic information about plans"})
        assert (
            out,
            stage.stats,
        ) == ({"h": "Basic [REDACTED:basic_auth]", "m": "Basic information about plans"}, {"basic_auth": 1})

    @pytest.mark.parametrize(
        "text",
        [
            "task-manager-processing-queue-entries",  # "sk-" inside a word
            "prompt_tokens=150 max_tokens=100",
            "trace_abcdef1234567890abcdef",
            "2024-01-15T10:30:15.123Z",
            "Chat completion request processed",
            "AKIAIOSFODNN7EXAMPLEXTRA",  # longer than an AWS key id
            "eyJnot-a-jwt",
            "user@example.com",  # e-mail rule is off by default
            "4111 1111 1111 1111",  # card rule is off by default
        ],
    )
    def test_ordinary_text_is_untouched(self, text: str) -> None:
        """Text that only resembles a secret stays as it was."""
        out, stage = redact({"message": text})
        assert ({"message": text}, {}) == (out, stage.stats)

    def test_email_when_enabled(self) -> None:
        """With the email rule on, addresses are replaced."""
        out, _ = redact({"m": "from a.b+tag@mail.example.co.uk to x@y.io."}, rules=["email"])
        assert out["m"] == "from [REDACTED:email] to [REDACTED:email]."

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("card 4111 1111 1111 1111 ok", "card [REDACTED:card] ok"),
            ("card 4111-1111-1111-1111", "card [REDACTED:card]"),
            ("pan 5500005555555559", "pan [REDACTED:card]"),
            ("order 4111111111111112", "order 4111111111111112"),  # fails Luhn
            ("id 12345678901234567890123", "id 12345678901234567890123"),  # too long
            (4111111111111111, "[REDACTED:card]"),
            (1705314615123, 1705314615123),  # a millisecond timestamp is not a card
        ],
    )
    def test_cards_when_enabled(self, value: Any, expected: Any) -> None:
        """With the card rule on, Luhn-valid 13-19 digit numbers (text or JSON numbers) are replaced."""
        out, _ = redact({"v": value}, rules=["card"])
        assert expected == out["v"]

    def test_luhn(self) -> None:
        """The Luhn check accepts valid numbers and rejects altered ones."""
        assert [
            luhn_valid("4111111111111111"), luhn_valid("378282246310005"),
            luhn_valid("4111111111111121"), luhn_valid("411111"),
        ] == [True, True, False, False]  # fmt: skip


class TestSecretsInsideStrings:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("login failed password=hunter2 for bob", "login failed password=[REDACTED:key_value] for bob"),
            ("db_password = 'hunter 2' set", "db_password = '[REDACTED:key_value]' set"),
            ("retry with api_key: abc123def", "retry with api_key: [REDACTED:key_value]"),
            ("X-Api-Key:k3y-value", "X-Api-Key:[REDACTED:key_value]"),
            ("auth_token: Bearer abc.def", "auth_token: [REDACTED:key_value]"),
            ("token: 9f8e7d6c", "token: [REDACTED:key_value]"),
            (
                'body {"user": "bob", "secret": "s3cr3t value", "n": 1}',
                'body {"user": "bob", "secret": "[REDACTED:key_value]", "n": 1}',
            ),
            ('cut {"password": "unterminat', 'cut {"password": "[REDACTED:key_value]'),
            (
                'raw {\\"client_secret\\": \\"abc\\"}',
                'raw {\\"client_secret\\": \\"[REDACTED:key_value]\\"}',
            ),
            (
                "GET /v1/chat?api_key=abcd1234&token=zz9&page=2",
                "GET /v1/chat?api_key=[REDACTED:key_value]&token=[REDACTED:key_value]&page=2",
            ),
            ("sign?X-Amz-Signature=0a1b2c3d4e", "sign?X-Amz-Signature=[REDACTED:key_value]"),
            (
                "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                "AWS_SECRET_ACCESS_KEY=[REDACTED:key_value]",
            ),
            (
                "connecting to postgres://bob:p@ss:w0rd@db.internal:5432/logs",
                "connecting to postgres://bob:[REDACTED:url_credentials]@db.internal:5432/logs",
            ),
            (f"creds {AWS} wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY ok", "creds [REDACTED:api_key] ok"),
            (f"creds {AWS}:wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "creds [REDACTED:api_key]"),
        ],
    )
    def test_forms_are_redacted(self, text: str, expected: str) -> None:
        """Key-value forms, JSON documents as strings, URL userinfo, query parameters and an AWS
        secret key after its key id lose the secret and keep the rest of the text."""
        out, _ = redact({"message": text})
        assert expected == out["message"]

    @pytest.mark.parametrize(
        "text",
        [
            "prompt_tokens=150 max_tokens=100 total_tokens=250",
            "secret_name=prod-db token_count=3",
            "Security event: authentication",
            "Auth: failed for user_000123",
            "https://example.com/a?b=1&c=2",
            "password=",
            "password=null token=none api_key=***",
            "10:30:15 stage: done",
            "mailto user@example.com",
        ],
    )
    def test_lookalikes_are_untouched(self, text: str) -> None:
        """Names that only start like a secret name, empty or placeholder values, and prose with
        colons stay as they were."""
        out, stage = redact({"message": text})
        assert ({"message": text}, {}) == (out, stage.stats)

    def test_markers_are_not_redacted_again(self) -> None:
        """A marker, in mask or hash mode, is left alone by a second pass (nothing counted)."""
        first, _ = redact(
            {"a": "token=abc123 url=https://u:pw123456@h/x", "b": f"api_key: {OPENAI}"},
            mode="hash",
            hash_key="k",
        )
        second, stage = redact(dict(first), mode="hash", hash_key="k")
        assert (first, {}) == (second, stage.stats)

    def test_text_like_a_marker_shields_nothing(self) -> None:
        """Text that merely starts like a marker does not hide the secret after it."""
        out, _ = redact({"m": '[REDACTED: {"password": "0000000a"} [REDACTED:x password=hunter2'})
        expected = '[REDACTED: {"password": "[REDACTED:key_value]"} [REDACTED:x password=[REDACTED:key_value]'
        assert expected == out["m"]


class TestFieldNames:
    @pytest.mark.parametrize(
        "key",
        ["password", "Password", "db_password", "passwd", "pwd", "secret", "client_secret", "clientSecret",
         "token", "access_token", "refreshToken", "Authorization", "Proxy-Authorization", "api_key", "apiKey",
         "X-Api-Key", "x_api_key", "aws_secret_access_key", "private_key", "credentials", "Cookie",
         "Set-Cookie", "session_id", "auth"],
    )  # fmt: skip
    def test_secret_named_fields_lose_their_value(self, key: str) -> None:
        """Fields named like secrets, in any case or separator style, get the marker as value."""
        out, stage = redact({key: "hunter2-but-longer"})
        assert ({key: "[REDACTED:secret_field]"}, {"secret_field": 1}) == (out, stage.stats)

    @pytest.mark.parametrize(
        "key",
        [
            "tokens",
            "prompt_tokens",
            "max_tokens",
            "tokens_used",
            "token_count",
            "author",
            "keyword",
            "cache_key",
        ],
    )
    def test_similar_names_are_kept(self, key: str) -> None:
        """Counters and names that only contain a secret word keep their values."""
        out, _ = redact({key: 150})
        assert {key: 150} == out

    def test_any_value_type_anywhere(self) -> None:
        """Objects, lists and numbers under a secret name are replaced whole, at any depth."""
        event = {
            "request": {"headers": [{"name": "x", "Authorization": "Basic abc"}, {"api_key": {"k": OPENAI}}]},
            "db": {"password": 123456, "user": "app"},
            "flags": {"password": None, "token": True, "secret": ""},
        }
        out, stage = redact(event)
        assert out == {
            "request": {
                "headers": [
                    {"name": "x", "Authorization": "[REDACTED:secret_field]"},
                    {"api_key": "[REDACTED:secret_field]"},
                ]
            },
            "db": {"password": "[REDACTED:secret_field]", "user": "app"},
            "flags": {"password": None, "token": True, "secret": ""},
        }
        assert stage.stats == {"secret_field": 3}

    def test_custom_field_names(self) -> None:
        """field_names replaces the default list."""
        out, _ = redact({"ssn": "123-45-6789", "password": "x"}, field_names=["^ssn$"])
        assert out == {"ssn": "[REDACTED:secret_field]", "password": "x"}


class TestKeys:
    def test_secret_in_a_key_is_replaced(self) -> None:
        """A key that itself holds a secret is renamed; its value is still scanned."""
        out, stage = redact({"keys": {OPENAI: {"note": f"Bearer {'t0ken' * 4}"}}})
        assert (
            out,
            stage.stats,
        ) == (
            {"keys": {"[REDACTED:api_key]": {"note": "Bearer [REDACTED:bearer]"}}},
            {"api_key": 1, "bearer": 1},
        )

    def test_key_both_secret_named_and_secret(self) -> None:
        """A key that holds a secret and is named like one is renamed and its value replaced."""
        out, _ = redact({f"{JWT} password": "hunter2"})
        assert out == {"[REDACTED:jwt] password": "[REDACTED:secret_field]"}

    def test_metadata_is_not_touched(self) -> None:
        """The daemon's metadata key is left alone and stays last."""
        meta = {"event_id": "sk-abcdefghijklmnopqrstuvwxyz-0", "source": "proxy"}
        out, _ = redact({"message": OPENAI, META_KEY: meta})
        assert ([("message", "[REDACTED:api_key]"), (META_KEY, meta)]) == list(out.items())

    def test_nested_metadata_name_is_scanned(self) -> None:
        """Only the top-level metadata key is exempt; the same name deeper is an ordinary field."""
        out, _ = redact({"ctx": {META_KEY: OPENAI}})
        assert out == {"ctx": {META_KEY: "[REDACTED:api_key]"}}


class TestHashMode:
    def test_keyed_hash_marker(self) -> None:
        """mode hash puts a truncated HMAC-SHA256 of the secret in the marker; equal secrets match."""
        out, _ = redact(
            {"a": OPENAI, "b": f"again {OPENAI}", "password": "pw"},
            mode="hash",
            hash_key="k3y",
            hash_length=12,
        )
        digest = hmac.new(b"k3y", OPENAI.encode(), hashlib.sha256).hexdigest()[:12]
        pw = hmac.new(b"k3y", b"pw", hashlib.sha256).hexdigest()[:12]
        assert {
            "a": f"[REDACTED:api_key:{digest}]",
            "b": f"again [REDACTED:api_key:{digest}]",
            "password": f"[REDACTED:secret_field:{pw}]",
        } == out

    def test_different_keys_give_different_markers(self) -> None:
        """The marker depends on the configured key, so it cannot be precomputed without it."""
        first, _ = redact({"a": OPENAI}, mode="hash", hash_key="one")
        second, _ = redact({"a": OPENAI}, mode="hash", hash_key="two")
        assert first["a"] != second["a"]

    def test_hash_mode_needs_a_key(self) -> None:
        """mode hash without hash_key is a validation error."""
        with pytest.raises(ValidationError, match="mode 'hash' needs a non-empty hash_key"):
            RedactConfig(mode="hash")

    def test_key_is_not_shown(self) -> None:
        """The hash key is a secret in the config too: it is not in the model's repr."""
        assert "k3y" not in repr(RedactConfig(mode="hash", hash_key="k3y"))


class TestCustomRules:
    def test_custom_pattern_with_literals(self) -> None:
        """A custom RE2 rule replaces its matches and is counted under its name."""
        out, stage = redact(
            {"m": "internal tok_abcdefghijklmnopqrstuvwx used"},
            custom=[{"name": "internal_token", "pattern": "tok_[a-z]{24}", "literals": ["tok_"]}],
        )
        assert (out["m"], stage.stats) == ("internal [REDACTED:internal_token] used", {"internal_token": 1})

    def test_custom_pattern_without_literals(self) -> None:
        """A rule without literals runs on every string."""
        out, _ = redact(
            {"m": "ssn 123-45-6789"}, rules=[], custom=[{"name": "ssn", "pattern": r"\d{3}-\d{2}-\d{4}"}]
        )
        assert out["m"] == "ssn [REDACTED:ssn]"

    @pytest.mark.parametrize(
        ("custom", "message"),
        [
            ({"name": "x", "pattern": "(a"}, "invalid regular expression '(a': missing )"),
            ({"name": "x", "pattern": "(?=a)"}, "invalid regular expression"),
            ({"name": "Bad Name", "pattern": "a"}, "String should match pattern"),
            ({"name": "jwt", "pattern": "a"}, "not built-in names: jwt"),
            ({"name": "x", "pattern": "a", "flags": "i"}, "Extra inputs are not permitted"),
        ],
    )
    def test_invalid_custom_rules_are_rejected(self, custom: dict[str, Any], message: str) -> None:
        """Bad patterns, names and unknown keys in custom rules fail validation with the reason."""
        with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
            RedactConfig(custom=[custom])

    def test_unknown_builtin_rule_is_rejected(self) -> None:
        """Only the built-in rule names are accepted in rules."""
        names = "'key_value', 'url_credentials', 'bearer', 'basic_auth', 'jwt', 'api_key', 'email' or 'card'"
        with pytest.raises(ValidationError, match=names):
            RedactConfig.model_validate({"rules": ["ssn"]})

    def test_invalid_field_name_pattern_is_rejected(self) -> None:
        """field_names entries must be valid RE2 patterns."""
        with pytest.raises(ValidationError, match="invalid regular expression"):
            RedactConfig(field_names=["(unclosed"])


class TestRobustness:
    def test_deep_nesting_does_not_recurse(self) -> None:
        """An event nested far deeper than Python's recursion limit is redacted without error."""
        event: dict[str, Any] = {"password": "x"}
        for _ in range(5000):
            event = {"a": [event]}
        Redactor(RedactConfig())(Batch([event]), 0)
        for _ in range(5000):
            event = event["a"][0]
        assert event == {"password": "[REDACTED:secret_field]"}

    def test_hostile_text_for_the_email_rule(self) -> None:
        """Long runs that would make a naive e-mail regex quadratic are handled in one pass."""
        text = "a" * 200_000 + "@" + "b" * 200_000 + " " + ".a@" * 50_000
        out, _ = redact({"m": text}, rules=["email", "card"])
        assert text == out["m"]

    def test_hostile_runs_for_the_text_forms(self) -> None:
        """Long runs of backslashes, quotes, spaces and key words pass the key-value and userinfo
        rules and the raw-line scrubber in one pass each, unchanged."""
        texts = [
            "\\" * 200_000 + 'x"',
            '"' + "\\" * 200_000,
            '\\"k' * 70_000,
            '"a"' + " " * 200_000 + ":",
            ("token" + "\\" * 100 + "x=") * 2_000,
            "a://" + "b" * 200_000 + ":" + "c" * 200_000 + "@",
        ]
        scrub = text_scrubber(RedactConfig())
        redactor = Redactor(RedactConfig())
        assert (texts, texts) == ([scrub(text) for text in texts], [redactor.scrub(text) for text in texts])

    def test_disabled_redaction_builds_no_stage(self, tmp_path: Path) -> None:
        """redact.enabled false leaves a pass-through slot."""
        chain = build_chain(PipelineConfig.model_validate({"redact": {"enabled": False}}), tmp_path)
        (stage,) = [stage for stage in chain.stages if stage.name == "redact"]
        assert type(stage).__name__ == "PassThrough"

    def test_on_by_default_in_the_chain(self, tmp_path: Path) -> None:
        """With no pipeline config at all, the chain redacts."""
        chain = build_chain(PipelineConfig(), tmp_path)
        out = chain(Batch([{"message": f"key {OPENAI}", "timestamp": "2024-01-15T10:30:15Z"}]), 0)
        assert OPENAI.encode() not in orjson.dumps(out.events)
